"""The reference CycleGAN's options in training: each one as a factor of a tiny study, the image
pool resumed exactly, the learning rate logged per mini-epoch. (The benchmark comparing the two generator architectures:
tests/test_bench.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from interrupts import InterruptAfter

from cyclegan.core.trainer import train
from cyclegan.core.translate import load_generator
from cyclegan.spec.config import build_config
from cyclegan.spec.study import load_study

pytestmark = pytest.mark.slow



def test_each_option_as_a_factor_trains(tiny_tree, tmp_path):
    base = {**tiny_tree, "generator": {}}  # the ResNet has no encoder; the U-Net cell uses its imagenet_weights file
    base["generator"]["imagenet_weights"] = tiny_tree["generator"]["encoder_weights"]
    spec = {
        "base": base,
        "factors": {"generator.arch": ["vgg_unet", "resnet"], "train.image_pool": [0, 2],
                    "optimizer.schedule": ["constant", "linear_decay"]},
        "seeds": [0],
    }
    path = tmp_path / "reference.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    cells = load_study(path).cells
    assert len(cells) == 8 and len({c.cell_id for c in cells}) == 8
    # The first and the last cell between them build every level of every factor. The first one's
    # levels (vgg_unet, no pool, constant) are the defaults every other training test trains (its
    # constant learning rate logged: test_trainer's two-mini-epoch run), so only the last one trains here.
    first, last = cells[0].config, cells[-1].config
    assert (first.generator.arch, first.train.image_pool, first.optimizer.schedule) == ("vgg_unet", 0, "constant")
    assert (last.generator.arch, last.train.image_pool, last.optimizer.schedule) == ("resnet", 2, "linear_decay")
    result = train(last, tmp_path / cells[-1].cell_id, progress=False)
    history = pd.read_csv(result.run_dir.history_file)
    assert result.steps == 4 and history["loss/cycle"].notna().all() and history["loss/disc_monet"].notna().all()
    np.testing.assert_allclose(history["lr/generator"], [2e-4, 2e-4 * 0.5])
    np.testing.assert_allclose(history["lr/discriminator"], [2e-4, 2e-4 * 0.5])
    generator = load_generator(result.run_dir.root, "gen_photo2monet")  # the run folder: rebuilt from its stored weights
    assert generator.output_shape == (None, 32, 32, 3)


def test_a_run_with_the_image_pool_and_decay_resumes_exactly(tiny_tree, tmp_path):
    tiny_tree["train"].update(mini_epochs=3, image_pool=3)
    tiny_tree["optimizer"] = {"schedule": "linear_decay", "decay_start": 0.0}
    config = build_config(tiny_tree)
    straight = train(config, tmp_path / "straight", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", (InterruptAfter(2),), progress=False)
    resumed = train(config, tmp_path / "resumed", progress=False)
    assert resumed.resumed_from == 2 and resumed.steps == 6
    a, b = pd.read_csv(straight.run_dir.history_file), pd.read_csv(resumed.run_dir.history_file)
    np.testing.assert_allclose(b["lr/generator"], [2e-4 * 0.75, 2e-4 * 0.5, 2e-4 * 0.25])
    # The third mini-epoch's discriminator losses see the pool's stored images: the same only if
    # the pool (images, count, draws) came back from the checkpoint as it was.
    for column in ("loss/disc_monet", "loss/disc_photo", "loss/cycle"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-3, atol=1e-5, err_msg=column)

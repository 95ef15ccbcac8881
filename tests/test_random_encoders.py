"""Frozen random encoders rebuilt from the run's seed instead of stored: the draw is a pure function
of the seed, a run stores decoders only and resumes exactly, a changed draw is refused, and run
folders of earlier versions (random encoder stored whole) still resume and load."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from helpers import tiny_tree

from cyclegan.core import models
from cyclegan.core.models import encoder_of, random_encoder_seed, seeded_random_vgg16, weights_fingerprint
from cyclegan.core.runfolder.generators import load_run_generator
from cyclegan.core.runfolder.random_encoders import RandomEncoderMismatchError
from cyclegan.core.trainer import train
from cyclegan.names import GENERATORS
from cyclegan.spec.config import build_config

FULL_VGG16_BYTES = 14_714_688 * 4  # VGG16 no-top's parameters in float32: what a stored random encoder weighs


def _vgg(seed):
    return seeded_random_vgg16(keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3)), seed)


def test_the_random_draw_is_a_pure_function_of_its_seed_with_keras_initial_distribution():
    keras.utils.set_random_seed(1)
    first = _vgg(7)
    keras.utils.set_random_seed(2)  # another global state: it must not matter
    assert weights_fingerprint(_vgg(7)) == weights_fingerprint(first)
    assert weights_fingerprint(_vgg(8)) != weights_fingerprint(first)
    kernel, bias = first.get_layer("block3_conv2").get_weights()  # 3x3x256x256
    limit = np.sqrt(6 / (9 * (256 + 256)))
    assert abs(kernel.min() + limit) < 1e-3 * limit and abs(kernel.max() - limit) < 1e-3 * limit
    assert kernel.std() == pytest.approx(limit / np.sqrt(3), rel=0.01)  # uniform(-l, l): std l/sqrt(3)
    assert not bias.any()
    seeds = {random_encoder_seed(s, g) for s in (0, 1) for g in GENERATORS}
    assert len(seeds) == 4  # G and F of one run, and the same generator across seeds, all differ


@pytest.fixture(scope="module")
def random_tree(tiny_data):
    return tiny_tree(tiny_data, "random", seed=5)


def _config(tree, mini_epochs):
    return build_config({**tree, "train": {**tree["train"], "mini_epochs": mini_epochs}})


@pytest.fixture(scope="module")
def straight(random_tree, tmp_path_factory):
    keras.config.set_dtype_policy("float32")
    return train(_config(random_tree, 2), tmp_path_factory.mktemp("random") / "straight", progress=False)


def _outputs(run_dir, name):
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    return load_run_generator(run_dir, name)(images).numpy()


@pytest.mark.slow
def test_a_random_encoder_run_stores_decoders_only_and_resumes_exactly(random_tree, straight, tmp_path):
    run = straight.run_dir
    recorded = json.loads(run.random_encoders_file.read_text())
    assert sorted(recorded) == sorted(GENERATORS) and recorded[GENERATORS[0]] != recorded[GENERATORS[1]]
    for name in GENERATORS:
        assert run.generator_weights(name).stat().st_size < FULL_VGG16_BYTES / 2  # a decoder, not VGG16 + decoder
    shapes = [shape for _, shape in tf.train.list_variables(str(run.checkpoints / "ckpt-4"))]
    assert [3, 3, 3, 64] not in shapes and [3, 3, 512, 512] not in shapes and [3, 3, 512, 256] in shapes

    resumed_dir = tmp_path / "resumed"
    train(_config(random_tree, 1), resumed_dir, progress=False)
    resumed = train(_config(random_tree, 2), resumed_dir, progress=False)  # extended: the encoders rebuilt from the seed
    assert (resumed.resumed_from, resumed.steps) == (1, 4)
    a, b = pd.read_csv(run.history_file), pd.read_csv(resumed_dir / "history.csv")
    for column in ("loss/cycle", "loss/gen_g", "loss/disc_monet", "eval/grid_score"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-4, atol=1e-6, err_msg=column)
    for name in GENERATORS:  # the stored decoders with their rebuilt encoders translate as the straight run's
        np.testing.assert_allclose(_outputs(resumed_dir, name), _outputs(run.root, name), atol=1e-4)


@pytest.mark.slow
def test_a_rebuilt_encoder_that_differs_from_the_trained_one_is_refused(random_tree, straight, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(straight.run_dir.root, copy)
    record = copy / "random_encoders.json"
    fingerprints = json.loads(record.read_text())
    fingerprints[GENERATORS[1]] = "0" * 64
    record.write_text(json.dumps(fingerprints))
    with pytest.raises(RandomEncoderMismatchError, match=f"random_encoders.json.*{GENERATORS[1]}.*train.seed=5"):
        load_run_generator(copy, GENERATORS[1])
    with pytest.raises(RandomEncoderMismatchError, match="--restart"):
        train(_config(random_tree, 3), copy, progress=False)
    assert len(pd.read_csv(copy / "history.csv")) == 2  # nothing lost


@pytest.mark.slow
def test_a_run_folder_of_an_earlier_version_keeps_its_stored_random_encoders(random_tree, tmp_path, monkeypatch):
    """Earlier versions drew random encoders from Keras' global generator and stored them whole,
    with no fingerprint file: such a folder resumes and loads with its own encoders, not seeded ones."""
    legacy = tmp_path / "legacy"
    with monkeypatch.context() as old_version:
        old_version.setattr(models, "seeded_random_vgg16", lambda vgg, seed: vgg)
        old_version.setattr("cyclegan.core.trainer.encoder_left_out", lambda *a, **k: False)
        old_version.setattr("cyclegan.core.runfolder.generators.encoder_left_out", lambda *a, **k: False)
        train(_config(random_tree, 1), legacy, progress=False)
        old = {name: _outputs(legacy, name) for name in GENERATORS}
    assert not (legacy / "random_encoders.json").exists()
    for name in GENERATORS:
        assert (legacy / "models" / f"{name}.weights.h5").stat().st_size > FULL_VGG16_BYTES  # stored whole
        np.testing.assert_allclose(_outputs(legacy, name), old[name], atol=1e-6)  # loaded whole by this version

    resumed = train(_config(random_tree, 2), legacy, progress=False)
    assert (resumed.resumed_from, resumed.steps) == (1, 4)
    assert not (legacy / "random_encoders.json").exists()  # the folder keeps its layout to the end
    stored = load_run_generator(legacy, GENERATORS[0])
    seeded = models.build_generator(_config(random_tree, 2).generator, 32, GENERATORS[0], seed=5)
    assert weights_fingerprint(encoder_of(stored)) != weights_fingerprint(encoder_of(seeded))  # its own encoder was resumed

"""The reference CycleGAN's options (issue 17): the learning-rate schedule, the image pool, the
ResNet generator, their config rules, and that adding them keeps every existing cell id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from cyclegan.core.image_pool import ImagePool
from cyclegan.core.schedule import learning_rates, lr_factor
from cyclegan.spec.config import ConfigError, GeneratorConfig, OptimizerConfig, build_config
from cyclegan.spec.identity import identity, identity_digest
from cyclegan.spec.study import load_study

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"

# -- schedule -----------------------------------------------------------------------------------


def test_constant_schedule_is_one_everywhere():
    assert [lr_factor(m, 4, "constant", 0.5) for m in range(1, 5)] == [1.0] * 4


def test_linear_decay_holds_then_falls_by_equal_steps_towards_zero():
    # 10 mini-epochs, decay after half: 5 at the full rate, then 1 - k/6 for k = 1..5.
    factors = [lr_factor(m, 10, "linear_decay", 0.5) for m in range(1, 11)]
    np.testing.assert_allclose(factors, [1, 1, 1, 1, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    # decay_start 0: every mini-epoch decays; the last still trains (Zhu et al.'s +1).
    np.testing.assert_allclose([lr_factor(m, 4, "linear_decay", 0.0) for m in range(1, 5)], [0.8, 0.6, 0.4, 0.2])
    assert learning_rates(OptimizerConfig(schedule="linear_decay", lr_generator=2e-4, lr_discriminator=1e-4), 8, 10) == \
        pytest.approx((2e-4 * 3 / 6, 1e-4 * 3 / 6))
    with pytest.raises(ValueError, match="mini_epoch must be in 1..10"):
        lr_factor(0, 10, "linear_decay", 0.5)


# -- image pool ---------------------------------------------------------------------------------


def _images(values, size: int = 4) -> tf.Tensor:
    """One constant image per value: an image's identity is its pixel value."""
    return tf.constant(np.stack([np.full((size, size, 3), v, np.float32) for v in values]))


def _ids(batch: tf.Tensor) -> list[int]:
    return [int(round(float(v))) for v in batch.numpy()[:, 0, 0, 0]]


def _feed(pool: ImagePool, start: int, batches: int, batch: int = 2) -> list[int]:
    returned = []
    for b in range(batches):
        returned += _ids(pool(_images(range(start + b * batch, start + (b + 1) * batch))))
    return returned


def test_pool_fills_first_then_swaps_half_the_time_and_never_duplicates():
    pool = ImagePool(capacity=4, image_size=4, seed=7, domain=0)
    assert _feed(pool, 1, 2) == [1, 2, 3, 4]  # filling: each image is stored and returned
    assert int(pool.count.numpy()) == 4 and sorted(_ids(pool.images)) == [1, 2, 3, 4]
    returned = _feed(pool, 5, 200)  # images 5..404
    stored_now = _ids(pool.images)
    swapped = [r for i, r in enumerate(returned) if r != 5 + i]
    # Each image is returned at most once after the pool filled, and then no longer stored; every
    # image ever seen is either returned that way or still stored; an old image comes back only
    # after it was seen.
    assert len(set(returned)) == len(returned) == 400 and not set(returned) & set(stored_now)
    assert set(returned) | set(stored_now) == set(range(1, 405))
    assert all(r < 5 + i for i, r in enumerate(returned) if r != 5 + i)
    assert 0.4 < len(swapped) / len(returned) < 0.6, len(swapped)
    assert int(pool.count.numpy()) == 4 and int(pool.seen.numpy()) == 404


def test_pool_sequence_is_a_function_of_seed_and_domain():
    def run(seed, domain):
        return _feed(ImagePool(capacity=3, image_size=4, seed=seed, domain=domain), 1, 30)

    assert run(5, 0) == run(5, 0)
    assert run(5, 0) != run(6, 0) and run(5, 0) != run(5, 1)


def test_pool_of_capacity_zero_is_the_identity():
    pool = ImagePool(capacity=0, image_size=4, seed=0, domain=0)
    batch = _images([3, 9])
    assert pool(batch) is batch


def test_pool_resumes_exactly_from_a_checkpoint_and_runs_compiled(tmp_path):
    straight = ImagePool(capacity=3, image_size=4, seed=2, domain=1)
    expected = _feed(straight, 1, 20)

    first = ImagePool(capacity=3, image_size=4, seed=2, domain=1)
    head = _feed(first, 1, 8)
    path = tf.train.Checkpoint(pool=first).save(str(tmp_path / "pool"))
    resumed = ImagePool(capacity=3, image_size=4, seed=2, domain=1)
    tf.train.Checkpoint(pool=resumed).restore(path).assert_consumed()
    compiled = tf.function(resumed.__call__)  # the same draws inside a tf.function, as in the train step
    tail = []
    for b in range(8, 20):
        tail += _ids(compiled(_images(range(1 + 2 * b, 3 + 2 * b))))
    assert head + tail == expected


# -- ResNet generator and its config ------------------------------------------------------------


def test_resnet_generator_shapes_range_and_parameter_count():
    from cyclegan.core.models import build_generators, encoder_is_shareable

    config = GeneratorConfig(arch="resnet")
    assert config.residual_blocks(256) == 9 and config.residual_blocks(128) == 6 and config.residual_blocks(64) == 6
    assert not encoder_is_shareable(config)
    gen_g, gen_f = build_generators(GeneratorConfig(arch="resnet", norm="none"), 256)
    # The reference's 11,378,179 (pytorch-CycleGAN-and-pix2pix resnet_9blocks, instance norm without affine).
    assert gen_g.count_params() == 11_378_179
    gen_g, _ = build_generators(config, 256)
    # Plus gamma and beta of the 23 instance norms (this project's norm is affine, as in the VGG decoder).
    assert gen_g.count_params() == 11_378_179 + 2 * (64 + 128 + 256 + 9 * 2 * 256 + 128 + 64) == 11_388_675
    assert sum("_add" in layer.name for layer in gen_g.layers) == 9
    small, _ = build_generators(GeneratorConfig(arch="resnet", upsample="resize_conv"), 64)
    assert sum("_add" in layer.name for layer in small.layers) == 6
    out = small(tf.random.uniform((2, 64, 64, 3))).numpy()
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.float32 and 0 <= out.min() <= out.max() <= 1


@pytest.mark.parametrize(("generator", "fragment"), [
    # encoder_weights / encoder_trainable with arch=resnet are ignored, not refused: tests/test_hardening.py
    ({"resnet_blocks": 6}, "generator.resnet_blocks=6 applies only to generator.arch=resnet"),
    ({"arch": "resnet", "resnet_blocks": 0}, "generator.resnet_blocks"),
    ({"arch": "resnets"}, "generator.arch"),
])
def test_resnet_config_mistakes_name_the_key(generator, fragment):
    with pytest.raises(ConfigError, match="generator") as err:
        build_config({"generator": generator}, source="run.yaml")
    assert fragment in str(err.value) and "run.yaml" in str(err.value)


def test_new_options_reject_bad_values_naming_the_key():
    for tree, key in [({"train": {"image_pool": -1}}, "train.image_pool"), ({"optimizer": {"schedule": "cosine"}}, "optimizer.schedule"),
                      ({"optimizer": {"decay_start": 1.0}}, "optimizer.decay_start")]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            build_config(tree, source="run.yaml")


# -- identity -----------------------------------------------------------------------------------

# Recorded from main before these keys existed (data.root pointed at a folder that does not exist,
# no ImageNet weights file): the new keys at their defaults must leave them as they were.
QUICK_CELL_IDS_BEFORE = [
    "encoder_weights=imagenet-norm=instance-output=patch-seed=0-0b8374d0", "encoder_weights=imagenet-norm=instance-output=patch-seed=1-88eeb678",
    "encoder_weights=imagenet-norm=instance-output=scalar-seed=0-a520ecc3", "encoder_weights=imagenet-norm=instance-output=scalar-seed=1-39628dd4",
    "encoder_weights=imagenet-norm=none-output=patch-seed=0-1038c1d2", "encoder_weights=imagenet-norm=none-output=patch-seed=1-67288169",
    "encoder_weights=imagenet-norm=none-output=scalar-seed=0-a3c02834", "encoder_weights=imagenet-norm=none-output=scalar-seed=1-bc77622b",
    "encoder_weights=random-norm=instance-output=patch-seed=0-f72ca277", "encoder_weights=random-norm=instance-output=patch-seed=1-0fec6656",
    "encoder_weights=random-norm=instance-output=scalar-seed=0-3b6719ea", "encoder_weights=random-norm=instance-output=scalar-seed=1-52662b01",
    "encoder_weights=random-norm=none-output=patch-seed=0-f2b8801c", "encoder_weights=random-norm=none-output=patch-seed=1-5614c49c",
    "encoder_weights=random-norm=none-output=scalar-seed=0-b1a8f063", "encoder_weights=random-norm=none-output=scalar-seed=1-de500520",
]
_NO_DATA = "data.root=/nonexistent-cyclegan-data"


def test_the_quick_study_keeps_its_cell_ids():
    assert [c.cell_id for c in load_study(EXPERIMENTS / "quick.yaml", [_NO_DATA]).cells] == QUICK_CELL_IDS_BEFORE


@pytest.mark.parametrize("override", ["train.image_pool=50", "optimizer.schedule=linear_decay",
                                      "optimizer.schedule=linear_decay optimizer.decay_start=0.25",
                                      "generator.arch=resnet", "generator.arch=resnet generator.resnet_blocks=9"])
def test_a_new_key_away_from_its_default_is_part_of_the_identity(override):
    path = EXPERIMENTS / "upsample.yaml"  # norm x upsample: both apply to either generator
    before = [c.cell_id for c in load_study(path, [_NO_DATA]).cells]
    after = [c.cell_id for c in load_study(path, [_NO_DATA, *override.split()]).cells]
    assert len(set(after)) == len(before) and not set(before) & set(after)


def test_decay_start_without_a_decay_is_not_part_of_the_identity():
    path = EXPERIMENTS / "upsample.yaml"
    before = [c.cell_id for c in load_study(path, [_NO_DATA]).cells]
    assert [c.cell_id for c in load_study(path, [_NO_DATA, "optimizer.decay_start=0.25"]).cells] == before
    decayed = [c.cell_id for c in load_study(path, [_NO_DATA, "optimizer.schedule=linear_decay"]).cells]
    later = [c.cell_id for c in load_study(path, [_NO_DATA, "optimizer.schedule=linear_decay", "optimizer.decay_start=0.25"]).cells]
    assert not set(decayed) & set(later)


def test_a_resnet_cell_ignores_the_vgg_encoder_settings():
    config = build_config({"generator": {"arch": "resnet"}, "data": {"root": "/nonexistent-cyclegan-data"}})
    keys = identity(config)
    assert keys["generator.arch"] == "resnet" and "generator.encoder_weights" not in keys
    assert "generator.imagenet_weights_sha1" not in keys and "generator.encoder_trainable" not in keys
    other_file = build_config({"generator": {"arch": "resnet", "imagenet_weights": "/elsewhere.h5"},
                               "data": {"root": "/nonexistent-cyclegan-data"}})
    assert identity_digest(other_file) == identity_digest(config)

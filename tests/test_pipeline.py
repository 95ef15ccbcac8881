"""tf.data pipeline: ranges and shapes, unpaired sampling, and a data order that survives resume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from cyclegan.core.pipeline import decode_image, load_images, prepare_split, steps_per_mini_epoch, training_dataset
from cyclegan.spec.config import build_config


def _batches(config, split, start_step, count):
    dataset = training_dataset(split, config.data, config.train, start_step=start_step)
    return [(p.numpy(), m.numpy()) for p, m in itertools.islice(dataset, count)]


def test_batches_have_the_configured_shape_and_range(tiny_config):
    split = prepare_split(tiny_config.data, tiny_config.train.batch_size)
    assert {len(v) for v in split.holdout.values()} == {4}
    photo, monet = _batches(tiny_config, split, 0, 1)[0]
    assert photo.shape == monet.shape == (1, 32, 32, 3)
    assert photo.dtype == np.float32 and 0.0 <= photo.min() and photo.max() <= 1.0
    assert photo.max() - photo.min() > 0.1  # an image, not a constant


def test_the_pipeline_runs_no_autotuning_model_thread(tiny_config):
    # Its model thread held the end of quick-study cells for 4-35 s (pipeline.PREFETCH_BATCHES).
    split = prepare_split(tiny_config.data, tiny_config.train.batch_size)
    dataset = training_dataset(split, tiny_config.data, tiny_config.train, start_step=0)
    assert dataset.options().autotune.enabled is False
    assert dataset.options().deterministic is True


def test_resume_sees_the_same_batches(tiny_tree):
    tiny_tree["train"]["batch_size"] = 2
    tiny_tree["data"]["random_crop"] = True
    config = build_config(tiny_tree)
    split = prepare_split(config.data, config.train.batch_size)
    straight = _batches(config, split, 0, 7)
    resumed = _batches(config, split, 4, 3)
    for (p1, m1), (p2, m2) in zip(straight[4:], resumed, strict=True):
        np.testing.assert_array_equal(p1, p2)
        np.testing.assert_array_equal(m1, m2)


def test_every_image_once_per_epoch_and_order_depends_on_seed(tiny_tree):
    tiny_tree["data"]["flip"] = False
    config = build_config(tiny_tree)
    split = prepare_split(config.data, 1)
    n_photo = len(split.train["photo"])
    epoch = [p[0] for p, _ in _batches(config, split, 0, n_photo)]
    reference = load_images(split.train["photo"], 32)
    # Each training photo appears exactly once in the first epoch (a permutation, not sampling with replacement).
    matches = [int(np.argmin([np.abs(img - ref).mean() for ref in reference])) for img in epoch]
    assert sorted(matches) == list(range(n_photo))
    tiny_tree["train"]["seed"] = 99
    other = build_config(tiny_tree)
    other_epoch = [p[0] for p, _ in _batches(other, split, 0, n_photo)]
    assert any(np.abs(a - b).mean() > 1e-3 for a, b in zip(epoch, other_epoch, strict=True))


def test_decode_converts_modes_and_sizes(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "deep.png")
    Image.fromarray(rgb).save(tmp_path / "plain.png")
    images = load_images(sorted(tmp_path.iterdir()), 32)
    assert images.shape == (5, 32, 32, 3) and images.min() >= 0 and images.max() <= 1
    by_name = dict(zip(sorted(p.name for p in tmp_path.iterdir()), images, strict=True))
    plain = by_name["plain.png"]
    # CMYK comes out as the same colours as the RGB original, not inverted.
    assert np.abs(by_name["cmyk.jpg"] - plain).mean() < 0.06
    assert np.abs(by_name["rgba.png"] - plain).max() < 1e-6
    gray = by_name["gray.png"]
    assert np.allclose(gray[..., 0], gray[..., 1])
    # 16-bit red channel scaled to 8 bits: equal to the red channel of the original.
    assert np.abs(by_name["deep.png"][..., 0] - plain[..., 0]).mean() < 0.01


def test_undecodable_file_is_named(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_text("nope")
    with pytest.raises(ValueError, match="bad.png"):
        load_images([tmp_path / "ok.png", tmp_path / "bad.png"], 8)
    assert decode_image(str(tmp_path / "ok.png"), 8).shape == (8, 8, 3)


def test_batch_larger_than_data_and_holdout_too_large(tiny_tree):
    tiny_tree["train"]["batch_size"] = 50
    with pytest.raises(ValueError, match="train.batch_size=50 is larger than the"):
        config = build_config(tiny_tree)
        prepare_split(config.data, config.train.batch_size)
    tiny_tree["train"]["batch_size"] = 1
    tiny_tree["data"]["holdout"] = 10
    config = build_config(tiny_tree)
    with pytest.raises(ValueError, match="data.holdout=10 must leave some for training"):
        prepare_split(config.data, 1)


def test_mini_epoch_length(tiny_tree):
    tiny_tree["train"]["steps_per_mini_epoch"] = None
    tiny_tree["train"]["mini_epoch_fraction"] = 0.5
    config = build_config(tiny_tree)
    split = prepare_split(config.data, 1)
    # 12 photos - 4 held out = 8 is the larger domain: half an epoch is 4 steps.
    assert steps_per_mini_epoch(split, config.train) == 4


def test_each_random_op_of_each_sample_draws_from_a_key_of_its_own(tiny_config, monkeypatch):
    """Crop and flip keys made by adding to the sample's key ([s, i] + 1) were another stream's:
    monet's flip of sample i was photo's crop of sample i + 1. Stream keys s = 2 seed + domain."""
    import tensorflow as tf

    import cyclegan.core.pipeline as pipeline

    keys = []

    def recording(op):
        def record(image, *args, seed):
            keys.append((op, tuple(int(k) for k in tf.convert_to_tensor(seed).numpy())))
            return image if op == "flip" else image[: args[0][0], : args[0][1]]
        return record

    monkeypatch.setattr(tf.image, "stateless_random_crop", recording("crop"))
    monkeypatch.setattr(tf.image, "stateless_random_flip_left_right", recording("flip"))
    data = tiny_config.data.model_copy(update={"random_crop": True, "flip": True})
    image = tf.zeros((data.image_size, data.image_size, 3))
    for stream, sample in itertools.product(range(4), range(4)):
        pipeline._augment(image, tf.constant([stream, sample], tf.int64), data)
    assert len(keys) == 32 and len({key for _, key in keys}) == 32, keys
    shuffles = {(stream, epoch) for stream, epoch in itertools.product(range(4), range(4))}
    assert not shuffles & {key for _, key in keys}  # nor the shuffle's key of an epoch

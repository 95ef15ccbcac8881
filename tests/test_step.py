"""The compiled train step: what moves, what stays frozen, and fused == plain."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cyclegan.core.step import build_networks, build_optimizers, make_train_step
from cyclegan.names import STEP_METRICS
from cyclegan.spec.config import build_config


def _batch(seed: int, batch: int = 2, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, size, size, 3), dtype=np.float32)


def _setup(tree: dict, **train):
    tree = {**tree, "train": {**tree["train"], **train}}
    config = build_config(tree)
    keras.utils.set_random_seed(config.train.seed)
    nets = build_networks(config)
    opts = build_optimizers(config, nets)
    return config, nets, make_train_step(config, nets, opts)


def test_step_returns_named_scalars_and_moves_only_trainable_parts(tiny_tree):
    _, nets, step = _setup(tiny_tree)
    encoder = nets.gen_g.get_layer("shared_encoder")
    decoder = nets.gen_g.get_layer("gen_photo2monet_decoder")
    before_enc = [w.numpy().copy() for w in encoder.weights]
    before_dec = [w.numpy().copy() for w in decoder.trainable_weights]
    before_disc = [w.numpy().copy() for w in nets.disc_monet.trainable_weights]
    out = step(_batch(0), _batch(1))
    assert set(out) == set(STEP_METRICS)
    assert all(np.isfinite(float(v)) for v in out.values())
    assert 0.0 <= float(out["acc/d_monet_real"]) <= 1.0
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before_enc, encoder.weights, strict=True))
    assert sum(not np.array_equal(b, w.numpy()) for b, w in zip(before_dec, decoder.trainable_weights, strict=True)) > len(before_dec) // 2
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before_disc, nets.disc_monet.trainable_weights, strict=True))


def test_trainable_encoder_moves(tiny_tree):
    tiny_tree = {**tiny_tree, "generator": {**tiny_tree["generator"], "encoder_trainable": True}}
    _, nets, step = _setup(tiny_tree)
    vgg_kernel = nets.gen_g.get_layer("gen_photo2monet_encoder").get_layer("vgg16_features").get_layer("block1_conv1").kernel
    before = vgg_kernel.numpy().copy()
    step(_batch(0), _batch(1))
    assert not np.array_equal(before, vgg_kernel.numpy())


@pytest.mark.parametrize(
    ("weights", "plain_settings"),
    [
        ("file", {"fused_generator_calls": False}),
        ("random", {"fused_generator_calls": False}),  # two encoders: batched calls, nothing shared
        ("file", {"fused_instance_norm": False}),
        ("file", {"fused_generator_calls": False, "fused_instance_norm": False}),  # the original's step
    ],
    ids=["six-calls", "six-calls-random-encoders", "keras-norm", "original-step"],
)
def test_fused_step_equals_plain_step(tiny_tree, weights, plain_settings):
    if weights == "random":
        tiny_tree = {**tiny_tree, "generator": {**tiny_tree["generator"], "encoder_weights": "random"}}
    photo, monet = _batch(5), _batch(6)
    _, plain_nets, plain = _setup(tiny_tree, **plain_settings)
    _, fused_nets, fused = _setup(tiny_tree, fused_generator_calls=True, fused_instance_norm=True)
    for a, b in zip(plain_nets.gen_g.weights, fused_nets.gen_g.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # same seed, same initial weights
    for _ in range(2):  # the second step also compares the updated weights' losses
        expected = {k: float(v) for k, v in plain(photo, monet).items()}
        got = {k: float(v) for k, v in fused(photo, monet).items()}
        for key in STEP_METRICS:
            assert got[key] == pytest.approx(expected[key], rel=2e-4, abs=1e-5), key

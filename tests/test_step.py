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
    opts = build_optimizers(config, nets, config.train.precision)
    return config, nets, make_train_step(config, nets, opts)


def _two_steps(tree: dict, photo: np.ndarray, monet: np.ndarray, **train) -> tuple[list[dict[str, float]], list[np.ndarray]]:
    """Two steps of the step ``train`` selects on one batch pair: each step's losses, and the
    generator's initial weights."""
    _, nets, step = _setup(tree, **train)
    initial = [w.numpy().copy() for w in nets.gen_g.weights]
    return [{k: float(v) for k, v in step(photo, monet).items()} for _ in range(2)], initial


PHOTO, MONET = _batch(5), _batch(6)


@pytest.fixture(scope="module")
def default_step(tiny_data, vgg_weights_file):
    """The default (fused) step with the file encoder, traced once for this file: its two steps'
    losses, and which weights of each part its first step moved."""
    from helpers import tiny_tree

    _, nets, step = _setup(tiny_tree(tiny_data, vgg_weights_file))
    parts = {"encoder": nets.gen_g.get_layer("shared_encoder").weights,
             "decoder": nets.gen_g.get_layer("gen_photo2monet_decoder").trainable_weights,
             "discriminator": nets.disc_monet.trainable_weights}
    before = {name: [w.numpy().copy() for w in weights] for name, weights in parts.items()}
    initial = [w.numpy().copy() for w in nets.gen_g.weights]
    first = step(PHOTO, MONET)
    moved = {name: [not np.array_equal(b, w.numpy()) for b, w in zip(before[name], weights, strict=True)]
             for name, weights in parts.items()}
    losses = [{k: float(v) for k, v in first.items()}, {k: float(v) for k, v in step(PHOTO, MONET).items()}]
    return {"losses": losses, "moved": moved, "initial_gen_g": initial}


def test_step_returns_named_scalars_and_moves_only_trainable_parts(default_step):
    out, moved = default_step["losses"][0], default_step["moved"]
    assert set(out) == set(STEP_METRICS)
    assert all(np.isfinite(v) for v in out.values())
    assert 0.0 <= out["acc/d_monet_real"] <= 1.0
    assert moved["encoder"] and not any(moved["encoder"])
    assert sum(moved["decoder"]) > len(moved["decoder"]) // 2
    assert any(moved["discriminator"])


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
        ("file", {"fused_generator_calls": False, "fused_instance_norm": False}),  # the original's step
    ],
    ids=["six-calls", "six-calls-random-encoders", "original-step"],
)
# Keras' instance norm alone in the fused step: the kernels' equality is tests/test_models.py's (outputs
# and gradients on each code path), and a run switched between them mid-way ends where a straight run
# does (tests/test_trainer.py); with both off this is the original's step above.
def test_fused_step_equals_plain_step(tiny_tree, default_step, weights, plain_settings):
    if weights == "random":
        tiny_tree = {**tiny_tree, "generator": {**tiny_tree["generator"], "encoder_weights": "random"}}
        fused_losses, _ = _two_steps(tiny_tree, PHOTO, MONET, fused_generator_calls=True, fused_instance_norm=True)
    else:  # the default step is the fused one
        fused_losses = default_step["losses"]
    plain_losses, plain_initial = _two_steps(tiny_tree, PHOTO, MONET, **plain_settings)
    if weights == "file":
        for a, b in zip(plain_initial, default_step["initial_gen_g"], strict=True):
            np.testing.assert_array_equal(a, b)  # same seed, same initial weights
    for step, (expected, got) in enumerate(zip(plain_losses, fused_losses, strict=True)):  # the second step compares the updated weights' losses
        for key in STEP_METRICS:
            assert got[key] == pytest.approx(expected[key], rel=2e-4, abs=1e-5), f"step {step + 1}: {key}"

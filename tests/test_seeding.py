"""Runs are seeded without ``tf.random.set_seed`` (it clears a kept step's kernels): the initial
weights are still those ``keras.utils.set_random_seed`` draws, and nothing a run's step computes
draws from TensorFlow's global generator."""

from __future__ import annotations

import copy

import keras
import numpy as np
import tensorflow as tf

from cyclegan.core.image_pool import ImagePools
from cyclegan.core.seeding import seed_weights, stateful_random_ops
from cyclegan.core.step import build_networks, build_optimizers, build_pools, make_train_step
from cyclegan.spec.config import build_config


def _weights(config, seeding) -> list[np.ndarray]:
    seeding(config.train.seed)
    nets = build_networks(config)
    return [w.numpy() for net in (nets.gen_g, nets.gen_f, nets.disc_monet, nets.disc_photo) for w in net.weights]


def test_seeding_draws_the_initial_weights_that_keras_set_random_seed_draws(tiny_tree):
    tree = copy.deepcopy(tiny_tree)
    tree["generator"]["encoder_weights"] = "random"  # the frozen encoder is drawn too
    config = build_config(tree, source="tiny")
    ours, keras_seeded = _weights(config, seed_weights), _weights(config, keras.utils.set_random_seed)
    assert len(ours) == len(keras_seeded) > 0
    for a, b in zip(ours, keras_seeded, strict=True):
        np.testing.assert_array_equal(a, b)
    other = build_config({**tree, "train": {**tree["train"], "seed": tree["train"]["seed"] + 1}}, source="tiny")
    assert not all(np.array_equal(a, b) for a, b in zip(ours, _weights(other, seed_weights), strict=True))


def test_the_train_step_holds_no_stateful_random_op(tiny_tree):
    tree = copy.deepcopy(tiny_tree)
    tree["train"]["image_pool"] = 2  # the pool draws at random inside the step
    config = build_config(tree, source="tiny")
    seed_weights(config.train.seed)
    nets = build_networks(config)
    pools = build_pools(config)
    step = make_train_step(config, nets, build_optimizers(config, nets, config.train.precision), pools)
    size, batch = config.data.image_size, config.train.batch_size
    spec = tf.TensorSpec((batch, size, size, 3), tf.float32)
    graph = step.get_concrete_function(spec, spec).graph.as_graph_def()
    assert isinstance(pools, ImagePools) and pools.capacity == 2
    assert len(graph.node) > 100
    assert stateful_random_ops(graph) == []


def test_the_check_finds_a_stateful_random_op():
    @tf.function
    def noisy(x):
        return x + tf.random.uniform(tf.shape(x))

    found = stateful_random_ops(noisy.get_concrete_function(tf.TensorSpec((2,), tf.float32)).graph.as_graph_def())
    assert len(found) == 1 and "RandomUniform" in found[0]

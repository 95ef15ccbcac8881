"""FusedAdam (cyclegan.core.adam) is Keras' Adam on one fused kernel per variable: the same updates
step by step, the same checkpoints both ways; and what it trained is freed with the model."""

from __future__ import annotations

import gc

import keras
import numpy as np
import psutil
import pytest
import tensorflow as tf

from cyclegan.core.adam import FusedAdam

SHAPES = [(3, 3, 4, 8), (8,), (5, 2)]


def _variables(seed: int) -> list[keras.Variable]:
    rng = np.random.default_rng(seed)
    return [keras.Variable(rng.normal(size=shape).astype("float32"), name=f"w{i}") for i, shape in enumerate(SHAPES)]


def _train(optimizer: keras.optimizers.Optimizer, variables: list[keras.Variable], steps: int) -> None:
    """``steps`` updates inside one traced function, as the train step runs them, with the learning rate
    changed between calls as the trainer's schedule does; gradients of very different scales."""
    optimizer.build(variables)
    apply = tf.function(lambda grads: optimizer.apply(grads, variables), autograph=False)
    rng = np.random.default_rng(7)
    for step in range(steps):
        optimizer.learning_rate.assign(2e-3 / (step + 1))
        apply([tf.constant(rng.normal(scale=10.0 ** (i - 2), size=v.shape).astype("float32")) for i, v in enumerate(variables)])


def test_fused_updates_equal_keras_adam_step_by_step():
    initial, reference, fused = _variables(0), _variables(0), _variables(0)
    keras_adam = keras.optimizers.Adam(learning_rate=2e-3, beta_1=0.5)
    fused_adam = FusedAdam(learning_rate=2e-3, beta_1=0.5)
    _train(keras_adam, reference, 6)
    _train(fused_adam, fused, 6)
    assert int(fused_adam.iterations.numpy()) == 6
    for start, a, b in zip(initial, reference, fused, strict=True):
        assert np.abs(a.numpy() - start.numpy()).max() > 1e-3  # the updates did something, so equality below is not two untouched copies
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-7)
    # The kernel takes 1 - beta_2 in float32 (1 - float32(0.999) = 0.00099998713), Keras in Python
    # floats (0.001): the velocities accumulate at rates 1.3e-5 apart, relatively; nothing else differs.
    for a, b in zip(keras_adam.variables, fused_adam.variables, strict=True):
        assert a.name == b.name
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=2e-5, atol=1e-9, err_msg=a.name)


@pytest.mark.parametrize("writer, reader", [(keras.optimizers.Adam, FusedAdam), (FusedAdam, keras.optimizers.Adam)])
def test_a_checkpoint_of_either_restores_into_the_other(tmp_path, writer, reader):
    """Run folders checkpointed with Keras' Adam (every run before FusedAdam) resume with it."""
    written_vars, read_vars = _variables(1), _variables(2)
    written = writer(learning_rate=1e-3, beta_1=0.5)
    _train(written, written_vars, 3)
    path = tf.train.Checkpoint(optimizer=written, variables=written_vars).save(str(tmp_path / "ckpt"))
    read = reader(learning_rate=1e-3, beta_1=0.5)
    read.build(read_vars)
    tf.train.Checkpoint(optimizer=read, variables=read_vars).restore(path).assert_consumed()
    assert int(read.iterations.numpy()) == 3
    for a, b in zip(written.variables, read.variables, strict=True):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.name)


def test_amsgrad_is_refused_not_ignored():
    with pytest.raises(ValueError, match="AMSGrad"):
        FusedAdam(amsgrad=True)


def test_the_variables_of_a_traced_update_are_freed_with_the_model():
    """Keras' optimizer in the replica context sums gradients with tf.distribute's all_reduce, whose
    graph-mode custom gradient keeps every traced update, and the variables it captured, for the life
    of the process (about 250 MB per tiny test run): FusedAdam applies in the cross-replica context.
    Eight models of 24 MB each (72 MB with Adam's two slots), each updated in a function of its own:
    the process grows by 576 MB if they are kept, by what the allocator holds back if not."""
    process = psutil.Process()

    def train_and_drop() -> None:
        variable = keras.Variable(np.ones((6_000_000,), "float32"))
        optimizer = FusedAdam(learning_rate=1e-3)
        optimizer.build([variable])
        tf.function(lambda grad: optimizer.apply([grad], [variable]), autograph=False)(tf.ones((6_000_000,)))
        assert float(variable[0].numpy()) < 1.0  # the update ran

    train_and_drop()  # the first pays for what stays by design (kernels, the allocator's pools)
    gc.collect()
    before = process.memory_info().rss
    for _ in range(8):
        train_and_drop()
        gc.collect()
    grown_mb = (process.memory_info().rss - before) / 2**20
    assert grown_mb < 150, f"the process grew by {grown_mb:.0f} MB over eight dropped models"

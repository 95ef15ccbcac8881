"""Keras' Adam with each variable's update done by TensorFlow's fused Adam kernel.

Keras 3's Adam writes a variable's update as 41 graph ops (casts, powers, the two moment updates,
the step), twelve of them passes over the whole variable; over the ~100 variables of a CycleGAN step
that is thousands of graph nodes which every trace builds and every graph optimisation walks, and
over a thousand kernel launches per step on a GPU. ``ResourceApplyAdam`` (the kernel TensorFlow's own Adam
used) does the arithmetic in one pass, with the same formula, and its scalar inputs (step count, beta
powers, learning rate) are made once per step for all variables: about 6 graph ops per variable:

    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
    w -= alpha * m / (sqrt(v) + epsilon)

One difference, far below anything a run can show: the kernel forms ``1 - beta_2`` in the variable's
float32 (0.00099998713 for 0.999) where Keras forms it in Python floats (0.001), so the velocities
accumulate at rates 1.3e-5 apart, relatively.

The optimizer is Keras' Adam in every other respect (its config, its learning-rate variable, its
iteration counter, loss scaling around it), and its slots are created the way Adam creates them
and held under Adam's attribute names, so a checkpoint written with Keras' Adam restores into it and
the other way round (tests/test_adam.py). It also applies in the cross-replica context, so a trained
model's memory is freed with it (:meth:`FusedAdam.apply`). Measured: benchmarks/PERFORMANCE.md,
2026-12-07 (morning) and (06:00 UTC).
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="cyclegan")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (without AMSGrad) updating each variable with one fused kernel."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Held in a plain object: a dict attribute of the optimizer itself would be tracked by Keras
        # and by TensorFlow's checkpointing, and these are tensors of one traced call.
        self._apply_call = SimpleNamespace(scalars=None)
        if self.amsgrad:
            raise ValueError("FusedAdam has no AMSGrad variant (TensorFlow's fused kernel has none): use keras.optimizers.Adam")

    def build(self, var_list):
        if self.built:
            return
        keras.optimizers.Optimizer.build(self, var_list)
        # Adam's slots, made as Adam makes them and kept under its names: checkpoints stay interchangeable.
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def apply(self, grads, trainable_variables=None):
        """Keras' ``apply``, run in the cross-replica context when no distribution strategy is set.

        In the replica context Keras' TensorFlow optimizer first sums every gradient across replicas
        with ``tf.distribute``'s ``all_reduce``, whose graph-mode ``tf.custom_gradient`` registers each
        traced step in a process-wide gradient registry for good: every model a process had trained
        stayed in memory (about 250 MB per tiny test run; TensorFlow issue 62854 and relatives). On
        one device there is nothing to sum, and in the cross-replica context Keras skips the sum;
        ``merge_call`` is the public way into that context. Under a real strategy Keras' path is kept.
        """
        context = tf.distribute.get_replica_context()
        self._apply_call.scalars = {}  # this call's update scalars, made once for all its variables (update_step)
        try:
            if context is None or tf.distribute.has_strategy():
                return super().apply(grads, trainable_variables)
            parent_apply = super().apply
            return context.merge_call(lambda _strategy: parent_apply(grads, trainable_variables))
        finally:
            self._apply_call.scalars = None  # tensors of this call's graph: never reused by another

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)  # the lookup Keras' custom-optimizer guide uses
        momentum, velocity = self._momentums[index], self._velocities[index]
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(momentum), v=_handle(velocity), **self._update_scalars(dtype, learning_rate),
            grad=tf.cast(gradient, dtype), use_locking=False, use_nesterov=False)

    def _update_scalars(self, dtype, learning_rate) -> dict[str, tf.Tensor]:
        """The kernel's scalar inputs in ``dtype``: the same for every variable of one ``apply`` call
        (one step count, one learning rate), so made once per call and dtype. Made per variable they
        were about 11 of its 17 graph ops: a fifth of the train step's graph, traced and optimised anew."""
        scalars = self._apply_call.scalars
        if scalars is not None and dtype in scalars:
            return scalars[dtype]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        made = {"beta1_power": tf.pow(beta_1, step), "beta2_power": tf.pow(beta_2, step), "lr": tf.cast(learning_rate, dtype),
                "beta1": beta_1, "beta2": beta_2, "epsilon": tf.cast(self.epsilon, dtype)}
        if scalars is not None:  # None: called outside apply (nothing to share with)
            scalars[dtype] = made
        return made


def _handle(variable) -> tf.Tensor:
    """The resource handle of a Keras variable (its TensorFlow variable's) or of a TensorFlow variable."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle

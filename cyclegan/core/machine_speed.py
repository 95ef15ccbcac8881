"""What the machine can do and what a train step asks of it: the conv throughput probe and the
step's FLOP count, shared by the benchmark (``cyclegan bench``) and the study efficiency figure a
worker records with each run (:mod:`cyclegan.runs.lifecycle`)."""

from __future__ import annotations

import logging
import time

import tensorflow as tf

# The probe convolution: a VGG-like 3x3 layer, large enough to reach steady throughput.
_PROBE_SHAPE, _PROBE_CHANNELS = (4, 64, 64), 256



# The dtype a resolved ``train.precision`` computes its convolutions in.
COMPUTE_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


class ConvProbe:
    """A 3x3, 256->256 channel convolution in ``dtype``, traced and warmed once; :meth:`measure`
    times ``repeats`` calls and returns GFLOP/s: what this device can do, cheap enough to repeat
    between a benchmark's rounds (19.3 GFLOP per call)."""

    def __init__(self, dtype: tf.DType, repeats: int = 10):
        batch, height, width = _PROBE_SHAPE
        x = tf.random.normal((batch, height, width, _PROBE_CHANNELS), dtype=tf.float32)
        kernel = tf.random.normal((3, 3, _PROBE_CHANNELS, _PROBE_CHANNELS), dtype=tf.float32)
        self.x, self.kernel = tf.cast(x, dtype), tf.cast(kernel, dtype)
        self.conv = tf.function(lambda a, k: tf.reduce_sum(tf.cast(tf.nn.conv2d(a, k, 1, "SAME"), tf.float32)))
        self.repeats = repeats
        self.flop = 2.0 * batch * height * width * _PROBE_CHANNELS * _PROBE_CHANNELS * 9
        float(self.conv(self.x, self.kernel))  # trace, and let oneDNN pick its kernel

    def measure(self) -> float:
        started = time.perf_counter()
        for _ in range(self.repeats):
            float(self.conv(self.x, self.kernel))
        seconds = (time.perf_counter() - started) / self.repeats
        return self.flop / seconds / 1e9


def conv_throughput(dtype: tf.DType, repeats: int = 10) -> float:
    """GFLOP/s of a 3x3, 256->256 channel convolution in ``dtype``: what this device can do."""
    return ConvProbe(dtype, repeats).measure()


def precision_probe(precision: str, repeats: int = 3) -> ConvProbe:
    """A :class:`ConvProbe` in the dtype a resolved ``train.precision`` computes its convolutions in."""
    return ConvProbe(tf.as_dtype(COMPUTE_DTYPE[precision]), repeats)


def count_step_flops(step_fn, image_size: int, batch_size: int) -> float:
    """GFLOP of one train step, counted op by op by TensorFlow's cost statistics on the traced graph.

    Only live ops count: those the step's outputs or its variable updates depend on. The gradient
    of every convolution also emits a filter gradient, which for the frozen encoder nobody uses;
    TensorFlow prunes those at run time, so counting them would overstate the work."""
    from tensorflow.python.framework import ops as tf_ops

    spec = tf.TensorSpec((batch_size, image_size, image_size, 3), tf.float32)
    graph = step_fn.get_concrete_function(spec, spec).graph
    pending = [t.op for t in graph.outputs] + list(graph.control_outputs)
    live = set()
    while pending:
        op = pending.pop()
        if op.name in live:
            continue
        live.add(op.name)
        pending.extend(t.op for t in op.inputs)
        pending.extend(op.control_inputs)
    total = 0
    # TensorFlow's cost functions call a deprecated helper of theirs, whose warning ("tensor_shape_from_node_def_name
    # is deprecated") would reach every study worker's output: it is about TensorFlow's code, not ours.
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        for op in graph.get_operations():
            if op.name in live:
                try:
                    total += tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
                except ValueError:  # no cost function registered for this op type: it does no float math worth counting
                    pass
    finally:
        tf_logger.setLevel(level)
    return total / 1e9

"""Training-speed benchmark: the train step against what this machine can do.

Prints image pairs per second and milliseconds per step after warm-up on synthetic tensors, the
step's FLOPs counted by TensorFlow's profiler on the compiled graph (forward, backward, optimizer),
the achieved GFLOP/s against the machine's measured convolution throughput in float32 and
bfloat16, peak memory, and the input pipeline's own speed on real JPEGs. Variants (``--compare``)
are built in one process and timed in alternating rounds, so background load hits them equally.
"""

from __future__ import annotations

import functools
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cyclegan.core import device
from cyclegan.core.models import EncoderWeightsError, build_vgg16
from cyclegan.core.seeding import seed_weights
from cyclegan.core.step import build_networks, build_optimizers, make_train_step
from cyclegan.spec.config import ConfigError, RunConfig, parse_override, set_dotted

# The probe convolution: a VGG-like 3x3 layer, large enough to reach steady throughput.
_PROBE_SHAPE, _PROBE_CHANNELS = (4, 64, 64), 256


@dataclass(frozen=True)
class VariantResult:
    label: str
    ms_per_step: float
    pairs_per_second: float
    gflop_per_step: float
    compile_seconds: float

    @property
    def achieved_gflops(self) -> float:
        return self.gflop_per_step * 1000.0 / self.ms_per_step


@dataclass(frozen=True)
class BenchResult:
    device: str
    image_size: int
    batch_size: int
    conv_gflops: dict[str, float]
    variants: list[VariantResult]
    peak_memory_mb: float
    pipeline_images_per_second: float | None
    notes: list[str] = field(default_factory=list)


def conv_throughput(dtype: tf.DType, repeats: int = 10) -> float:
    """GFLOP/s of a 3x3, 256->256 channel convolution in ``dtype``: what this device can do."""
    batch, height, width = _PROBE_SHAPE
    x = tf.random.normal((batch, height, width, _PROBE_CHANNELS), dtype=tf.float32)
    kernel = tf.random.normal((3, 3, _PROBE_CHANNELS, _PROBE_CHANNELS), dtype=tf.float32)
    x, kernel = tf.cast(x, dtype), tf.cast(kernel, dtype)
    conv = tf.function(lambda a, k: tf.reduce_sum(tf.cast(tf.nn.conv2d(a, k, 1, "SAME"), tf.float32)))
    float(conv(x, kernel))
    started = time.perf_counter()
    for _ in range(repeats):
        float(conv(x, kernel))
    seconds = (time.perf_counter() - started) / repeats
    flops = 2.0 * batch * height * width * _PROBE_CHANNELS * _PROBE_CHANNELS * 9
    return flops / seconds / 1e9


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
    for op in graph.get_operations():
        if op.name in live:
            try:
                total += tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
            except ValueError:  # no cost function registered for this op type: it does no float math worth counting
                pass
    return total / 1e9


class _Variant:
    def __init__(self, label: str, config: RunConfig):
        self.label, self.config = label, config
        device.configure(config.train.precision)  # the policy is read when layers are built
        seed_weights(config.train.seed)  # as the trainer seeds a run
        nets = build_networks(config)
        self.step = make_train_step(config, nets, build_optimizers(config, nets))
        size, batch = config.data.image_size, config.train.batch_size
        rng = np.random.default_rng(0)
        self.inputs = [tf.constant(rng.random((batch, size, size, 3), dtype=np.float32)) for _ in range(2)]
        started = time.perf_counter()
        self.run(2)  # trace, compile and warm up
        self.compile_seconds = time.perf_counter() - started
        self.gflop = count_step_flops(self.step, size, batch)
        self.samples: list[float] = []

    def run(self, steps: int) -> float:
        started = time.perf_counter()
        for _ in range(steps):
            float(self.step(*self.inputs)["loss/cycle"])  # wait for the step to finish
        return (time.perf_counter() - started) / steps


def bench(configs: dict[str, RunConfig], *, steps: int = 20, rounds: int = 4, data_root: Path | None = None) -> BenchResult:
    """Time each labelled config's train step in alternating rounds; see the module docstring."""
    notes: list[str] = []
    configs = {label: _with_available_weights(config, notes) for label, config in configs.items()}
    notes = list(dict.fromkeys(notes))
    variants = [_Variant(label, config) for label, config in configs.items()]
    per_round = max(1, steps // rounds)
    for variant in variants:
        # Untimed: the first steps after building every variant are still slow (allocations,
        # oneDNN primitive caches), and would fall on whichever variant comes first.
        variant.run(per_round)
    for _ in range(rounds):
        for variant in variants:
            variant.samples.append(variant.run(per_round))
    first = next(iter(configs.values()))
    batch = first.train.batch_size
    results = [
        VariantResult(v.label, 1000 * statistics.median(v.samples), batch / statistics.median(v.samples), v.gflop, v.compile_seconds)
        for v in variants
    ]
    conv = {"float32": conv_throughput(tf.float32), "bfloat16": conv_throughput(tf.bfloat16)}
    pipeline = pipeline_throughput(first, data_root) if data_root is not None else None
    if data_root is None:
        notes.append("input pipeline not timed: no data folder (pass --data ROOT)")
    return BenchResult(device.describe(), first.data.image_size, batch, conv, results, _peak_memory_mb(), pipeline, notes)


def pipeline_throughput(config: RunConfig, data_root: Path, batches: int = 200) -> float:
    """Images per second that the training pipeline decodes and augments (both domains), alone."""
    from cyclegan.core.pipeline import prepare_split, training_dataset

    data = config.data.model_copy(update={"root": str(data_root)})
    split = prepare_split(data, config.train.batch_size)
    dataset = training_dataset(split, data, config.train, start_step=0)
    iterator = iter(dataset)
    next(iterator)  # start the threads
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return 2 * batches * config.train.batch_size / (time.perf_counter() - started)


def _with_available_weights(config: RunConfig, notes: list[str]) -> RunConfig:
    """Timing does not depend on weight values: without the configured file or the ImageNet
    download, substitute random VGG16 weights saved to a temporary file (keeping the file-based,
    shared-encoder structure of the real run) and say so."""
    gen = config.generator
    if gen.arch == "resnet" or _weights_available(gen.encoder_weights, gen.imagenet_weights):
        return config
    path = Path(tempfile.gettempdir()) / "cyclegan_bench_vgg16_random.weights.h5"
    if not path.exists():
        keras.applications.VGG16(include_top=False, weights=None).save_weights(path)
    notes.append(f"VGG16 weights unavailable here; timed with random weights from {path} (same graph, same speed)")
    tree = set_dotted(config.to_dict(), "generator.imagenet_weights", str(path))
    if gen.encoder_weights not in ("imagenet", "random"):
        tree = set_dotted(tree, "generator.encoder_weights", str(path))
    return RunConfig.model_validate(tree)


@functools.cache
def _weights_available(encoder_weights: str, imagenet_weights: str | None) -> bool:
    try:
        build_vgg16(encoder_weights, 32, imagenet_weights)
    except EncoderWeightsError:
        return False
    return True


def _peak_memory_mb() -> float:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def zip_comparisons(comparisons: tuple[str, ...] | list[str]) -> list[tuple[str, list[tuple[str, object]]]]:
    """``--compare KEY=V1,V2`` options -> [(label, [(key, value), ...]), ...], one per variant:
    variant i takes value i of every option (zipped, not crossed)."""
    if not comparisons:
        return [("config", [])]
    parsed = []
    for text in comparisons:
        key, _, values = text.partition("=")
        if not key or not values:
            raise ConfigError(f"--compare expects KEY=V1,V2, got {text!r}")
        texts = [v.strip() for v in values.split(",")]
        parsed.append((key.strip(), texts, [parse_override(f"{key}={text}")[1] for text in texts]))
    counts = {len(values) for _, _, values in parsed}
    if len(counts) != 1:
        raise ConfigError(f"--compare options must list the same number of values, got {sorted(counts)}")
    return [
        (", ".join(f"{key.rsplit('.', 1)[-1]}={texts[i]}" for key, texts, _ in parsed), [(key, values[i]) for key, _, values in parsed])
        for i in range(counts.pop())
    ]


def format_result(result: BenchResult) -> str:
    width = max(len("variant"), *(len(v.label) for v in result.variants))
    lines = [
        f"device: {result.device}",
        f"train step at {result.image_size}x{result.image_size}, batch {result.batch_size}, after warm-up",
        f"measured conv throughput: float32 {result.conv_gflops['float32']:.0f} GFLOP/s, bfloat16 {result.conv_gflops['bfloat16']:.0f} GFLOP/s",
        "",
        f"{'variant':{width}s} {'pairs/s':>8s} {'ms/step':>9s} {'GFLOP/step':>11s} {'GFLOP/s':>8s} {'util f32':>9s} {'util bf16':>9s} {'compile s':>9s}",
    ]
    for v in result.variants:
        lines.append(
            f"{v.label:{width}s} {v.pairs_per_second:8.2f} {v.ms_per_step:9.1f} {v.gflop_per_step:11.1f} {v.achieved_gflops:8.1f} "
            f"{v.achieved_gflops / result.conv_gflops['float32']:9.0%} {v.achieved_gflops / result.conv_gflops['bfloat16']:9.0%} {v.compile_seconds:9.1f}"
        )
    if len(result.variants) > 1:
        base = result.variants[0]
        for v in result.variants[1:]:
            lines.append(f"speed-up of {v.label} over {base.label}: {v.pairs_per_second / base.pairs_per_second:.2f}x")
    lines.append(f"peak memory: {result.peak_memory_mb:.0f} MiB")
    if result.pipeline_images_per_second is not None:
        fastest = max(v.pairs_per_second for v in result.variants) * 2
        lines.append(f"input pipeline alone: {result.pipeline_images_per_second:.0f} images/s "
                     f"({result.pipeline_images_per_second / fastest:.0f}x what the fastest step consumes)")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)

"""Training-speed benchmark: the train step against what this machine can do.

Prints image pairs per second and milliseconds per step after warm-up on synthetic tensors, the
step's FLOPs counted by TensorFlow's profiler on the compiled graph (forward, backward, optimizer),
the achieved GFLOP/s against the machine's measured convolution throughput in float32 and
bfloat16, peak memory, and the input pipeline's own speed on real JPEGs. Variants (``--compare``)
are built in one process and timed in alternating rounds, so background load hits them equally.

The conv throughput is probed between rounds too (a short convolution before each round, in each
precision the variants compute in): a machine shared with other work changes speed within minutes,
and a probe measured once could fall in a fast or a slow minute. Each round's step is divided by
the probe next to it (:mod:`cyclegan.core.bench_stats`), so the step's share of the conv throughput
is reported as a median with its range over rounds, and holds still where either figure alone moves.
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
from cyclegan.core.bench_stats import Spread, round_shares, spread
from cyclegan.core.machine_speed import COMPUTE_DTYPE, ConvProbe, conv_throughput, count_step_flops
from cyclegan.core.models import EncoderWeightsError, build_vgg16
from cyclegan.core.seeding import seed_weights
from cyclegan.core.step import build_networks, build_optimizers, make_train_step
from cyclegan.spec.config import ConfigError, RunConfig, parse_override, set_dotted


@dataclass(frozen=True)
class VariantResult:
    label: str
    ms_per_step: float
    pairs_per_second: float
    gflop_per_step: float
    compile_seconds: float
    seconds_per_round: tuple[float, ...] = ()
    """Seconds per step in each timed round, in round order."""
    conv_share: Spread | None = None
    """The step's GFLOP/s in each round over the conv probe of ``share_dtype`` taken before that round."""
    share_dtype: str = "float32"

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
    conv_rounds: dict[str, Spread] = field(default_factory=dict)
    """Per precision probed between rounds: the probes' median and range (``conv_gflops`` holds the median)."""



class StepTimer:
    """One config's compiled train step on fixed synthetic batches, built, traced and warmed up:
    :meth:`run` times steps; ``gflop`` is the step's count, ``compute_dtype`` the precision of its
    convolutions. The config's encoder weights must load: pass it through :func:`with_available_weights` first."""

    def __init__(self, label: str, config: RunConfig):
        self.label, self.config = label, config
        # The policy is read when layers are built.
        precision = device.configure(config.train.precision)
        self.compute_dtype = COMPUTE_DTYPE[precision]
        seed_weights(config.train.seed)  # as the trainer seeds a run
        self.networks = nets = build_networks(config)
        self.step = make_train_step(config, nets, build_optimizers(config, nets, precision))
        size, batch = config.data.image_size, config.train.batch_size
        rng = np.random.default_rng(0)
        self.inputs = [tf.constant(rng.random((batch, size, size, 3), dtype=np.float32)) for _ in range(2)]
        started = time.perf_counter()
        self.run(2)  # trace, compile and warm up
        self.compile_seconds = time.perf_counter() - started
        self.gflop = count_step_flops(self.step, size, batch)

    def run(self, steps: int) -> float:
        """Seconds per step over ``steps`` steps."""
        started = time.perf_counter()
        for _ in range(steps):
            float(self.step(*self.inputs)["loss/cycle"])  # wait for the step to finish
        return (time.perf_counter() - started) / steps


def bench(configs: dict[str, RunConfig], *, steps: int = 20, rounds: int = 4, data_root: Path | None = None,
          probe_repeats: int = 10) -> BenchResult:
    """Time each labelled config's train step in alternating rounds, each round after a conv probe
    (``probe_repeats`` calls) in every precision the variants compute in; see the module docstring."""
    notes: list[str] = []
    configs = {label: with_available_weights(config, notes) for label, config in configs.items()}
    notes = list(dict.fromkeys(notes))
    variants = [StepTimer(label, config) for label, config in configs.items()]
    per_round = max(1, steps // rounds)
    for variant in variants:
        # Untimed: the first steps after building every variant are still slow (allocations,
        # oneDNN primitive caches), and would fall on whichever variant comes first.
        variant.run(per_round)
    probes = {name: ConvProbe(tf.as_dtype(name), probe_repeats) for name in dict.fromkeys(v.compute_dtype for v in variants)}
    probed: dict[str, list[float]] = {name: [] for name in probes}
    samples: dict[str, list[float]] = {v.label: [] for v in variants}
    for _ in range(rounds):
        for name, probe in probes.items():
            probed[name].append(probe.measure())
        for variant in variants:
            samples[variant.label].append(variant.run(per_round))
    conv_rounds = {name: spread(values) for name, values in probed.items()}
    # Both columns of the table: a precision no variant computes in is measured once, as before.
    conv = {name: conv_rounds[name].median if name in conv_rounds else conv_throughput(tf.as_dtype(name), probe_repeats)
            for name in ("float32", "bfloat16")}
    first = next(iter(configs.values()))
    batch = first.train.batch_size
    results = []
    for v in variants:
        seconds = samples[v.label]
        share = spread(round_shares(v.gflop, seconds, probed[v.compute_dtype]))
        median = statistics.median(seconds)
        results.append(VariantResult(v.label, 1000 * median, batch / median, v.gflop, v.compile_seconds,
                                     tuple(seconds), share, v.compute_dtype))
    pipeline = pipeline_throughput(first, data_root) if data_root is not None else None
    if data_root is None:
        notes.append("input pipeline not timed: no data folder (pass --data ROOT)")
    return BenchResult(device.describe(), first.data.image_size, batch, conv, results, _peak_memory_mb(), pipeline, notes,
                       conv_rounds)


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


def with_available_weights(config: RunConfig, notes: list[str]) -> RunConfig:
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
        f"measured conv throughput: float32 {result.conv_gflops['float32']:.0f} GFLOP/s, bfloat16 {result.conv_gflops['bfloat16']:.0f} GFLOP/s"
        + (" (medians of the probes between rounds where probed)" if result.conv_rounds else ""),
        "",
        f"{'variant':{width}s} {'pairs/s':>8s} {'ms/step':>9s} {'GFLOP/step':>11s} {'GFLOP/s':>8s} {'util f32':>9s} {'util bf16':>9s} {'compile s':>9s}",
    ]
    for v in result.variants:
        lines.append(
            f"{v.label:{width}s} {v.pairs_per_second:8.2f} {v.ms_per_step:9.1f} {v.gflop_per_step:11.1f} {v.achieved_gflops:8.1f} "
            f"{v.achieved_gflops / result.conv_gflops['float32']:9.0%} {v.achieved_gflops / result.conv_gflops['bfloat16']:9.0%} {v.compile_seconds:9.1f}"
        )
    lines += _round_lines(result)
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


def _round_lines(result: BenchResult) -> list[str]:
    """The figures' spread over rounds: the probes, each step's time, and its share of the probe."""
    if not result.conv_rounds:
        return []
    lines = [
        "conv throughput probed before each round: "
        + ", ".join(f"{name} {probe.format(unit=' GFLOP/s')}" for name, probe in result.conv_rounds.items()),
        "over rounds: ms/step, and the step's share of the conv throughput (its round's GFLOP/s over that round's probe):",
    ]
    width = max(len(v.label) for v in result.variants)
    for v in result.variants:
        if v.conv_share is None:
            continue
        ms = spread([1000 * s for s in v.seconds_per_round])
        lines.append(f"  {v.label:{width}s}  ms/step {ms.format()}  share {v.conv_share.format(scale=100, unit='%')} of {v.share_dtype}")
    return lines

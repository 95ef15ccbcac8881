"""One compiled train step for consecutive runs of the same networks in one process.

Tracing and optimising the step is one of the largest costs outside training in a quick-study cell
(its first step: 5.5 s of a 54 s cell on a 2-core CPU; on a GPU with XLA, the compile). A study's cells that
differ only in their seed build the same graph, and a study lists a cell's seeds one after another, so
a process that keeps the last run's networks, optimizers and step can train the next such run by
loading that run's *fresh* initial values into them: the same numbers as building from scratch
(the fresh networks are still built, from the run's seed, only to be copied), without a new trace.
Measured in the quick study: 2.3 s instead of 5.5 s while runs were seeded with
``keras.utils.set_random_seed``, whose ``tf.random.set_seed`` clears the kernel caches, so the kept graph
was instantiated again; runs are now seeded without it (``cyclegan.core.seeding``). A process keeps
one step, not one per structure: a study lists a cell's seeds one after another, and a kept step holds
its networks, optimizer state and graph in memory (docs/scaling.md "Memory over a long study").

What may differ between two runs sharing a step is what the step never reads (:data:`RUN_LOOP_KEYS`:
paths, the data pipeline's options, the run's length and schedule, checkpointing, evaluation) and the
seed while the image pool is off (the pool's random stream is keyed by the seed inside the graph).
The learning rates are among them: the trainer assigns them to the optimizers' variables every
mini-epoch, which the kept optimizers receive like any other value. Every other key is compared, so a
run whose step could differ in any way (a loss weight, a precision, a kernel) traces its own; so does
a run whose step is built by another function (a test's replacement of :func:`make_train_step`).
tests/test_step_reuse.py trains a run that differs from the kept one in every key of the list that
training reads (all but the quality evaluation's) and checks it learns what the same run built from
scratch learns; it also checks that changing any other key changes the structure key.

A process keeps one step (:func:`process_steps`): a study worker's cells, a tuning worker's trials, and
runs a program trains one after another with :func:`cyclegan.core.trainer.train` share it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import tensorflow as tf

from cyclegan.core.image_pool import ImagePools
from cyclegan.core.step import Networks, Optimizers
from cyclegan.core.translate import GeneratorForward
from cyclegan.spec.config import RunConfig

StepFn = Callable[[tf.Tensor, tf.Tensor], dict[str, tf.Tensor]]
StepBuilder = Callable[[RunConfig, Networks, Optimizers, ImagePools], StepFn]


# Config keys the compiled step never reads: two runs that differ only in these train the same graph.
RUN_LOOP_KEYS: dict[str, frozenset[str]] = {
    "data": frozenset({"root", "flip", "random_crop", "holdout", "max_image_pixels"}),  # the input pipeline
    "generator": frozenset({"imagenet_weights"}),  # where the weights are read from (their values are loaded)
    "optimizer": frozenset({"lr_generator", "lr_discriminator", "schedule", "decay_start"}),  # variables, set per mini-epoch
    "train": frozenset({"mini_epochs", "mini_epoch_fraction", "steps_per_mini_epoch", "checkpoint_every",
                        "keep_checkpoints", "keep_final_checkpoint", "sample_images"}),
    "eval": frozenset({"every", "images", "quality_every", "quality_train_images", "inception_weights"}),
}


def structure_key(config: RunConfig) -> str:
    """What must be equal for two runs to share one compiled step: the config less
    :data:`RUN_LOOP_KEYS`, and less the seed when nothing in the graph depends on it (no image pool).
    A key not in the list (a new one too) is compared: a wrong sharing would train the wrong graph
    silently, a missed one only traces again."""
    tree = config.model_dump(mode="json")
    for section, keys in RUN_LOOP_KEYS.items():
        for key in keys:
            tree[section].pop(key)
    if config.train.image_pool == 0:
        tree["train"].pop("seed")
    return json.dumps(tree, sort_keys=True)


@dataclass
class Compiled:
    """A run's networks, optimizers, image pools and the step traced over them."""

    networks: Networks
    optimizers: Optimizers
    pools: ImagePools
    step: StepFn
    gflop: float | None = None  # one step's count, made when first asked for (StepCache.step_gflop)
    forwards: dict[int, GeneratorForward] = field(default_factory=dict)

    def forward(self, generator: keras.Model) -> GeneratorForward:
        """The traced inference functions of one of these networks' generators, made at the first
        ask and kept with the step: the evaluation and sample grids of every run on it trace none."""
        if not any(generator is net for net in (self.networks.gen_g, self.networks.gen_f)):
            raise ValueError(f"{generator.name} is not a generator of this compiled run")
        if id(generator) not in self.forwards:
            self.forwards[id(generator)] = GeneratorForward(generator)
        return self.forwards[id(generator)]


def state_variables(networks: Networks, optimizers: Optimizers, pools: ImagePools) -> list[tf.Variable]:
    """Every variable a run's training reads or writes, in a fixed order: the networks' weights
    (frozen ones too: a pretrained and a random encoder differ only in them), the optimizers' slots,
    step counters and loss scales, and the pools' images and counters."""
    models = (networks.gen_g, networks.gen_f, networks.disc_monet, networks.disc_photo)
    return [*(v for m in models for v in m.variables), *optimizers.generators.variables, *optimizers.discriminators.variables,
            *pools.variables]


def load_values(source: list[tf.Variable], target: list[tf.Variable]) -> None:
    """Assign each source variable's value to its target; the two lists must match in shape and
    dtype one for one (equal structure keys guarantee it; a mismatch is a bug, never a silent skip)."""
    if len(source) != len(target):
        raise RuntimeError(f"cannot reuse the compiled step: {len(source)} variables to load into {len(target)}")
    for src, dst in zip(source, target, strict=True):
        if src.shape != dst.shape or src.dtype != dst.dtype:
            raise RuntimeError(f"cannot reuse the compiled step: {_name(src)} {src.shape} {src.dtype} "
                               f"into {_name(dst)} {dst.shape} {dst.dtype}")
        dst.assign(src)


def _name(variable) -> str:
    return getattr(variable, "path", variable.name)  # Keras variables' full path; a tf.Variable's name


class StepCache:
    """The last compiled runs of this process, handed to the next run of the same structure.

    It keeps ``slots`` of them, the least recently used dropped first. A process keeps one
    (:func:`process_steps`: a study lists a cell's seeds one after another, and each kept run holds
    its networks, optimizer state and graph in memory); the test suite keeps a few, because its
    tests alternate between a handful of structures (tests/conftest.py). A test that must trace
    anew makes its own."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"a step cache keeps at least one compiled run, got slots={slots}")
        self.slots = slots
        self._kept: OrderedDict[tuple[str, StepBuilder], Compiled] = OrderedDict()  # least recently used first
        self.traces = 0  # steps this cache has built: runs minus reuses
        self.reuses = 0

    @property
    def last(self) -> Compiled | None:
        """The compiled run the latest run trained on (None before the first)."""
        return next(reversed(self._kept.values()), None)

    def kept_structures(self) -> set[str]:
        """The :func:`structure_key` of each kept run: a run of one of them trains without a new trace."""
        return {structure for structure, _ in self._kept}

    def compiled(self, config: RunConfig, networks: Networks, optimizers: Optimizers, pools: ImagePools,
                 build_step: StepBuilder) -> Compiled:
        """The compiled run for ``config``, whose ``networks``, ``optimizers`` and ``pools`` were just
        built from it: a kept run loaded with their values when the structures match, else these
        parts with a newly traced step (then kept for the next runs)."""
        key = (structure_key(config), build_step)
        kept = self._kept.get(key)
        # ``train.precision: auto`` is one config value for several dtype policies (by device): a
        # kept run built under another policy is not this run's graph, and is replaced.
        if kept is not None and kept.networks.gen_g.dtype_policy.name == networks.gen_g.dtype_policy.name:
            load_values(state_variables(networks, optimizers, pools), state_variables(kept.networks, kept.optimizers, kept.pools))
            self._kept.move_to_end(key)
            self.reuses += 1
            return kept
        compiled = Compiled(networks, optimizers, pools, build_step(config, networks, optimizers, pools))
        self._kept[key] = compiled
        self._kept.move_to_end(key)  # when it replaced a kept run of another policy
        while len(self._kept) > self.slots:
            self._kept.popitem(last=False)
        self.traces += 1
        return compiled

    def step_gflop(self, config: RunConfig) -> float | None:
        """GFLOP of one step of the kept run ``config`` trained on (None when none is kept): counted
        on its traced graph once per trace (:func:`cyclegan.core.machine_speed.count_step_flops`; the
        step is not traced again, its input shapes are the ones it was traced for). None too when the
        kept step never ran: counting would trace it for nothing."""
        from cyclegan.core.machine_speed import count_step_flops

        structure = structure_key(config)
        kept = next((c for (key, _), c in reversed(self._kept.items()) if key == structure), None)
        if kept is None or not kept.step.experimental_get_tracing_count():  # never ran (a resumed run with nothing left)
            return None
        if kept.gflop is None:
            kept.gflop = count_step_flops(kept.step, config.data.image_size, config.train.batch_size)
        return kept.gflop


_PROCESS_STEPS = StepCache()


def process_steps() -> StepCache:
    """This process's kept step: one per process (a kept step holds its networks and graph in memory;
    docs/scaling.md "Memory over a long study")."""
    return _PROCESS_STEPS

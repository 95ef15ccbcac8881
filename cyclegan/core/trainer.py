"""The training loop: mini-epochs, samples, evaluation, checkpoints, resume.

Re-running the same config on the same run directory continues from the last checkpoint with the
same step count and the same data order (the pipeline is a stateless function of the step). A
non-finite loss stops the run naming the step and the loss; the last good checkpoint stays.
Tracking (MLflow) and pruning (Optuna) attach as :class:`Callback` objects: this module imports
neither.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from cyclegan.core import device
from cyclegan.core.callbacks import Callback, MiniEpochRecord, NonFiniteLossError, RunResult
from cyclegan.core.pipeline import (
    DataSplit,
    load_images,
    prepare_split,
    steps_per_mini_epoch,
    training_dataset,
)
from cyclegan.core.quality_eval import training_quality
from cyclegan.core.runfolder.checkpoints import CheckpointStore, trainable_part
from cyclegan.core.runfolder.generators import save_run_generators
from cyclegan.core.runfolder.layout import RunDir, flat_row
from cyclegan.core.runfolder.random_encoders import encoder_left_out
from cyclegan.core.schedule import learning_rates
from cyclegan.core.seeding import seed_weights
from cyclegan.core.step import (
    Networks,
    Optimizers,
    build_networks,
    build_optimizers,
    build_pools,
    make_train_step,
)
from cyclegan.core.step_reuse import StepCache, process_steps
from cyclegan.core.timing import Stopwatch, run_time_figures
from cyclegan.core.translate import FixedImagesTranslator, GeneratorForward
from cyclegan.data.images import sample_grid, save_png
from cyclegan.metrics import BatchScorer
from cyclegan.metrics.convergence import convergence_measures
from cyclegan.metrics.quality import epochs_to_within_margin
from cyclegan.names import (
    BUILD_SECONDS,
    CALLBACK_SECONDS,
    CHECKPOINT_SECONDS,
    EVAL_SECONDS,
    FINISH_SECONDS,
    FIRST_STEP_SECONDS,
    KID,
    KID_EPOCHS_TO_MARGIN,
    KID_MARGIN,
    LR_DISCRIMINATOR,
    LR_GENERATOR,
    MINI_EPOCH_SECONDS,
    QUALITY_SECONDS,
    SAMPLES_SECONDS,
    SAVE_SECONDS,
    STEP_METRICS,
)
from cyclegan.signals import StopSignal, graceful_stop
from cyclegan.spec.config import RunConfig


@dataclass
class _State:
    """Checkpointed progress (tf.Variables, so tf.train.Checkpoint saves them). ``partial_sums``
    and ``partial_steps`` hold the running means of an interrupted mini-epoch, so it resumes
    where it stopped and its history row still averages every one of its steps."""

    step: tf.Variable = field(default_factory=lambda: tf.Variable(0, dtype=tf.int64, trainable=False, name="step"))
    mini_epoch: tf.Variable = field(default_factory=lambda: tf.Variable(0, dtype=tf.int64, trainable=False, name="mini_epoch"))
    partial_steps: tf.Variable = field(default_factory=lambda: tf.Variable(0, dtype=tf.int64, trainable=False, name="partial_steps"))
    partial_sums: tf.Variable = field(
        default_factory=lambda: tf.Variable(tf.zeros(len(STEP_METRICS), tf.float64), trainable=False, name="partial_sums")
    )


def train(config: RunConfig, run_dir: str | Path, callbacks: tuple[Callback, ...] = (), *, progress: bool = True,
          restart: bool = False, steps: StepCache | None = None, final_checkpoint: bool = True) -> RunResult:
    """Train (or resume) one run of ``config`` in ``run_dir``; see the module docstring.

    Ctrl-C or SIGTERM stops at the next step boundary: a checkpoint is written at that step and
    KeyboardInterrupt is raised (a second signal once the step in progress is recorded; a third at
    once, without a checkpoint of the step it cuts: :meth:`_Loop._changing_state`). ``restart`` discards what the
    run folder has trained and starts over (the way out of a run whose checkpoints are all damaged).
    ``final_checkpoint=False`` skips the save after the last mini-epoch, for a study cell that drops its
    checkpoints once finished (a crash before that retrains from the last one kept, to the same numbers).
    ``steps``: where the traced step is kept for the next run of the same structure (default: this
    process's, :func:`cyclegan.core.step_reuse.process_steps`)."""
    watch = Stopwatch()
    building = watch.start(BUILD_SECONDS)
    run = RunDir(Path(run_dir))
    precision = device.configure(config.train.precision)
    run.check_compatible(config, None if restart else precision)  # a restart keeps nothing of the old precision
    seed_weights(config.train.seed)  # not tf.random.set_seed: it would clear a kept step's kernels (cyclegan.core.seeding)
    # Everything that can fail on bad input fails here, before the run directory is written.
    split = prepare_split(config.data, config.train.batch_size)
    nets = build_networks(config)
    opts = build_optimizers(config, nets, precision)
    pools = build_pools(config)
    compiled = (steps if steps is not None else process_steps()).compiled(config, nets, opts, pools, make_train_step)
    nets, opts, pools, step_fn = compiled.networks, compiled.optimizers, compiled.pools, compiled.step
    if restart:
        run.start_over()
    run.claim(config, precision)

    state = _State()
    store = checkpoint_store(config, run, nets, opts, state, pools)
    store.restore(run.root)
    resumed_from = int(state.mini_epoch.numpy())
    run.truncate_history(resumed_from)
    for callback in callbacks:
        callback.on_run_start(run, config, resumed_from)

    loop = _Loop(config, run, split, nets, opts, step_fn, state, store, callbacks, progress, final_checkpoint, watch, compiled.forward)
    building.stop()
    last_row = loop.run()
    with watch.lap(FINISH_SECONDS):
        final_metrics = {**last_row, **convergence_figures(run)}
    with watch.lap(SAVE_SECONDS):
        save_run_generators(run, config, (nets.gen_g, nets.gen_f))
    final_metrics.update(run_time_figures(run, watch))
    result = RunResult(run, config, int(state.mini_epoch.numpy()), int(state.step.numpy()), resumed_from, final_metrics)
    for callback in callbacks:
        callback.on_run_end(result)
    return result


def checkpoint_store(config: RunConfig, run: RunDir, nets: Networks, opts, state: _State, pools=None) -> CheckpointStore:
    """The checkpointed objects: trainable parts of the networks (no frozen, rebuildable encoder),
    optimizer state and counters."""
    rebuildable = encoder_left_out(run, config, (nets.gen_g, nets.gen_f), starting=True)
    counters = {"step": state.step, "mini_epoch": state.mini_epoch, "partial_steps": state.partial_steps, "partial_sums": state.partial_sums}
    shared = {"disc_monet": nets.disc_monet, "disc_photo": nets.disc_photo,
              "opt_generators": opts.generators, "opt_discriminators": opts.discriminators, **counters}
    if pools is not None and pools.capacity:  # the image pools (images, fill count, draws) resume exactly; without them checkpoints are as before
        shared["image_pools"] = pools
    objects = {"gen_g_trainable": trainable_part(nets.gen_g, rebuildable), "gen_f_trainable": trainable_part(nets.gen_f, rebuildable), **shared}
    return CheckpointStore(run.checkpoints, objects, config.train.keep_checkpoints)


# Loss values reach the host once per this many steps (and at every mini-epoch end or stop), not
# every step: a per-step transfer stalls a GPU until the step has finished.
HOST_SYNC_STEPS = 25


class _Loop:
    def __init__(self, config, run, split: DataSplit, nets: Networks, opts: Optimizers, step_fn, state: _State, store: CheckpointStore,
                 callbacks, progress, final_checkpoint: bool, watch: Stopwatch,
                 forward: Callable[[keras.Model], GeneratorForward]):
        self.final_checkpoint = final_checkpoint
        self.watch = watch  # laps: CHECKPOINT, CALLBACK, FINISH (closing the pipeline); per row: the rest
        self.config, self.run_dir, self.split, self.nets, self.opts = config, run, split, nets, opts
        self.step_fn, self.state, self.store, self.callbacks = step_fn, state, store, callbacks
        self.progress = progress
        self.steps_per_mini_epoch = steps_per_mini_epoch(split, config.train)
        size, holdout = config.data.image_size, split.holdout
        n_samples, n_eval = config.train.sample_images, config.eval.images
        self.sample_photos = load_images(holdout["photo"][:n_samples], size)
        self.sample_monets = load_images(holdout["monet"][:n_samples], size)
        self.eval_names = [p.stem for p in holdout["photo"][:n_eval]]
        self.eval_photos = load_images(holdout["photo"][:n_eval], size)
        self.eval_monets = load_images(holdout["monet"][:n_eval], size)
        # The same images each time: a frozen encoder's features of them are computed once. The
        # generators' traced functions come with the kept step (``forward``): one trace per process.
        self.translate_eval = FixedImagesTranslator(nets.gen_g, self.eval_photos, forward=forward(nets.gen_g))
        self.translate_sample_photos = FixedImagesTranslator(nets.gen_g, self.sample_photos, forward=forward(nets.gen_g))
        self.translate_sample_monets = FixedImagesTranslator(nets.gen_f, self.sample_monets, forward=forward(nets.gen_f))
        self.score = BatchScorer(self.eval_photos, self.eval_monets, seed=config.train.seed)  # target side prepared once
        # Inception features of the held-out and training paintings: once per run (eval.quality_every 0: none).
        self.quality = training_quality(config, run, self.eval_monets, split.train["monet"])
        self.pending: list[tf.Tensor] = []  # per-step loss vectors (11,) not yet checked on the host
        self.pending_first_step = 0
        self.first_step_timed = False
        self.changing = False  # inside _changing_state: the state is half updated and is not checkpointed

    def run(self) -> dict[str, float]:
        with graceful_stop() as self.stop:
            try:
                return self._run()
            except KeyboardInterrupt:
                if self.changing:  # a third signal, or an interrupt not sent through self.stop, cut a change in two
                    self._keep_last_checkpoint()
                    raise
                self._sync()  # never checkpoint a step whose losses were not checked
                if int(self.state.step.numpy()) > self.store.latest_step:
                    self.store.save(int(self.state.step.numpy()))
                raise

    @contextlib.contextmanager
    def _changing_state(self) -> Iterator[None]:
        """A change of the checkpointed state that a checkpoint must hold whole or not at all: a step
        (the weights, optimizer state and pools move in the compiled call) with the counters that
        record it, or the counters that close a mini-epoch. A stop within it waits for its end
        (:meth:`cyclegan.signals.StopRequest.holding`), so Ctrl-C pressed twice still checkpoints at
        the step; a checkpoint of a change cut in two (weights one step ahead of ``step``: resuming
        would apply that batch twice) is never written. Holding the stop, rather than checking the
        optimizer's ``iterations`` against ``step`` afterwards, works whatever the optimizer counts
        (a loss-scaled optimizer does not count a step it skipped) and covers the mini-epoch's
        counters too. Leaving by an exception keeps :attr:`changing` set for :meth:`run`."""
        with self.stop.holding():
            self.changing = True
            yield
            self.changing = False

    def _keep_last_checkpoint(self) -> None:
        latest = self.store.latest_step
        kept = f"it resumes from {self.store.directory / f'ckpt-{latest}'}" if latest >= 0 else "it starts over when run again"
        warnings.warn(f"run {self.run_dir.root}: interrupted halfway through a change of its training state (step count "
                      f"{int(self.state.step.numpy())}): no checkpoint is written of it (its weights could be a step ahead of its step count); {kept}",
                      stacklevel=3)

    def _honour_stop(self) -> None:
        """Called at step boundaries: a requested stop becomes the KeyboardInterrupt that checkpoints."""
        if self.stop.requested is not None:
            raise StopSignal(self.stop.requested)

    def _sync(self) -> np.ndarray | None:
        """One transfer of the pending steps' losses (steps x 11); raises on the first non-finite one."""
        if not self.pending:
            return None
        values = tf.stack(self.pending).numpy()
        first = self.pending_first_step
        self.pending = []
        finite = np.isfinite(values)
        if not finite.all():
            row = int(np.argmin(finite.all(axis=1)))
            self._non_finite(dict(zip(STEP_METRICS, values[row].tolist(), strict=True)), first + row)
        return values[-1]

    def _run(self) -> dict[str, float]:
        train, state = self.config.train, self.state
        last_row: dict[str, float] = {}
        step = int(state.step.numpy())
        batches = iter(training_dataset(self.split, self.config.data, train, start_step=step))
        for mini_epoch in range(int(state.mini_epoch.numpy()) + 1, train.mini_epochs + 1):
            mini_epoch_lap = self.watch.start(MINI_EPOCH_SECONDS)
            rates = self._set_learning_rates(mini_epoch)
            done = int(state.partial_steps.numpy())
            bar = tqdm(range(done, self.steps_per_mini_epoch), desc=f"mini-epoch {mini_epoch}/{train.mini_epochs}",
                       disable=not self.progress, leave=False, dynamic_ncols=True)
            first_step = None
            for _ in bar:
                first_lap = None if self.first_step_timed else self.watch.start(FIRST_STEP_SECONDS)
                photo, monet = next(batches)
                with self._changing_state():
                    out = self.step_fn(photo, monet)
                    losses = tf.stack([out[k] for k in STEP_METRICS])  # stays on the device
                    if first_lap is not None:
                        # One host sync per process, so the first step's time (pipeline start, tracing,
                        # compiling) is measured rather than spilling into the steps after it.
                        losses.numpy()
                        first_step, self.first_step_timed = first_lap.stop(), True
                    if not self.pending:
                        self.pending_first_step = step + 1
                    self.pending.append(losses)
                    state.partial_sums.assign_add(tf.cast(losses, tf.float64))
                    state.partial_steps.assign_add(1)
                    state.step.assign_add(1)
                    step += 1
                if len(self.pending) >= HOST_SYNC_STEPS or self.stop.requested is not None:
                    self._show(bar, self._sync())
                self._honour_stop()
            self._show(bar, self._sync())
            seconds = mini_epoch_lap.stop()
            row = {"mini_epoch": mini_epoch, "step": step, "seconds": seconds, **rates}
            if first_step is not None:
                row[FIRST_STEP_SECONDS] = first_step
            row.update(zip(STEP_METRICS, (state.partial_sums.numpy() / int(state.partial_steps.numpy())).tolist(), strict=True))
            is_last = mini_epoch == train.mini_epochs
            eval_lap = self.watch.start(EVAL_SECONDS)
            eval_outputs = None
            if is_last or (self.config.eval.every and mini_epoch % self.config.eval.every == 0):
                scores, eval_outputs = self._evaluate(save_outputs=is_last)
                row.update(scores)
                if self.quality is not None and (is_last or mini_epoch % self.config.eval.quality_every == 0):
                    with self.watch.lap(QUALITY_SECONDS) as quality_lap:
                        row.update(flat_row("eval/", self.quality(eval_outputs)))
                    row[QUALITY_SECONDS] = quality_lap.seconds
            row[EVAL_SECONDS] = eval_lap.stop()
            with self.watch.lap(SAMPLES_SECONDS) as samples_lap:
                grid_path = self._write_sample_grid(mini_epoch, eval_outputs)
            row[SAMPLES_SECONDS] = samples_lap.seconds
            self.run_dir.append_history(row)
            # The mini-epoch is closed only once its row is written: a checkpoint taken before (a second
            # signal during the evaluation) resumes it with all its steps done and writes the row then.
            with self._changing_state():
                state.mini_epoch.assign(mini_epoch)
                state.partial_steps.assign(0)
                state.partial_sums.assign(tf.zeros_like(state.partial_sums))
            if (is_last and self.final_checkpoint) or (not is_last and mini_epoch % train.checkpoint_every == 0):
                with self.watch.lap(CHECKPOINT_SECONDS):
                    self.store.save(step)
            last_row = row
            record = MiniEpochRecord(mini_epoch, row["step"], row, grid_path)
            with self.watch.lap(CALLBACK_SECONDS):
                for callback in self.callbacks:
                    callback.on_mini_epoch_end(record)
            self._honour_stop()
        # Dropped here and timed, not left to this frame's return: destroying the iterator waits for the
        # pipeline's threads to end (see pipeline.PREFETCH_BATCHES), and that wait belongs in the run's figures.
        with self.watch.lap(FINISH_SECONDS):
            del batches
        return last_row or self._completed_row()

    def _set_learning_rates(self, mini_epoch: int) -> dict[str, float]:
        """The schedule's rates for ``mini_epoch``, assigned to the Adams' learning-rate variables
        (read by the compiled step, so no retrace); returned for the history row and MLflow."""
        lr_g, lr_d = learning_rates(self.config.optimizer, mini_epoch, self.config.train.mini_epochs)
        self.opts.generators.learning_rate = lr_g
        self.opts.discriminators.learning_rate = lr_d
        return {LR_GENERATOR: lr_g, LR_DISCRIMINATOR: lr_d}

    def _show(self, bar, values: np.ndarray | None) -> None:
        if values is not None:
            named = dict(zip(STEP_METRICS, values.tolist(), strict=True))
            bar.set_postfix({"cycle": f"{named['loss/cycle']:.3f}", "G": f"{named['loss/gen_g']:.3f}",
                             "D": f"{named['loss/disc_monet']:.3f}"}, refresh=False)

    def _non_finite(self, values: dict[str, float], step: int) -> None:
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        name, value = next(iter(bad.items()))
        latest = self.store.latest_step
        kept = str(self.store.directory / f"ckpt-{latest}") if latest >= 0 else "none yet"
        raise NonFiniteLossError(
            f"run {self.run_dir.root}: step {step}: {name} = {value} "
            f"(non-finite: {', '.join(bad)}); the last good checkpoint is kept: {kept}"
        )

    def _evaluate(self, *, save_outputs: bool) -> tuple[dict[str, float], np.ndarray]:
        """Translate the held-out photos with G and score them against their inputs (grid,
        sharpness, collapse) and against held-out paintings (distribution distance); returns the
        scores and G's outputs."""
        outputs = self.translate_eval()
        if save_outputs:
            for name, image in zip(self.eval_names, outputs, strict=True):
                save_png(image, self.run_dir.eval_outputs / f"{name}.png")
        scores = self.score(outputs)
        return flat_row("eval/", scores), outputs

    def _write_sample_grid(self, mini_epoch: int, eval_outputs: np.ndarray | None = None) -> Path:
        """Sample photos, G of them, sample paintings, F of them. The sample photos are the first
        eval photos, so when this mini-epoch was evaluated G's row is taken from its outputs."""
        n_samples = len(self.sample_photos)
        photo_outputs = (eval_outputs[:n_samples] if eval_outputs is not None and len(eval_outputs) >= n_samples
                         else self.translate_sample_photos())
        grid = sample_grid([
            self.sample_photos, photo_outputs,
            self.sample_monets, self.translate_sample_monets(),
        ])
        path = self.run_dir.sample_grid(mini_epoch)
        save_png(grid, path)
        return path

    def _completed_row(self) -> dict[str, float]:
        history = self.run_dir.read_history()
        return {k: float(v) for k, v in history.iloc[-1].items()} if len(history) else {}


def convergence_figures(run: RunDir) -> dict[str, float]:
    """H1's convergence evidence from the cycle-loss curve over mini-epochs (DESIGN.md section 5)."""
    history = run.read_history()
    if history.empty or "loss/cycle" not in history:
        return {}
    curve = history.sort_values("mini_epoch")["loss/cycle"].to_numpy()
    figures = convergence_measures(curve)
    if KID in history and history[KID].notna().any():
        # H1's convergence read on quality: the mini-epoch from which KID stays within KID_MARGIN of its final value.
        kid = history.sort_values("mini_epoch")[["mini_epoch", KID]].dropna()
        figures[KID_EPOCHS_TO_MARGIN] = float(kid["mini_epoch"].iloc[epochs_to_within_margin(kid[KID].to_numpy(), KID_MARGIN) - 1])
    return figures

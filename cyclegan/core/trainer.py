"""The training loop: mini-epochs, samples, evaluation, checkpoints, resume.

Re-running the same config on the same run directory continues from the last checkpoint with the
same step count and the same data order (the pipeline is a stateless function of the step). A
non-finite loss stops the run naming the step and the loss; the last good checkpoint stays.
Tracking (MLflow) and pruning (Optuna) attach as :class:`Callback` objects: this module imports
neither.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
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
from cyclegan.core.rundir import RunDir, flat_row
from cyclegan.core.step import (
    Networks,
    build_networks,
    build_optimizers,
    make_train_step,
)
from cyclegan.core.translate import Translator
from cyclegan.data.images import sample_grid, save_png
from cyclegan.metrics import score_batch
from cyclegan.metrics.convergence import convergence_measures
from cyclegan.names import STEP_METRICS
from cyclegan.signals import graceful_stop
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


def train(config: RunConfig, run_dir: str | Path, callbacks: tuple[Callback, ...] = (), *, progress: bool = True) -> RunResult:
    """Train (or resume) one run of ``config`` in ``run_dir``; see the module docstring.

    Ctrl-C or SIGTERM stops at the next step boundary: a checkpoint is written at that step and
    KeyboardInterrupt is raised (a second signal interrupts at once)."""
    run = RunDir(Path(run_dir))
    run.check_compatible(config)
    device.configure(config.train.precision)
    keras.utils.set_random_seed(config.train.seed)
    # Everything that can fail on bad input fails here, before the run directory is written.
    split = prepare_split(config.data, config.train.batch_size)
    nets = build_networks(config)
    opts = build_optimizers(config, nets)
    run.claim(config)

    state = _State()
    checkpoint = tf.train.Checkpoint(
        gen_g=nets.gen_g, gen_f=nets.gen_f, disc_monet=nets.disc_monet, disc_photo=nets.disc_photo,
        opt_generators=opts.generators, opt_discriminators=opts.discriminators,
        step=state.step, mini_epoch=state.mini_epoch, partial_steps=state.partial_steps, partial_sums=state.partial_sums,
    )
    manager = tf.train.CheckpointManager(checkpoint, run.checkpoints, max_to_keep=config.train.keep_checkpoints)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    resumed_from = int(state.mini_epoch.numpy())
    run.truncate_history(resumed_from)
    for callback in callbacks:
        callback.on_run_start(run, config, resumed_from)

    loop = _Loop(config, run, split, nets, make_train_step(config, nets, opts), state, manager, callbacks, progress)
    final_metrics = {**loop.run(), **convergence_figures(run)}
    _save_generators(run, nets)
    result = RunResult(run, config, int(state.mini_epoch.numpy()), int(state.step.numpy()), resumed_from, final_metrics)
    for callback in callbacks:
        callback.on_run_end(result)
    return result


class _Loop:
    def __init__(self, config, run, split: DataSplit, nets: Networks, step_fn, state: _State, manager, callbacks, progress):
        self.config, self.run_dir, self.split, self.nets = config, run, split, nets
        self.step_fn, self.state, self.manager, self.callbacks = step_fn, state, manager, callbacks
        self.progress = progress
        self.steps_per_mini_epoch = steps_per_mini_epoch(split, config.train)
        size, holdout = config.data.image_size, split.holdout
        n_samples, n_eval = config.train.sample_images, config.eval.images
        self.sample_photos = load_images(holdout["photo"][:n_samples], size)
        self.sample_monets = load_images(holdout["monet"][:n_samples], size)
        self.eval_names = [p.stem for p in holdout["photo"][:n_eval]]
        self.eval_photos = load_images(holdout["photo"][:n_eval], size)
        self.eval_monets = load_images(holdout["monet"][:n_eval], size)
        self.translate_g = Translator(nets.gen_g)
        self.translate_f = Translator(nets.gen_f)

    def run(self) -> dict[str, float]:
        with graceful_stop() as self.stop:
            try:
                return self._run()
            except KeyboardInterrupt:
                if int(self.state.step.numpy()) > self._saved_step():
                    self.manager.save(checkpoint_number=int(self.state.step.numpy()))
                raise

    def _honour_stop(self) -> None:
        """Called at step boundaries: a requested stop becomes the KeyboardInterrupt that checkpoints."""
        if self.stop.requested is not None:
            raise KeyboardInterrupt(f"signal {self.stop.requested}")

    def _saved_step(self) -> int:
        latest = self.manager.latest_checkpoint
        return int(latest.rsplit("-", 1)[1]) if latest else -1

    def _run(self) -> dict[str, float]:
        train, state = self.config.train, self.state
        last_row: dict[str, float] = {}
        batches = iter(training_dataset(self.split, self.config.data, train, start_step=int(state.step.numpy())))
        for mini_epoch in range(int(state.mini_epoch.numpy()) + 1, train.mini_epochs + 1):
            started = time.perf_counter()
            done = int(state.partial_steps.numpy())
            bar = tqdm(range(done, self.steps_per_mini_epoch), desc=f"mini-epoch {mini_epoch}/{train.mini_epochs}",
                       disable=not self.progress, leave=False, dynamic_ncols=True)
            for _ in bar:
                photo, monet = next(batches)
                values = {k: float(v) for k, v in self.step_fn(photo, monet).items()}
                self._check_finite(values, state.step.numpy() + 1)
                state.partial_sums.assign_add([values[k] for k in STEP_METRICS])
                state.partial_steps.assign_add(1)
                state.step.assign_add(1)
                self._honour_stop()
                bar.set_postfix({"cycle": f"{values['loss/cycle']:.3f}", "G": f"{values['loss/gen_g']:.3f}",
                                 "D": f"{values['loss/disc_monet']:.3f}"}, refresh=False)
            row = {"mini_epoch": mini_epoch, "step": int(state.step.numpy()), "seconds": time.perf_counter() - started}
            row.update(zip(STEP_METRICS, (state.partial_sums.numpy() / int(state.partial_steps.numpy())).tolist(), strict=True))
            state.mini_epoch.assign(mini_epoch)
            state.partial_steps.assign(0)
            state.partial_sums.assign(tf.zeros_like(state.partial_sums))
            is_last = mini_epoch == train.mini_epochs
            if is_last or (self.config.eval.every and mini_epoch % self.config.eval.every == 0):
                row.update(self._evaluate(save_outputs=is_last))
            grid_path = self._write_sample_grid(mini_epoch)
            self.run_dir.append_history(row)
            if is_last or mini_epoch % train.checkpoint_every == 0:
                self.manager.save(checkpoint_number=row["step"])
            last_row = row
            record = MiniEpochRecord(mini_epoch, row["step"], row, grid_path)
            for callback in self.callbacks:
                callback.on_mini_epoch_end(record)
            self._honour_stop()
        return last_row or self._completed_row()

    def _check_finite(self, values: dict[str, float], step: int) -> None:
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            name, value = next(iter(bad.items()))
            raise NonFiniteLossError(
                f"run {self.run_dir.root}: step {step}: {name} = {value} "
                f"(non-finite: {', '.join(bad)}); the last good checkpoint is kept: {self.manager.latest_checkpoint}"
            )

    def _evaluate(self, *, save_outputs: bool) -> dict[str, float]:
        """Translate the held-out photos with G and score them against their inputs (grid,
        sharpness, collapse) and against held-out paintings (distribution distance)."""
        outputs = self.translate_g(self.eval_photos)
        if save_outputs:
            for name, image in zip(self.eval_names, outputs, strict=True):
                save_png(image, self.run_dir.eval_outputs / f"{name}.png")
        scores = score_batch(outputs, self.eval_photos, target=self.eval_monets, seed=self.config.train.seed)
        return flat_row("eval/", scores)

    def _write_sample_grid(self, mini_epoch: int) -> Path:
        grid = sample_grid([
            self.sample_photos, self.translate_g(self.sample_photos),
            self.sample_monets, self.translate_f(self.sample_monets),
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
    return convergence_measures(curve)


def _save_generators(run: RunDir, nets: Networks) -> None:
    run.models.mkdir(parents=True, exist_ok=True)
    for model in (nets.gen_g, nets.gen_f):
        target = run.generator_file(model.name)
        tmp = target.with_name(f".{target.stem}.tmp.keras")
        model.save(tmp)
        tmp.replace(target)  # a crash mid-save never leaves a broken model under the final name

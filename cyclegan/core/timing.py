"""Where a run's wall time went: training steps, and everything outside them. One stopwatch the
trainer passes its laps to, and pure functions of the run's history and that stopwatch, without
TensorFlow, so the tracker can use them too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cyclegan.names import (
    BUILD_SECONDS,
    CALLBACK_SECONDS,
    CHECKPOINT_SECONDS,
    EVAL_SECONDS,
    EVAL_TOTAL_SECONDS,
    FINISH_SECONDS,
    FIRST_STEP_SECONDS,
    OUTSIDE_SECONDS,
    OUTSIDE_SHARE,
    SAMPLES_SECONDS,
    SAMPLES_TOTAL_SECONDS,
    SAVE_SECONDS,
    TRACING_TOTAL_SECONDS,
    TRAIN_SECONDS,
)

if TYPE_CHECKING:
    from cyclegan.core.runfolder.layout import RunDir


class Lap:
    """One timed span: :meth:`stop` adds it to its stopwatch's total for its name and returns its seconds."""

    def __init__(self, watch: Stopwatch, name: str):
        self.watch, self.name, self.seconds = watch, name, 0.0
        self._start = time.perf_counter()

    def stop(self) -> float:
        self.seconds = time.perf_counter() - self._start
        self.watch.add(self.name, self.seconds)
        return self.seconds


class Stopwatch:
    """Seconds per named part of a run (the names of ``cyclegan.names``' time/* figures), summed over
    laps: ``with watch.lap(NAME) as lap:`` times a block (``lap.seconds`` is that block's own, for a
    per-row figure); ``watch.start(NAME)`` ... ``.stop()`` times a span that is no block."""

    def __init__(self) -> None:
        self._totals: dict[str, float] = {}

    def start(self, name: str) -> Lap:
        return Lap(self, name)

    @contextmanager
    def lap(self, name: str) -> Iterator[Lap]:
        lap = Lap(self, name)
        try:
            yield lap
        finally:
            lap.stop()

    def add(self, name: str, seconds: float) -> None:
        self._totals[name] = self._totals.get(name, 0.0) + seconds

    def total(self, name: str) -> float:
        return self._totals.get(name, 0.0)


def run_time_figures(run: RunDir, watch: Stopwatch) -> dict[str, float]:
    """:func:`time_figures` from the trainer's stopwatch (laps named BUILD, SAVE, CHECKPOINT, CALLBACK
    and FINISH_SECONDS)."""
    return time_figures(run, build_seconds=watch.total(BUILD_SECONDS), save_seconds=watch.total(SAVE_SECONDS),
                        checkpoint_seconds=watch.total(CHECKPOINT_SECONDS), callback_seconds=watch.total(CALLBACK_SECONDS),
                        finish_seconds=watch.total(FINISH_SECONDS))


def time_figures(run: RunDir, *, build_seconds: float, save_seconds: float, checkpoint_seconds: float,
                 callback_seconds: float = 0.0, finish_seconds: float = 0.0) -> dict[str, float]:
    """Where a run's wall time went, in seconds: training steps, and outside them: build and restore,
    each process's first step (tracing, compiling), evaluation and sample grids (summed over
    history.csv, so a resumed run's earlier rows count), checkpoints, the callbacks after each
    mini-epoch (tracking, pruning), finishing (the input pipeline closed, convergence figures) and
    saving the generators of this process."""
    history = run.read_history()
    column = lambda name: float(history[name].sum()) if name in history else 0.0  # noqa: E731
    first_steps, evaluation, samples = column(FIRST_STEP_SECONDS), column(EVAL_SECONDS), column(SAMPLES_SECONDS)
    train_seconds = column("seconds") - first_steps
    outside = build_seconds + save_seconds + checkpoint_seconds + callback_seconds + finish_seconds + first_steps + evaluation + samples
    return {BUILD_SECONDS: build_seconds, SAVE_SECONDS: save_seconds, CHECKPOINT_SECONDS: checkpoint_seconds,
            CALLBACK_SECONDS: callback_seconds, FINISH_SECONDS: finish_seconds, TRAIN_SECONDS: train_seconds,
            TRACING_TOTAL_SECONDS: first_steps, EVAL_TOTAL_SECONDS: evaluation, SAMPLES_TOTAL_SECONDS: samples,
            OUTSIDE_SECONDS: outside, OUTSIDE_SHARE: _share(outside, train_seconds)}


def with_outside_seconds(times: dict[str, float], seconds: float) -> dict[str, float]:
    """``times`` (from :func:`time_figures`) with ``seconds`` more spent outside training (the tracker's
    artifact and model logging, which comes after the trainer's figures are final)."""
    outside = times[OUTSIDE_SECONDS] + seconds
    return {**times, OUTSIDE_SECONDS: outside, OUTSIDE_SHARE: _share(outside, times[TRAIN_SECONDS])}


def _share(outside: float, train: float) -> float:
    total = train + outside
    return outside / total if total > 0 else 0.0

"""Where a run's wall time went: training steps, and everything outside them. Pure functions of the
run's history and the trainer's clocks, without TensorFlow, so the tracker can use them too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cyclegan.names import (
    BUILD_SECONDS,
    CALLBACK_SECONDS,
    CHECKPOINT_SECONDS,
    EVAL_SECONDS,
    FINISH_SECONDS,
    FIRST_STEP_SECONDS,
    OUTSIDE_SECONDS,
    OUTSIDE_SHARE,
    SAMPLES_SECONDS,
    SAVE_SECONDS,
    TRAIN_SECONDS,
)

if TYPE_CHECKING:
    from cyclegan.core.rundir import RunDir


def time_figures(run: RunDir, *, build_seconds: float, save_seconds: float, checkpoint_seconds: float,
                 callback_seconds: float = 0.0, finish_seconds: float = 0.0) -> dict[str, float]:
    """Where a run's wall time went, in seconds: training steps, and outside them: build and restore,
    each process's first step (tracing, compiling), evaluation and sample grids (summed over
    history.csv, so a resumed run's earlier rows count), checkpoints, the callbacks after each
    mini-epoch (tracking, pruning), finishing (the input pipeline closed, convergence figures) and
    saving the generators of this process."""
    history = run.read_history()
    column = lambda name: float(history[name].sum()) if name in history else 0.0  # noqa: E731
    first_steps = column(FIRST_STEP_SECONDS)
    train_seconds = column("seconds") - first_steps
    outside = (build_seconds + save_seconds + checkpoint_seconds + callback_seconds + finish_seconds + first_steps
               + column(EVAL_SECONDS) + column(SAMPLES_SECONDS))
    return {BUILD_SECONDS: build_seconds, SAVE_SECONDS: save_seconds, CHECKPOINT_SECONDS: checkpoint_seconds,
            CALLBACK_SECONDS: callback_seconds, FINISH_SECONDS: finish_seconds, TRAIN_SECONDS: train_seconds,
            OUTSIDE_SECONDS: outside, OUTSIDE_SHARE: _share(outside, train_seconds)}


def with_outside_seconds(times: dict[str, float], seconds: float) -> dict[str, float]:
    """``times`` (from :func:`time_figures`) with ``seconds`` more spent outside training (the tracker's
    artifact and model logging, which comes after the trainer's figures are final)."""
    outside = times[OUTSIDE_SECONDS] + seconds
    return {**times, OUTSIDE_SECONDS: outside, OUTSIDE_SHARE: _share(outside, times[TRAIN_SECONDS])}


def _share(outside: float, train: float) -> float:
    total = train + outside
    return outside / total if total > 0 else 0.0

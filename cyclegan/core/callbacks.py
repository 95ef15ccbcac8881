"""What the trainer tells the layers above it, without TensorFlow: the callback hooks and records.

Tracking (MLflow, ``cyclegan.runs.tracking``) and pruning (Optuna, ``cyclegan.runs.tune``) implement
:class:`Callback`; they import this module, never the trainer, so reading runs never loads TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cyclegan.errors import CycleganError

if TYPE_CHECKING:
    from cyclegan.core.runfolder.layout import RunDir
    from cyclegan.spec.config import RunConfig


class NonFiniteLossError(CycleganError, FloatingPointError):
    """A loss became NaN or infinite; the message names the run, step and loss."""


@dataclass(frozen=True)
class MiniEpochRecord:
    """What one finished mini-epoch produced; ``metrics`` holds the history row's values."""

    mini_epoch: int
    step: int
    metrics: dict[str, float]
    sample_grid: Path


@dataclass(frozen=True)
class RunResult:
    run_dir: RunDir
    config: RunConfig
    mini_epochs: int
    steps: int
    resumed_from: int
    """Mini-epoch restored from a checkpoint (0 for a fresh run)."""
    final_metrics: dict[str, float] = field(default_factory=dict)


class Callback:
    """Hooks for tracking and pruning; every method may raise to stop the run."""

    def on_run_start(self, run_dir: RunDir, config: RunConfig, resumed_from: int) -> None: ...

    def on_mini_epoch_end(self, record: MiniEpochRecord) -> None: ...

    def on_run_end(self, result: RunResult) -> None: ...

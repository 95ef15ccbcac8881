"""The report's data model: what a report holds, and the metric selections it shows.

The bottom of the report package: :mod:`basis`, :mod:`figures`, :mod:`render` and :mod:`build`
import it, it imports none of them (a chain, not a circle).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cyclegan import names
from cyclegan.analysis.verdict import Verdict
from cyclegan.errors import CycleganError
from cyclegan.spec.study import Study

KEY_METRICS = ("eval/grid_score", "eval/edge_sigma", "eval/edge_f1", "eval/input_identifiability", "eval/shared_texture",
               "eval/collapse_kind", "eval/contrast_ratio", "eval/collapsed", "eval/swd", "convergence/cycle_auc",
               "convergence/cycle_epochs_to_half")
# Quality against the target domain (eval.quality_every > 0, docs/metrics.md): shown where any run has them.
QUALITY_SHOWN = (names.KID, names.FID, names.PRECISION, names.RECALL, names.KID_EPOCHS_TO_MARGIN)
TABLE_METRICS = (*KEY_METRICS, "loss/cycle", "convergence/cycle_epochs_to_10pct", "eval/black_fraction", *QUALITY_SHOWN)
CURVE_METRICS = (names.CYCLE_LOSS, names.GRID_SCORE, names.KID, names.MINI_EPOCH_SECONDS)
STATUS_RANK = {"FINISHED": 4, "RUNNING": 3, "SCHEDULED": 2, "KILLED": 1, "FAILED": 0}


class ReportError(CycleganError, RuntimeError):
    """There is nothing to report on (no store, no experiment, no runs of this study file)."""


@dataclass(frozen=True)
class Interaction:
    factor_a: str
    factor_b: str
    metric: str
    table: pd.DataFrame  # 2x2 means; attrs: contrast, p_value, p_method


@dataclass
class Report:
    study: Study
    tracking_uri: str  # credentials masked
    runs: pd.DataFrame  # one row per cell of the current file that has a run (best status kept)
    ignored_runs: int  # runs of the experiment that are not cells of the current file
    cells: pd.DataFrame  # one row per factor-level combination: counts and <metric>_mean/_ci_low/_ci_high
    verdicts: list[Verdict]
    interactions: list[Interaction]
    missing: pd.DataFrame  # cells without a finished run: cell, seed, levels, state, reason
    basis: dict[str, str]  # what the report is based on, in display order
    warnings: list[str]
    histories: dict[str, pd.DataFrame] = field(default_factory=dict)  # run_id -> curves by mini-epoch
    created: str = ""

    @property
    def finished(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "FINISHED"]

    @property
    def factors(self) -> list[str]:
        return list(self.study.factors)


@dataclass
class ReportFiles:
    report: Report
    out_dir: Path
    files: list[Path]  # report.md / report.html
    figures: list = field(default_factory=list)  # figures.FigureFile


def combinations(study: Study) -> list[dict[str, str]]:
    """Every factor-level combination in the study's order."""
    return [dict(zip(study.factors, combo, strict=True)) for combo in itertools.product(*study.factors.values())]

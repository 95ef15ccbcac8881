"""The study report: was each hypothesis confirmed? Data assembly and verdicts.

``make_report`` reads the study's cell runs from MLflow (``RunReader.load_study_runs``), keeps only the
cells of the CURRENT study file (an edited file has new cell ids, so old results never mix in),
summarises every factor-level combination over its seeds (``stats.summarise_cells``), decides every
declared hypothesis on FINISHED runs only (``verdict.evaluate``, the other factors as strata), builds
2x2 interaction tables, the basis and warnings (``report_basis``), then hands over to
``report_figures`` (PNGs) and ``report_render`` (Markdown, HTML, terminal). Artifacts come from
MLflow first (a report can be made on another machine from a tracking server) and from the local
run directory ``RUNS_DIR/<study>/cells/<cell>/`` otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from cyclegan import names
from cyclegan.analysis.family import EXPLORATORY_DECLARED, EXPLORATORY_LATE
from cyclegan.analysis.settle import family_over_training
from cyclegan.analysis.stats import interaction_table, summarise_cells
from cyclegan.masking import mask
from cyclegan.metrics.convergence import convergence_measures
from cyclegan.names import OUTSIDE_SHARE, RUN_SECONDS
from cyclegan.report import basis as report_basis
from cyclegan.report import figures as report_figures
from cyclegan.report import render as report_render
from cyclegan.report.model import (
    CURVE_METRICS,
    STATUS_RANK,
    TABLE_METRICS,
    Interaction,
    Report,
    ReportError,
    ReportFiles,
    combinations,
)
from cyclegan.runs.queue import read_local_queue
from cyclegan.runs.reader import RunReader
from cyclegan.runs.store import connect, missing_store
from cyclegan.spec import preregistration
from cyclegan.spec.study import Study


def make_report(study: Study, runs_dir: Path, *, out_dir: Path | None = None, formats=("md", "html"),
                reader: RunReader | None = None, machine: str | None = None) -> ReportFiles:
    """Build the report of ``study`` and write ``report.md`` / ``report.html`` and figures to ``out_dir``
    (default ``RUNS_DIR/<study>/report``). Raises ReportError when there is nothing to report on."""
    reader = reader or open_reader(runs_dir)
    out_dir = out_dir or names.report_dir(runs_dir, study.name)
    report = collect(study, reader, runs_dir, machine=machine)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cyclegan-report-") as work:
        artifacts = report_figures.RunArtifacts(reader, study, runs_dir, Path(work))
        figures = report_figures.make_figures(report, artifacts, out_dir)
    files = report_render.write(report, figures, out_dir, formats)
    return ReportFiles(report, out_dir, files, figures)


def open_reader(runs_dir: Path) -> RunReader:
    """A reader on the store of ``runs_dir``; ReportError when nothing was ever run there."""
    database = missing_store(runs_dir)
    if database is not None:
        raise ReportError(f"no MLflow store at {database}: nothing has been run with --runs-dir {runs_dir}")
    return RunReader(connect(runs_dir))  # raises TrackingError (a CycleganError) when the store does not answer


def collect(study: Study, reader: RunReader, runs_dir: Path, *, machine: str | None = None) -> Report:
    """Everything but the pictures: runs, per-cell summary, verdicts, interactions, basis, warnings."""
    uri = mask(reader.uri)
    all_runs = reader.load_study_runs(study.name)
    if all_runs is None:
        raise ReportError(f"study {study.name!r} ({study.path}): no MLflow experiment named {study.name!r} in {uri}; "
                          f"train it first: cyclegan ablate {study.path}")
    wanted = {c.cell_id for c in study.cells}
    mine = all_runs[all_runs["cell"].isin(wanted)] if "cell" in all_runs else all_runs.iloc[:0]
    if mine.empty:
        raise ReportError(" ".join([f"study {study.name!r} ({study.path}): MLflow experiment {study.name!r} in {uri} has no run of "
                                    f"this file's {len(wanted)} cells ({len(all_runs)} runs of other versions of the file ignored).",
                                    *report_basis.ignored_runs_hint(all_runs, study)]))
    runs = _typed(_best_per_cell(mine), study)
    histories = {r["run_id"]: _history(reader, r["run_id"]) for r in runs.to_dict("records")}
    runs[RUN_SECONDS] = [_run_seconds(histories[r["run_id"]], r) for r in runs.to_dict("records")]
    finished = runs[runs["status"] == "FINISHED"]
    metrics = _metrics_shown(study)
    long = _hypothesis_histories(reader, study, finished, histories)
    record = _hypotheses_record(reader, study, runs_dir)
    verdicts = family_over_training(finished, long, study.hypotheses, list(study.factors), seed=0,
                                    exploratory=exploratory_hypotheses(study, record), method=study.correction)
    late = preregistration.late_or_changed(record, study.hypotheses)
    verdicts = [dataclasses.replace(v, changed=late.get(v.name, "")) for v in verdicts]
    queue_states, queue_reasons = _queue(study, runs_dir)
    missing = _missing(study, runs, queue_states, queue_reasons)
    report = Report(study=study, tracking_uri=uri, runs=runs, ignored_runs=len(all_runs) - len(mine),
                    cells=_cells(study, runs, metrics), verdicts=verdicts,
                    interactions=_interactions(study, finished), missing=missing, basis={}, warnings=[],
                    histories=histories, created=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    report.basis = report_basis.basis(report, machine)
    report.warnings = report_basis.ignored_runs_hint(all_runs.drop(mine.index), study) + report_basis.warnings(report)
    if record is None and study.hypotheses:
        report.warnings.append("no record of the hypotheses made before training was found (a study trained before "
                               "records were kept): every hypothesis in the file is taken as confirmatory")
    return report


def _hypotheses_record(reader: RunReader, study: Study, runs_dir: Path) -> dict | None:
    """The hypotheses recorded when the study's first cell started: the parent run's copy (a report may be
    made on another machine), else the runs folder's; None when neither exists."""
    found = reader.parent_json(study.name, preregistration.RECORD_FILE)
    local = runs_dir / study.name / preregistration.RECORD_FILE
    if found is None and local.is_file():
        try:
            found = json.loads(local.read_text(encoding="utf-8"))
        except ValueError:
            found = None
    return found


def exploratory_hypotheses(study: Study, record: dict | None) -> dict[str, str]:
    """{name: why} of the hypotheses outside the confirmatory family: declared `exploratory: true`, or
    added or changed after the record made before training."""
    late = preregistration.late_or_changed(record, study.hypotheses)
    return {h.name: EXPLORATORY_LATE if h.name in late else EXPLORATORY_DECLARED
            for h in study.hypotheses if h.name in late or h.exploratory}


def _best_per_cell(runs: pd.DataFrame) -> pd.DataFrame:
    """A cell normally has one run (resumes reuse it); with several, FINISHED beats the rest, then the latest."""
    rank = runs["status"].map(STATUS_RANK).fillna(-1)
    order = runs.assign(_rank=rank).sort_values(["_rank", "start_time"], ascending=False)
    return order.drop_duplicates("cell").drop(columns="_rank").reset_index(drop=True)


def _typed(runs: pd.DataFrame, study: Study) -> pd.DataFrame:
    runs = runs.copy()
    cells = {c.cell_id: c for c in study.cells}  # the study file is the truth for levels and seeds
    for key in study.factors:
        runs[key] = runs["cell"].map(lambda c, k=key: cells[c].levels[k]).astype(object)
    runs["seed"] = runs["cell"].map(lambda c: cells[c].seed).astype(int)
    order = {c.cell_id: i for i, c in enumerate(study.cells)}
    runs = runs.sort_values("cell", key=lambda col: col.map(order)).reset_index(drop=True)
    for m in {*TABLE_METRICS, *(h.metric for h in study.hypotheses)}:
        runs[m] = pd.to_numeric(runs[m], errors="coerce") if m in runs else np.nan
    return runs


def _history(reader: RunReader, run_id: str) -> pd.DataFrame:
    return pd.DataFrame({k: reader.metric_history(run_id, k) for k in CURVE_METRICS}).sort_index()


def _hypothesis_histories(reader: RunReader, study: Study, finished: pd.DataFrame,
                          histories: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per finished run and logged mini-epoch: the factor levels, seed, ``mini_epoch`` and every
    hypothesis metric at that mini-epoch. A convergence/* metric exists only at the end of a run, so its
    value at mini-epoch t is recomputed from the first t points of the run's cycle-loss curve (what the
    run would have reported had it stopped there)."""
    metrics = list(dict.fromkeys(h.metric for h in study.hypotheses))
    curves = [m for m in metrics if m in names.CONVERGENCE_METRICS]
    frames = []
    for run in finished.to_dict("records"):
        columns = {m: reader.metric_history(run["run_id"], m) for m in metrics if m not in curves}
        if curves:
            loss = histories.get(run["run_id"], pd.DataFrame()).get(names.CYCLE_LOSS, pd.Series(dtype=float)).dropna()
            prefixes = {int(t): convergence_measures(loss.loc[:t].to_numpy()) for t in loss.index}
            columns.update({m: pd.Series({t: v[m] for t, v in prefixes.items()}, dtype=float) for m in curves})
        frame = pd.DataFrame(columns).rename_axis("mini_epoch").reset_index()
        for key in (*study.factors, "seed"):
            frame[key] = run[key]
        frames.append(frame)
    columns = ["mini_epoch", *study.factors, "seed", *metrics]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _run_seconds(history: pd.DataFrame, run: dict) -> float:
    seconds = history["time/mini_epoch_seconds"].dropna() if "time/mini_epoch_seconds" in history else pd.Series()
    if len(seconds):
        return float(seconds.sum())
    if run["status"] == "FINISHED" and pd.notna(run["end_time"]) and pd.notna(run["start_time"]):
        return float(run["end_time"] - run["start_time"]) / 1000.0
    return float("nan")


def _metrics_shown(study: Study) -> list[str]:
    return list(dict.fromkeys([*TABLE_METRICS, *(h.metric for h in study.hypotheses), RUN_SECONDS, OUTSIDE_SHARE]))


def _cells(study: Study, runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    factors = list(study.factors)
    summary = summarise_cells(runs, factors, metrics)  # n_failed there = anything not FINISHED
    full = pd.DataFrame(combinations(study)).merge(summary, on=factors, how="left")
    status = runs.groupby(factors)["status"]
    # KILLED is what Ctrl-C or SIGTERM leaves (cyclegan.runs.ablation): interrupted, resumed by a re-run, not failed.
    for name, states in (("n_failed", ("FAILED",)), ("n_interrupted", ("KILLED",)), ("n_running", ("RUNNING", "SCHEDULED"))):
        counts = status.apply(lambda s, st=states: int(s.isin(st).sum())).rename(name).reset_index()
        full = full.drop(columns=[name], errors="ignore").merge(counts, on=factors, how="left")
    for col in ("n_runs", "n_finished", "n_failed", "n_interrupted", "n_running", "n_seeds"):
        full[col] = full[col].fillna(0).astype(int) if col in full else 0
    full["n_missing"] = len(study.seeds) - full["n_runs"]
    return full


def _interactions(study: Study, finished: pd.DataFrame) -> list[Interaction]:
    """2x2 tables of means for every pair of two-level factors and every hypothesis metric."""
    two = [f for f, levels in study.factors.items() if len(levels) == 2]
    metrics = list(dict.fromkeys(h.metric for h in study.hypotheses)) or ["eval/grid_score"]
    out = []
    if finished.empty:
        return out
    for fa, fb in itertools.combinations(two, 2):
        rest = [f for f in study.factors if f not in (fa, fb)]
        for m in metrics:
            table = interaction_table(finished, fa, fb, m, levels_a=study.factors[fa], levels_b=study.factors[fb],
                                      other_factors=rest, seed=0)
            out.append(Interaction(fa, fb, m, table))
    return out


def _queue(study: Study, runs_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Cell states and failure reasons from the local Optuna queue, when there is one (best effort)."""
    path = runs_dir / names.OPTUNA_DB
    return read_local_queue(study, names.sqlite_url(path)) if path.exists() else ({}, {})


def _missing(study: Study, runs: pd.DataFrame, states: dict[str, str], reasons: dict[str, str]) -> pd.DataFrame:
    by_cell = runs.set_index("cell")
    rows = []
    for cell in study.cells:
        if cell.cell_id in by_cell.index:
            run = by_cell.loc[cell.cell_id]
            if run["status"] == "FINISHED":
                continue
            reason = run.get("failure_reason")
            state, reason = run["status"], reason if isinstance(reason, str) and reason else reasons.get(cell.cell_id, "")
        else:
            state = f"no run (queue: {states[cell.cell_id]})" if cell.cell_id in states else "no run"
            reason = reasons.get(cell.cell_id, "")
        rows.append({"cell": cell.cell_id, "seed": cell.seed, **cell.levels, "state": state, "reason": reason})
    return pd.DataFrame(rows, columns=["cell", "seed", *study.factors, "state", "reason"])

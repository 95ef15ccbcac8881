"""What a report rests on and what it warns about: the settings and machines behind its runs, a
stand-in weights file, missing cells, and runs it could not match to the study file."""

from __future__ import annotations

import math
import re
from pathlib import Path

from cyclegan.host import describe_cpu
from cyclegan.names import (
    CODE_TAG,
    INCEPTION_STANDIN_TAG,
    KID_EPOCHS_TO_MARGIN,
    MACHINE_TAG,
    PRECISION_TAG,
    QUALITY_METRICS,
    TIME_TO_MARK_METRICS,
    VERSION_TAG,
)
from cyclegan.report import machine_use
from cyclegan.report.model import Report
from cyclegan.spec.identity import file_fingerprint
from cyclegan.spec.study import Study

_RANDOM_WEIGHTS = re.compile(r"standin|stand-in|random", re.IGNORECASE)


def ignored_runs_hint(ignored, study: Study) -> list[str]:
    """Why runs of the experiment are not this file's cells, when it is one of the usual slips. A cell's
    identity holds the *content* of its data index and weights file, not their paths: the report
    must see the same files. So: a data index that does not exist from here (a relative ``data.root``
    read from another directory), or a weights file set for training (``CYCLEGAN_IMAGENET_WEIGHTS``)
    whose content differs from the one this report reads (another path to the same file is fine)."""
    if ignored.empty:
        return []
    hints = []
    indexes = sorted({Path(cell.config.data.root) / "data.csv" for cell in study.cells})
    missing = [str(index) for index in indexes if file_fingerprint(str(index)) == "missing"]
    if missing:
        hints.append(f"{len(ignored)} run(s) of this experiment were not matched, and the data index "
                     f"{', '.join(missing)} does not exist from {Path.cwd()}: a cell's identity includes the "
                     "index's content, so run the report where the data is, or pass --set data.root=<the data folder>.")
    column = "params.generator.imagenet_weights"
    if column not in ignored:
        return hints
    current = {str(cell.config.generator.imagenet_weights) for cell in study.cells}
    current_content = {file_fingerprint(path) for path in current}
    # A recorded path that cannot be read from here (relative to where training ran) cannot be compared;
    # when the data index is already missing, that is the likelier cause and the weights go unmentioned.
    recorded = {path: file_fingerprint(path) for path in {str(v) for v in ignored[column].dropna()} - current}
    trained_with = sorted(path for path, content in recorded.items()
                          if content not in current_content and not (missing and content == "missing"))
    if trained_with:
        hints.append(f"{len(ignored)} run(s) of this experiment were trained with generator.imagenet_weights = "
                     f"{', '.join(trained_with)}, while this report looks for cells with {', '.join(sorted(current))}. "
                     "To report on them, set it as in training: export CYCLEGAN_IMAGENET_WEIGHTS=<that file> "
                     "(or --set generator.imagenet_weights=<that file>).")
    return hints


def param_values(report: Report, key: str) -> list[str]:
    """Distinct values of a config key over the runs (params), else from the study file's base."""
    col = f"params.{key}"
    if col in report.runs and report.runs[col].notna().any():
        return sorted({str(v) for v in report.runs[col].dropna()})
    return [str(report.study.base.flat().get(key))]


def _one(report: Report, key: str) -> str:
    values = param_values(report, key)
    return values[0] if len(values) == 1 else " | ".join(values) + " (varies)"


def basis(report: Report, machine: str | None) -> dict[str, str]:
    s, runs = report.study, report.runs
    n_status = runs["status"].value_counts()
    steps = _one(report, "train.steps_per_mini_epoch")
    total = (f" = {int(_one(report, 'train.mini_epochs')) * int(steps)} steps"
             if steps.isdigit() and _one(report, "train.mini_epochs").isdigit() else "")
    return {
        "experiment file": str(s.path),
        "study": s.name + (f" — {s.description}" if s.description else ""),
        "tracking store": f"{report.tracking_uri} (MLflow experiment {s.name!r})",
        "design": f"{math.prod(len(v) for v in s.factors.values())} combinations of " + ", ".join(f"{k} [{', '.join(v)}]" for k, v in s.factors.items())
                  + f" x seeds {list(s.seeds)} = {len(s.cells)} cells",
        "runs": (f"{len(runs)} runs of this file's cells: {int(n_status.get('FINISHED', 0))} finished, "
                 f"{int(n_status.get('FAILED', 0))} failed, "
                 + (f"{int(n_status.get('KILLED', 0))} interrupted (a re-run of ablate resumes them), " if n_status.get("KILLED", 0) else "")
                 + f"{int(n_status.get('RUNNING', 0))} running; {len(report.missing)} cells without a finished run"
                 + (f"; {report.ignored_runs} run(s) of other versions of the file ignored" if report.ignored_runs else "")),
        "data": f"{_one(report, 'data.root')}, image size {_one(report, 'data.image_size')}, "
                f"holdout {_one(report, 'data.holdout')}, {_one(report, 'eval.images')} held-out photos scored",
        "training": f"{_one(report, 'train.mini_epochs')} mini-epochs x {steps} steps{total}, batch {_one(report, 'train.batch_size')}",
        "precision": f"{_one(report, 'train.precision')}"
                     + (" (auto = mixed_bfloat16, mixed_float16 or float32 by device, resolved on the training machine)"
                        if "auto" in param_values(report, "train.precision") else "")
                     + f" (jit_compile {_one(report, 'train.jit_compile')}, "
                     f"fused generator calls {_one(report, 'train.fused_generator_calls')}, "
                     f"fused instance norm {_one(report, 'train.fused_instance_norm')})",
        "encoder": f"encoder_weights {_one(report, 'generator.encoder_weights')}, "
                   f"imagenet_weights {_one(report, 'generator.imagenet_weights')}",
        "code": "; ".join(f"{version} ({len(cells)} runs)" for version, cells in code_versions(report.runs).items()) or "not recorded",
        "training machines": _tag_summary(report, MACHINE_TAG),
        "machine use": machine_use.describe(report.runs),
        "precision used": _tag_summary(report, PRECISION_TAG),
        "machine (of this report)": machine if machine is not None else _describe_machine(),
        "statistics": "finished runs only; seed = unit of replication; effects within strata of the other factors",
        "generated": report.created,
    }


def _tag_summary(report: Report, tag: str) -> str:
    """Distinct values of a run tag with their run counts (runs from before the tag existed: unknown)."""
    column = tag  # load_study_runs puts each tag under its own name
    if column not in report.runs or report.runs[column].isna().all():
        return "not recorded"
    counts = report.runs[column].fillna("not recorded").value_counts()
    return "; ".join(f"{value} ({count} runs)" for value, count in counts.items())


def code_versions(runs) -> dict[str, list[str]]:
    """``<cyclegan version> (code <fingerprint>)`` -> the cells trained by it (runs.provenance tags;
    runs from before the tags existed: ``not recorded``)."""
    out: dict[str, list[str]] = {}
    if runs.empty or (VERSION_TAG not in runs and CODE_TAG not in runs):
        return out
    for row in runs.to_dict("records"):
        version, code = row.get(VERSION_TAG), row.get(CODE_TAG)
        known = isinstance(version, str) or isinstance(code, str)
        label = f"{version if isinstance(version, str) else '?'} (code {code if isinstance(code, str) else '?'})" if known else "not recorded"
        out.setdefault(label, []).append(str(row["cell"]))
    return out


def code_versions_warning(runs) -> list[str]:
    """One warning naming every code version when a study's cells were trained by more than one."""
    versions = code_versions(runs)
    if len(versions) < 2:
        return []
    listed = "; ".join(f"{label}: {', '.join(cells[:4])}{f' and {len(cells) - 4} more' if len(cells) > 4 else ''}"
                       for label, cells in versions.items())
    return [f"The cells were trained by {len(versions)} different code versions ({listed}). "
            "A difference between cells may come from the code, not the factors; retrain with one version to be sure."]


def _describe_machine() -> str:
    """The machine making the report (its CPU; the report loads no TensorFlow to look for GPUs)."""
    return describe_cpu()


def no_value_warnings(report: Report) -> list[str]:
    """Per hypothesis, the finished runs of its levels whose metric has no final value (so its n
    counts fewer runs than finished, down to ``n 0/0``), named, with why: it was NaN or infinite at
    the run's last evaluation (no edges to measure, an all-black output; logged as NaN), or, in runs
    of versions that logged finite values only, at every evaluation."""
    out = []
    finished = report.runs[report.runs["status"] == "FINISHED"]
    for h in report.study.hypotheses:
        levels = (h.level,) if h.is_bound else tuple(h.levels)
        chosen = finished[finished[h.factor].astype(str).isin(levels)]
        for factor, level in h.where.items():
            chosen = chosen[chosen[factor].astype(str) == level]
        empty = chosen[chosen[h.metric].isna()] if h.metric in chosen else chosen
        computed = h.metric not in (*QUALITY_METRICS, KID_EPOCHS_TO_MARGIN) or any(
            c.config.eval.quality_every for c in report.study.cells)
        why = why_no_value(h.metric, computed=computed)
        if not computed and len(chosen):  # one line: naming every run would say nothing more
            out.append(f"{h.name}: {h.metric} has no value in any of the {len(chosen)} finished run(s): {why}.")
            continue
        for level in levels:
            runs = empty[empty[h.factor].astype(str) == level]
            if len(runs):
                named = ", ".join(str(r) for r in runs["run_name"].head(5)) + (", ..." if len(runs) > 5 else "")
                out.append(f"{h.name}: {h.metric} has no value in {len(runs)} of the "
                           f"{int((chosen[h.factor].astype(str) == level).sum())} finished run(s) at {h.factor}={level} "
                           f"({named}): {why}; the hypothesis is judged without them, or not at all when its "
                           "levels lost different numbers of runs (docs/statistics.md, runs without a value).")
    return out


def why_no_value(metric: str, *, computed: bool) -> str:
    """Why runs have no final value of ``metric``, from what the metric is: the reason a user can act on.
    ``computed``: whether the study's config computes it at all (the quality metrics only with
    ``eval.quality_every`` > 0)."""
    if not computed:
        return "it is not computed in this study (eval.quality_every is 0: the quality metrics are off, docs/metrics.md)"
    if metric in TIME_TO_MARK_METRICS:  # right-censored (cyclegan.analysis.verdict.selection_bias)
        return "the run did not reach the mark within the training budget (censored: train longer)"
    return ("it was undefined (NaN or infinite) at their last evaluation, e.g. no edges to measure or an all-black "
            "output")


def warnings(report: Report) -> list[str]:
    out = code_versions_warning(report.runs)
    encoders = param_values(report, "generator.encoder_weights")
    files = [v for v in param_values(report, "generator.imagenet_weights") if v not in ("None", "", "nan")]
    if "imagenet" in encoders:
        for path in files:
            out.append(f"The 'imagenet' encoder was loaded from the file {path}, not from Keras' ImageNet download.")
            if _RANDOM_WEIGHTS.search(Path(path).name):
                h1 = "generator.encoder_weights" in report.study.factors
                out.append(f"LOUD WARNING: {path} looks like a stand-in with RANDOM weights (not ImageNet): "
                           + ("H1 (encoder_weights imagenet vs random) compares two random encoders; its verdict means nothing."
                              if h1 else "every 'imagenet' encoder in this study is a random encoder."))
    for path in encoders:
        if path not in ("imagenet", "random") and _RANDOM_WEIGHTS.search(Path(path).name):
            out.append(f"LOUD WARNING: encoder_weights {path} looks like a file of RANDOM weights, not a pretrained encoder.")
    standin = INCEPTION_STANDIN_TAG in report.runs and (report.runs[INCEPTION_STANDIN_TAG] == "true").any()
    if standin:
        out.append("LOUD WARNING: the quality metrics (eval/kid, eval/fid, precision/recall, density/coverage, memorisation) "
                   "of " + str(int((report.runs[INCEPTION_STANDIN_TAG] == "true").sum())) + " run(s) were computed with a "
                   "STAND-IN (random) InceptionV3 file: they compare with no published figure, and a quality verdict means nothing.")
    out += no_value_warnings(report)
    if len(report.missing):
        out.append(f"{len(report.missing)} of {len(report.study.cells)} cells have no finished run (listed under 'Missing and failed runs').")
    if not report.study.hypotheses:
        out.append("The study file declares no hypotheses: the report shows the table and pictures only.")
    elif (report.cells["n_finished"] < 2).any():
        out.append("Some combinations have fewer than 2 finished seeds: intervals and verdicts there are weak or undefined.")
    return out

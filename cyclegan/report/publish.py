"""Hand a made report to the study's MLflow parent run (:func:`cyclegan.runs.publish.publish`): the
report files, ``cells.csv``, the figures, and per hypothesis ``verdict.<name>`` (confirmed, refuted,
inconclusive) with the metrics ``verdict.<name>.<field>`` for the fields in ``names.VERDICT_FIELDS``."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cyclegan.names import CELLS_CSV, REPORT_STUDY_FILE_TAG, REPORT_STUDY_SHA256_TAG, VERDICT_FIELDS, VERDICT_PREFIX
from cyclegan.report.model import ReportFiles
from cyclegan.runs.publish import publish
from cyclegan.runs.store import Store


def verdict_records(result: ReportFiles) -> tuple[dict[str, str], dict[str, float]]:
    """(tags, metrics) of the report's verdicts under their stable names."""
    tags, metrics = {}, {}
    for v in result.report.verdicts:
        key = f"{VERDICT_PREFIX}{v.name}"
        tags[key] = v.verdict
        metrics.update({f"{key}.{field}": float(getattr(v, field)) for field in VERDICT_FIELDS})
    return tags, metrics


def report_files(result: ReportFiles) -> list[tuple[Path, str]]:
    """Every file the report wrote (documents, cells.csv, figures), with its path relative to the report folder."""
    paths = [*result.files, result.out_dir / CELLS_CSV, *(result.out_dir / f.file for f in result.figures)]
    return [(p, p.relative_to(result.out_dir).as_posix()) for p in dict.fromkeys(paths) if p.is_file()]


def publish_report(store: Store, result: ReportFiles) -> str | None:
    """Log the report to the parent run; returns its run id (None: the study has no parent run)."""
    tags, metrics = verdict_records(result)
    study = result.report.study
    # Which file produced these verdicts: an edited file (or another copy) publishes over the same parent run.
    tags[REPORT_STUDY_SHA256_TAG] = hashlib.sha256(Path(study.path).read_bytes()).hexdigest()
    tags[REPORT_STUDY_FILE_TAG] = str(Path(study.path).resolve())
    return publish(store, study.name, report_files(result), tags, metrics)

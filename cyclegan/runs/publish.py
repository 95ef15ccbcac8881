"""The study's answer on its MLflow parent run: the report files, ``cells.csv`` and one tag and a few
metrics per hypothesis, under the stable names of :mod:`cyclegan.names` (docs/storage.md "MLflow").

Writes with the client only (no active run, no TensorFlow). Tags of hypotheses the study file no
longer declares are removed, so the parent shows the current file's verdicts and nothing else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path

from mlflow.entities import Metric, RunTag

from cyclegan import masking
from cyclegan.names import REPORT_ARTIFACT, ROLE_PARENT, ROLE_TAG, STUDY_TAG, VERDICT_PREFIX
from cyclegan.runs import relocation
from cyclegan.runs.store import Store


def parent_run_id(store: Store, study: str) -> str | None:
    """The study's parent run (the first one created), or None when the study was never tracked."""
    experiment = store.client.get_experiment_by_name(study)
    if experiment is None:
        return None
    found = store.client.search_runs([experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = '{ROLE_PARENT}' and tags.`{STUDY_TAG}` = '{study}'")
    return min(found, key=lambda r: r.info.start_time).info.run_id if found else None


def publish(store: Store, study: str, files: Iterable[tuple[Path, str]], tags: dict[str, str], metrics: dict[str, float]) -> str | None:
    """Log ``files`` (path, POSIX path relative to the report folder) under ``report/`` of the parent run,
    replace its ``verdict.*`` tags by ``tags`` and log ``metrics`` (an undefined one as NaN, so that it
    replaces what an earlier report logged: metrics cannot be deleted). Returns the parent run id, None
    when there is no parent run."""
    run_id = parent_run_id(store, study)
    if run_id is None:
        return None
    relocation.refuse_writes(store, store.client.get_experiment_by_name(study))  # never log to a moved folder's old place
    client = store.client
    for path, rel in files:
        folder = str(Path(REPORT_ARTIFACT, rel).parent.as_posix())
        client.log_artifact(run_id, str(path), folder)
    stale = [k for k in client.get_run(run_id).data.tags if k.startswith(VERDICT_PREFIX) and k not in tags]
    for key in stale:
        client.delete_tag(run_id, key)
    now = int(time.time() * 1000)
    client.log_batch(run_id, tags=[RunTag(k, masking.mask(v)) for k, v in tags.items()],
                     metrics=[Metric(k, float(v) if math.isfinite(v) else math.nan, now, 0) for k, v in metrics.items()])
    return run_id

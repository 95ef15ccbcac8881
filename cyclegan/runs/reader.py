"""Reading a study back from MLflow, for the report: its cell runs, their curves and artifacts.

Imports neither TensorFlow nor the trainer, so ``cyclegan report`` starts without either.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import mlflow.artifacts
import pandas as pd
from mlflow.exceptions import MlflowException

from cyclegan.core.runfolder.layout import RunDir
from cyclegan.names import ROLE_CELL, ROLE_PARENT, ROLE_TAG, cell_dir
from cyclegan.runs import relocation
from cyclegan.runs.store import Store


def local_run(runs_dir: Path, study_name: str, cell: str) -> RunDir:
    """A study cell's run folder in this machine's runs directory (it may be absent): how the report
    reaches the run folder's layout without importing the core layer itself."""
    return RunDir(cell_dir(runs_dir, study_name, cell))


class RunReader:
    """Read-only access to the runs of one tracking store."""

    def __init__(self, store: Store):
        self.store = store
        self.client = store.client
        self.uri = store.uri
        self.move: relocation.Move | None = None

    def load_study_runs(self, experiment_name: str):
        """Every cell (child) run of an experiment as a DataFrame, or None if there is no such experiment.

        One row per run; columns: ``run_id``, ``run_name``, ``status``, ``start_time``/``end_time``
        (ms since the epoch, NaN while running), ``artifact_uri``; every non-``mlflow.`` tag under
        its own name (``cell``, ``seed``, ``study``, ``failure_reason``, one per factor key, ...);
        the final value of every metric under its name (``eval/grid_score``); every param as
        ``params.<key>`` (``params.data.root``), so factor tags and params never collide.
        """
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            return None
        self.move = relocation.find_move(self.store, experiment)  # a moved runs folder: read its artifacts where they are now
        rows, token = [], None
        while True:
            page = self.client.search_runs([experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = '{ROLE_CELL}'",
                                           max_results=1000, page_token=token)
            for run in page:
                row = {"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
                       "start_time": run.info.start_time, "end_time": run.info.end_time,
                       "artifact_uri": self._here(run.info.artifact_uri)}
                row.update({k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
                row.update(run.data.metrics)
                row.update({f"params.{k}": v for k, v in run.data.params.items()})
                rows.append(row)
            token = page.token
            if not token:
                break
        return pd.DataFrame(rows)

    def parent_json(self, experiment_name: str, artifact: str) -> dict | None:
        """A JSON artifact of the study's parent run (the oldest), or None when there is none."""
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            return None
        parents = self.client.search_runs([experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = '{ROLE_PARENT}'",
                                          max_results=100)
        for run in sorted(parents, key=lambda r: r.info.start_time):
            with tempfile.TemporaryDirectory(prefix="cyclegan-record-") as work:
                path = self.download_artifact(run.info.run_id, artifact, Path(work))
                if path is not None and path.is_file():
                    try:
                        return json.loads(path.read_text(encoding="utf-8"))
                    except ValueError:
                        return None
        return None

    def metric_history(self, run_id: str, key: str):
        """A metric's curve as a float Series indexed by step (sorted; the last value of a step wins)."""
        points = sorted(self.client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        series = pd.Series({m.step: m.value for m in points}, dtype=float, name=key)
        series.index.name = "step"
        return series

    def _here(self, artifact_uri: str) -> str:
        return self.move.uri(artifact_uri) if self.move is not None else artifact_uri

    def _moved_root(self, run_id: str) -> str | None:
        """The run's artifact root where it is now, when the runs folder was moved (else None: the client reads it)."""
        return self._here(self.client.get_run(run_id).info.artifact_uri) if self.move is not None else None

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        """Artifact paths (relative to the run's root) directly under ``path``; [] when absent."""
        try:
            root = self._moved_root(run_id)
            if root is not None:
                listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{root}/{path}" if path else root)
                return [f"{path.rstrip('/')}/{Path(f.path).name}" if path else Path(f.path).name for f in listed]
            return [f.path for f in self.client.list_artifacts(run_id, path)]
        except (MlflowException, OSError):
            return []

    def download_artifact(self, run_id: str, path: str, dst: Path) -> Path | None:
        """Copy one artifact file or folder into ``dst``; None when the run has no such artifact."""
        dst.mkdir(parents=True, exist_ok=True)
        previous = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # one bar per folder would flood the console
        try:
            root = self._moved_root(run_id)
            if root is not None:
                return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/{path}", dst_path=str(dst)))
            return Path(self.client.download_artifacts(run_id, path, str(dst)))
        except (MlflowException, OSError):
            return None
        finally:
            if previous is None:
                os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
            else:
                os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = previous

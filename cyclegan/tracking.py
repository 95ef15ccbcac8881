"""MLflow tracking. The only module that imports mlflow.

Layout (DESIGN.md section 7): one experiment per study file, marked as a model-training
experiment; one parent run per study; one child run per cell, tagged with each factor's level,
``seed``, ``cell`` and ``study``; params are the flattened resolved config; metrics are logged per
mini-epoch with ``step`` = mini-epoch under the names of ``history.csv``; the sample grid is an
image with the same step. A resumed cell continues its own child run without logging a step twice.

Store: ``MLFLOW_TRACKING_URI`` when set (a server, a database), else the embedded default: a
SQLite database ``RUNS_DIR/mlflow.db`` with artifacts under ``RUNS_DIR/mlartifacts``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from PIL import Image

from cyclegan.config import RunConfig
from cyclegan.errors import CycleganError
from cyclegan.rundir import RunDir
from cyclegan.trainer import Callback, MiniEpochRecord, RunResult

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"  # opens on the runs table, not the GenAI overview
ROLE_TAG, STUDY_TAG, CELL_TAG, SEED_TAG = "role", "study", "cell", "seed"
TRIAL_TAG = "trial"  # a tuning trial's Optuna number (cyclegan.tune)
FAILURE_TAG = "failure_reason"
MACHINE_TAG, PRECISION_TAG = "machine", "precision_resolved"  # where a cell last trained, and what "auto" became
SAMPLES_KEY = "samples"
_NOT_METRICS = {"mini_epoch", "step"}


class TrackingError(CycleganError, RuntimeError):
    """The tracking store cannot be used; raised before any training."""


def default_tracking_uri(runs_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(runs_dir / 'mlflow.db').resolve()}"


def mask_credentials(uri: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``: never log a password."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Tracker:
    """A connection to one tracking store, with the study layout's operations."""

    def __init__(self, runs_dir: Path, uri: str | None = None):
        self.runs_dir = runs_dir
        self.uri = uri or default_tracking_uri(runs_dir)
        if self.uri.startswith("sqlite:///"):
            runs_dir.mkdir(parents=True, exist_ok=True)
        self.client = self._connect()

    def _connect(self) -> MlflowClient:
        """A client whose store answers. Workers that start together on a new SQLite store race to
        create its tables and the loser sees a transient error, so a local store gets a few tries;
        a server gets one."""
        attempts = 10 if self.uri.startswith("sqlite:") else 1
        for attempt in range(attempts):
            try:
                client = MlflowClient(tracking_uri=self.uri)
                client.search_experiments(max_results=1)
                return client
            except Exception as err:
                if attempt == attempts - 1:
                    raise TrackingError(
                        f"MLflow tracking store {mask_credentials(self.uri)} is unreachable: {type(err).__name__}: {_first_line(err)}"
                    ) from None
                time.sleep(0.5 + attempt * 0.5)
        raise AssertionError("unreachable")

    def experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
                self.client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
            return experiment.experiment_id
        location = (self.runs_dir / "mlartifacts" / name).resolve().as_uri() if self.uri.startswith("sqlite:") else None
        try:
            return self.client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
        except MlflowException:  # another worker created it first
            return self.client.get_experiment_by_name(name).experiment_id

    def find_runs(self, experiment_id: str, **tags: str) -> list:
        query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        return self.client.search_runs([experiment_id], filter_string=query, max_results=10_000)

    def parent_run(self, experiment_id: str, study: str, description: str = "") -> str:
        """The study's parent run, created once and reused by every invocation and worker."""
        found = self.find_runs(experiment_id, **{ROLE_TAG: "parent", STUDY_TAG: study})
        if found:
            run_id = sorted(found, key=lambda r: r.info.start_time)[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        tags = {ROLE_TAG: "parent", STUDY_TAG: study, "mlflow.note.content": description}
        return self.client.create_run(experiment_id, run_name=study, tags=tags).info.run_id

    def finish_parent(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def child_run(self, experiment_id: str, parent_id: str, *, study: str, cell: str, run_name: str,
                  tags: dict[str, str], config: RunConfig) -> str:
        """The cell's run: reused when it exists (resume), else created with its params."""
        found = self.find_runs(experiment_id, **{ROLE_TAG: "cell", STUDY_TAG: study, CELL_TAG: cell})
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        all_tags = {ROLE_TAG: "cell", STUDY_TAG: study, CELL_TAG: cell, "mlflow.parentRunId": parent_id, **tags}
        run_id = self.client.create_run(experiment_id, run_name=run_name, tags=all_tags).info.run_id
        params = [Param(k, str(v)) for k, v in sorted(config.flat().items())]
        for start in range(0, len(params), 100):  # MLflow's batch limit
            self.client.log_batch(run_id, params=params[start:start + 100])
        return run_id

    def end_run(self, run_id: str, status: str, reason: str | None = None) -> None:
        """``FINISHED``, ``FAILED`` (with its reason as a tag) or ``KILLED``."""
        if reason:
            self.client.set_tag(run_id, FAILURE_TAG, reason[:5000])
        self.client.set_terminated(run_id, status=status)

    def logged_steps(self, run_id: str, key: str = "loss/cycle") -> set[int]:
        return {m.step for m in self.client.get_metric_history(run_id, key)}

    def log_metrics(self, run_id: str, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items() if k not in _NOT_METRICS and np.isfinite(v)]
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[start:start + 1000])

    def log_image(self, run_id: str, path: Path, step: int, key: str = SAMPLES_KEY) -> None:
        with Image.open(path) as image:
            self.client.log_image(run_id, np.asarray(image.convert("RGB")), key=key, step=step)

    def log_artifacts(self, run_id: str, paths: Iterable[tuple[Path, str | None]]) -> None:
        for path, artifact_path in paths:
            if path.is_dir():
                self.client.log_artifacts(run_id, str(path), artifact_path)
            elif path.exists():
                self.client.log_artifact(run_id, str(path), artifact_path)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    # -- tuning trials (cyclegan.tune) --------------------------------------------------------

    def trial_run(self, experiment_id: str, parent_id: str, *, study: str, trial: int, config: RunConfig,
                  tags: dict[str, str] | None = None) -> str:
        """A tuning trial's child run (``role=trial``, ``trial`` = its Optuna number), with the
        flattened config as params. Always a new run: a retried trial is a new Optuna trial."""
        all_tags = {ROLE_TAG: "trial", STUDY_TAG: study, TRIAL_TAG: str(trial), "mlflow.parentRunId": parent_id, **(tags or {})}
        run_id = self.client.create_run(experiment_id, run_name=f"trial-{trial}", tags=all_tags).info.run_id
        params = [Param(k, str(v)) for k, v in sorted(config.flat().items())]
        for start in range(0, len(params), 100):  # MLflow's batch limit
            self.client.log_batch(run_id, params=params[start:start + 100])
        return run_id

    def run_status(self, run_id: str) -> str | None:
        """``RUNNING``, ``FINISHED``, ``FAILED``, ``KILLED``; None when there is no such run."""
        try:
            return self.client.get_run(run_id).info.status
        except MlflowException:
            return None

    # -- reading, for the report ------------------------------------------------------------

    def load_study_runs(self, experiment_name: str):
        """Every cell (child) run of an experiment as a DataFrame, or None if there is no such experiment.

        One row per run; columns: ``run_id``, ``run_name``, ``status``, ``start_time``/``end_time``
        (ms since the epoch, NaN while running), ``artifact_uri``; every non-``mlflow.`` tag under
        its own name (``cell``, ``seed``, ``study``, ``failure_reason``, one per factor key, ...);
        the final value of every metric under its name (``eval/grid_score``); every param as
        ``params.<key>`` (``params.data.root``), so factor tags and params never collide.
        """
        import pandas as pd

        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            return None
        rows, token = [], None
        while True:
            page = self.client.search_runs([experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'cell'",
                                           max_results=1000, page_token=token)
            for run in page:
                row = {"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
                       "start_time": run.info.start_time, "end_time": run.info.end_time,
                       "artifact_uri": run.info.artifact_uri}
                row.update({k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
                row.update(run.data.metrics)
                row.update({f"params.{k}": v for k, v in run.data.params.items()})
                rows.append(row)
            token = page.token
            if not token:
                break
        return pd.DataFrame(rows)

    def metric_history(self, run_id: str, key: str):
        """A metric's curve as a float Series indexed by step (sorted; the last value of a step wins)."""
        import pandas as pd

        points = sorted(self.client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        series = pd.Series({m.step: m.value for m in points}, dtype=float, name=key)
        series.index.name = "step"
        return series

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        """Artifact paths (relative to the run's root) directly under ``path``; [] when absent."""
        try:
            return [f.path for f in self.client.list_artifacts(run_id, path)]
        except (MlflowException, OSError):
            return []

    def download_artifact(self, run_id: str, path: str, dst: Path) -> Path | None:
        """Copy one artifact file or folder into ``dst``; None when the run has no such artifact."""
        dst.mkdir(parents=True, exist_ok=True)
        previous = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # one bar per folder would flood the console
        try:
            return Path(self.client.download_artifacts(run_id, path, str(dst)))
        except (MlflowException, OSError):
            return None
        finally:
            if previous is None:
                os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
            else:
                os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = previous


class CellTracker(Callback):
    """Trainer callback that mirrors one cell's run into its MLflow child run."""

    def __init__(self, tracker: Tracker, run_id: str):
        self.tracker, self.run_id = tracker, run_id
        self._already_logged: set[int] = set()

    def on_run_start(self, run_dir: RunDir, config: RunConfig, resumed_from: int) -> None:
        # After a crash the run may have logged mini-epochs that the checkpoint does not cover;
        # they are trained again but logged once.
        self._already_logged = self.tracker.logged_steps(self.run_id)

    def on_mini_epoch_end(self, record: MiniEpochRecord) -> None:
        if record.mini_epoch in self._already_logged:
            return
        values = {("time/mini_epoch_seconds" if k == "seconds" else k): v for k, v in record.metrics.items()}
        self.tracker.log_metrics(self.run_id, values, step=record.mini_epoch)
        self.tracker.log_image(self.run_id, record.sample_grid, step=record.mini_epoch)

    def on_run_end(self, result: RunResult) -> None:
        derived = {k: v for k, v in result.final_metrics.items() if k.startswith("convergence/")}
        if derived:
            self.tracker.log_metrics(self.run_id, derived, step=result.mini_epochs)
        run = result.run_dir
        self.tracker.log_artifacts(self.run_id, [
            (run.history_file, None), (run.config_file, None), (run.models, "models"), (run.eval_outputs, "eval/photo2monet"),
        ])


def ui_command(runs_dir: Path, host: str, port: int) -> list[str]:
    """``mlflow ui`` on the same store the studies write to (last element: the store URI)."""
    import sys

    return [sys.executable, "-m", "mlflow", "ui", "--host", host, "--port", str(port), "--backend-store-uri", default_tracking_uri(runs_dir)]


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0][:300] if str(err).strip() else ""

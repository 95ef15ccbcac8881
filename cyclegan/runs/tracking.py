"""Writing runs to MLflow: the study layout's experiments, parent and child runs, and the trainer
callback that mirrors a cell into its run.

Layout (docs/DESIGN.md section 7): one experiment per study file, marked as a model-training
experiment; one parent run per study; one child run per cell, tagged with each factor's level,
``seed``, ``cell`` and ``study``; params are the flattened resolved config; metrics are logged per
mini-epoch with ``step`` = mini-epoch under the names of ``history.csv``; the sample grid is an
image with the same step (the UI's step slider) and, at the end, the last grid is an artifact under
the project's own name ``samples/mini_epoch_<k>.png`` (what the report reads back). Every run carries
the provenance tags of :mod:`cyclegan.runs.provenance`; a cell run also gets its two datasets as
inputs (:mod:`cyclegan.runs.datasets`), system metrics while it trains (MLflow's own monitor, see
:meth:`Tracker.training`) and its generators as MLflow models (:mod:`cyclegan.runs.mlflow_model`).
A resumed cell continues its own child run without logging a step twice.
Only the run layer imports mlflow; reading is :mod:`cyclegan.runs.reader`.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import mlflow.system_metrics
import numpy as np
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from PIL import Image

from cyclegan import masking, names
from cyclegan.atomic import atomic_write_text
from cyclegan.core.callbacks import Callback, MiniEpochRecord, RunResult
from cyclegan.core.timing import with_outside_seconds
from cyclegan.names import CELL_TAG, FAILURE_TAG, ROLE_CELL, ROLE_PARENT, ROLE_TAG, ROLE_TRIAL, SAMPLES_KEY, STUDY_TAG, TRIAL_TAG
from cyclegan.runs import mlflow_model, provenance, relocation
from cyclegan.runs.datasets import domain_datasets
from cyclegan.runs.store import Store, artifact_location, connect
from cyclegan.spec import preregistration

if TYPE_CHECKING:
    from cyclegan.core.runfolder.layout import RunDir
    from cyclegan.spec.config import RunConfig

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"  # opens on the runs table, not the GenAI overview
_NOT_METRICS = set(names.HISTORY_INDEX)
# MLflow's system-metrics monitor samples CPU, memory, disk, network (and GPU with pynvml) in a thread
# of its own; one sample every 10 s costs nothing measurable next to a training step (benchmarks/PERFORMANCE.md, "MLflow's system-metrics monitor").
SYSTEM_METRICS_SECONDS = 10


DATASET_ATTEMPTS = 3


def _duplicate_key(err: Exception) -> bool:
    """An MLflow error for a row another process inserted first (the databases' words for it)."""
    text = str(err).lower()
    return any(word in text for word in ("unique constraint", "uniqueviolation", "duplicate key", "already exists"))


class Tracker:
    """A connection to one tracking store, with the study layout's write operations."""

    def __init__(self, runs_dir: Path, uri: str | None = None, *, store: Store | None = None):
        self.store = store or connect(runs_dir, uri, writes=True)
        self.runs_dir, self.client = runs_dir, self.store.client
        self.uri = self.store.uri

    def experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            relocation.refuse_writes(self.store, experiment)  # a moved runs folder would write at its old place
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
                self.client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
            return experiment.experiment_id
        location = artifact_location(self.uri, self.runs_dir, name)
        try:
            return self.client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
        except MlflowException:  # another worker created it first, or the store refused the write
            created = self.client.get_experiment_by_name(name)
            if created is None:
                raise
            return created.experiment_id

    def find_runs(self, experiment_id: str, **tags: str) -> list:
        query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        return self.client.search_runs([experiment_id], filter_string=query, max_results=10_000)

    def parent_run(self, experiment_id: str, study: str, description: str = "") -> str:
        """The study's parent run, created once and reused by every invocation and worker."""
        found = self.find_runs(experiment_id, **{ROLE_TAG: ROLE_PARENT, STUDY_TAG: study})
        if found:
            run_id = sorted(found, key=lambda r: r.info.start_time)[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            self.set_tags(run_id, provenance.run_tags())
            return run_id
        tags = {ROLE_TAG: ROLE_PARENT, STUDY_TAG: study, "mlflow.note.content": description, **provenance.run_tags()}
        return self.client.create_run(experiment_id, run_name=study, tags=_masked(tags)).info.run_id

    def finish_parent(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def record_hypotheses(self, parent_id: str, record: dict, local_file: Path) -> bool:
        """Keep the study's hypotheses as declared before training (cyclegan.spec.preregistration): the
        record as the parent run's artifact with its hash as a tag, and in ``local_file``. A record made
        once is never replaced (that is its point); returns whether this call made it."""
        if self.client.get_run(parent_id).data.tags.get(preregistration.RECORD_TAG):
            return False
        self.client.log_dict(parent_id, record, preregistration.RECORD_FILE)
        self.client.set_tag(parent_id, preregistration.RECORD_TAG, record["sha256"])
        if not local_file.exists():
            atomic_write_text(local_file, json.dumps(record, indent=2, sort_keys=True))
        return True

    def child_run(self, experiment_id: str, parent_id: str, *, study: str, cell: str, run_name: str,
                  tags: dict[str, str], config: RunConfig) -> str:
        """The cell's run: reused when it exists (resume), else created with its params."""
        found = self.find_runs(experiment_id, **{ROLE_TAG: ROLE_CELL, STUDY_TAG: study, CELL_TAG: cell})
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            self.set_tags(run_id, provenance.run_tags())  # the code that continues it
            return run_id
        all_tags = {ROLE_TAG: ROLE_CELL, STUDY_TAG: study, CELL_TAG: cell, "mlflow.parentRunId": parent_id, **tags, **provenance.run_tags()}
        run_id = self.client.create_run(experiment_id, run_name=run_name, tags=_masked(all_tags)).info.run_id
        self._log_config(run_id, config)
        return run_id

    def _log_config(self, run_id: str, config: RunConfig) -> None:
        params = [Param(k, masking.mask(v)) for k, v in sorted(config.flat().items())]
        for start in range(0, len(params), 100):  # MLflow's batch limit
            self.client.log_batch(run_id, params=params[start:start + 100])

    def end_run(self, run_id: str, status: str, reason: str | None = None) -> None:
        """``FINISHED``, ``FAILED`` (with its reason as a tag) or ``KILLED``."""
        if reason:
            self.client.set_tag(run_id, FAILURE_TAG, masking.mask(reason)[:5000])
        self.client.set_terminated(run_id, status=status)

    def logged_steps(self, run_id: str, key: str = "loss/cycle") -> set[int]:
        return {m.step for m in self.client.get_metric_history(run_id, key)}

    def log_metrics(self, run_id: str, values: dict[str, float], step: int) -> None:
        """Every value, an undefined one (NaN, +-inf: no edges to measure, an all-black output) as NaN:
        a run's latest value must be its last evaluation's, not an older finite one a skipped value
        would leave as the run's final figure. (MLflow keeps NaN as NaN, but stores +-inf as +-1.8e308,
        which would enter a verdict as a finite number.)"""
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v) if np.isfinite(v) else math.nan, now, step) for k, v in values.items() if k not in _NOT_METRICS]
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
        self.client.log_batch(run_id, tags=[RunTag(k, masking.mask(v)) for k, v in tags.items()])

    def log_datasets(self, run_id: str, config: RunConfig) -> None:
        """The photo and painting sets of ``config.data`` as the run's inputs (logged once per digest)."""
        logged = {(i.dataset.name, i.dataset.digest) for i in self.client.get_run(run_id).inputs.dataset_inputs}
        new = [i for i in domain_datasets(config.data) if (i.dataset.name, i.dataset.digest) not in logged]
        if not new:
            return
        for attempt in range(DATASET_ATTEMPTS):
            try:
                self.client.log_inputs(run_id, datasets=new)
                return
            except MlflowException as err:
                # Two workers logging the same dataset to an experiment at once: the store looks it up,
                # finds none, and both insert it; the second breaks its unique key (seen with PostgreSQL
                # behind a tracking server: the cell failed). The dataset exists now: the next try links it.
                if attempt + 1 == DATASET_ATTEMPTS or not _duplicate_key(err):
                    raise
                time.sleep(0.2 * (attempt + 1))

    @contextlib.contextmanager
    def training(self, run_id: str) -> Iterator[None]:
        """``run_id`` as this process's active MLflow run while it trains: MLflow's system-metrics
        monitor samples it, and the generators are logged into it as models. Leaving it does not
        decide the run's status: it stays RUNNING until the caller ends it with :meth:`end_run`
        (FINISHED once the cell is recorded done, KILLED for an interrupt, FAILED with its reason).
        MLflow's own context would mark it FINISHED (FAILED on any exception) on the way out, and a
        worker killed before the caller's status would leave a cell the queue trains again shown
        as finished."""
        mlflow.set_tracking_uri(self.uri)
        mlflow.system_metrics.set_system_metrics_sampling_interval(SYSTEM_METRICS_SECONDS)
        mlflow.system_metrics.set_system_metrics_samples_before_logging(1)
        mlflow.start_run(run_id=run_id, log_system_metrics=True)
        try:
            yield
        finally:
            # Ends this process's use of the run (the system-metrics monitor stops), not the run.
            mlflow.end_run(status=RunStatus.to_string(RunStatus.RUNNING))

    # -- tuning trials (cyclegan.runs.tune) --------------------------------------------------------

    def trial_run(self, experiment_id: str, parent_id: str, *, study: str, trial: int, config: RunConfig,
                  tags: dict[str, str] | None = None) -> str:
        """A tuning trial's child run (``role=trial``, ``trial`` = its Optuna number), with the
        flattened config as params. Always a new run: a retried trial is a new Optuna trial."""
        all_tags = {ROLE_TAG: ROLE_TRIAL, STUDY_TAG: study, TRIAL_TAG: str(trial), "mlflow.parentRunId": parent_id, **(tags or {}),
                    **provenance.run_tags()}
        run_id = self.client.create_run(experiment_id, run_name=f"trial-{trial}", tags=_masked(all_tags)).info.run_id
        self._log_config(run_id, config)
        return run_id

    def run_status(self, run_id: str) -> str | None:
        """``RUNNING``, ``FINISHED``, ``FAILED``, ``KILLED``; None when there is no such run."""
        try:
            return self.client.get_run(run_id).info.status
        except MlflowException:
            return None


class CellTracker(Callback):
    """Trainer callback that mirrors one cell's run into its MLflow child run."""

    def __init__(self, tracker: Tracker, run_id: str):
        self.tracker, self.run_id = tracker, run_id
        self._already_logged: set[int] = set()
        self._image_size = 0
        self.generators_stored_at: dict[str, str] = {}  # name -> local folder of its logged MLflow model

    def on_run_start(self, run_dir: RunDir, config: RunConfig, resumed_from: int) -> None:
        # After a crash the run may have logged mini-epochs that the checkpoint does not cover;
        # they are trained again but logged once.
        self._already_logged = self.tracker.logged_steps(self.run_id)
        self._image_size = config.data.image_size
        self.tracker.log_datasets(self.run_id, config)

    def on_mini_epoch_end(self, record: MiniEpochRecord) -> None:
        if record.mini_epoch in self._already_logged:
            return
        values = {(names.MINI_EPOCH_SECONDS if k == "seconds" else k): v for k, v in record.metrics.items()}
        self.tracker.log_metrics(self.run_id, values, step=record.mini_epoch)
        self.tracker.log_image(self.run_id, record.sample_grid, step=record.mini_epoch)

    def on_run_end(self, result: RunResult) -> None:
        started = time.perf_counter()
        run = result.run_dir
        grids = sorted(run.samples.glob(names.SAMPLE_GRID_GLOB))
        self.tracker.log_artifacts(self.run_id, [
            (run.history_file, None), (run.config_file, None), (run.eval_outputs, names.ARTIFACT_EVAL_OUTPUTS),
            *([(grids[-1], names.SAMPLES_ARTIFACT)] if grids else []),
        ])
        active = mlflow.active_run()
        # Models are logged into the active run; a CellTracker used outside Tracker.training opens it here.
        opened = contextlib.nullcontext() if active is not None and active.info.run_id == self.run_id else self.tracker.training(self.run_id)
        with opened:
            self.generators_stored_at = mlflow_model.log_generators(run.root, self._image_size)
        inception = run.root / names.INCEPTION_RECORD  # written by the trainer when it computed quality metrics
        if inception.is_file():
            record = json.loads(inception.read_text())
            self.tracker.set_tags(self.run_id, {names.INCEPTION_SHA256_TAG: str(record.get("inception_sha256")),
                                                names.INCEPTION_STANDIN_TAG: str(bool(record.get("inception_standin"))).lower()})
        tracking_seconds = time.perf_counter() - started
        # Derived curve figures and where the run's time went (time/build_seconds, ...): the run
        # totals the MLflow UI can sort and compare cells by. Logged last, so that the time spent
        # logging the artifacts and models above counts as time outside training.
        derived = {k: v for k, v in result.final_metrics.items() if k.startswith(("convergence/", "time/"))}
        if names.OUTSIDE_SECONDS in derived:
            derived = with_outside_seconds(derived, tracking_seconds)
        self.tracker.log_metrics(self.run_id, {**derived, names.TRACKING_SECONDS: tracking_seconds}, step=result.mini_epochs)


def _masked(tags: dict[str, str]) -> dict[str, str]:
    return {k: masking.mask(v) for k, v in tags.items()}

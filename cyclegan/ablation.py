"""Run a study: every cell of the matrix x seeds is one tracked training run of the shared core.

``run_study`` is what ``cyclegan ablate`` does: check everything that can be checked before any
training (data, encoder weights, tracking store, queue storage), enqueue the cells that are not
done, then work through them in this process or in N worker processes. ``run_worker`` is what
``cyclegan worker`` does on any machine that shares the storage and tracking URI.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from cyclegan import device
from cyclegan.ablation_queue import CellQueue, Heartbeat, QueueSettings, open_storage
from cyclegan.signals import sigterm_as_interrupt
from cyclegan.study import Study
from cyclegan.tracking import (
    MACHINE_TAG,
    PRECISION_TAG,
    SEED_TAG,
    CellTracker,
    Tracker,
    mask_credentials,
)
from cyclegan.workers import say, worker_command
from cyclegan.workers import start as start_workers
from cyclegan.workers import wait as wait_for_workers

DEFAULT_QUEUE = QueueSettings()


@dataclass(frozen=True)
class StudyPaths:
    runs_dir: Path
    storage_url: str

    @classmethod
    def default(cls, runs_dir: Path, storage_url: str | None) -> StudyPaths:
        return cls(runs_dir, storage_url or f"sqlite:///{(runs_dir / 'optuna.db').resolve()}")

    def cell_dir(self, study: Study, cell_id: str) -> Path:
        return self.runs_dir / study.name / "cells" / cell_id


def preflight(study: Study, paths: StudyPaths) -> None:
    """Fail before any training when something every cell needs is missing (the tracking store
    was checked when the Tracker connected)."""
    from cyclegan.models import build_vgg16
    from cyclegan.pipeline import prepare_split

    open_storage(paths.storage_url, QueueSettings())
    checked = set()
    for cell in study.cells:
        data = cell.config.data
        if (data.root, data.image_size, data.holdout, cell.config.train.batch_size) not in checked:
            prepare_split(data, cell.config.train.batch_size)
            checked.add((data.root, data.image_size, data.holdout, cell.config.train.batch_size))
        gen = cell.config.generator
        if (gen.encoder_weights, gen.imagenet_weights) not in checked:
            build_vgg16(gen.encoder_weights, 32, gen.imagenet_weights)
            checked.add((gen.encoder_weights, gen.imagenet_weights))


def run_study(study: Study, paths: StudyPaths, *, workers: int = 1, settings: QueueSettings = DEFAULT_QUEUE,
              retry_failed: bool = False, overrides: tuple[str, ...] = (), progress: bool = True) -> Counter:
    """Train every cell that is not done; returns the final count of cell states."""
    tracker = Tracker(paths.runs_dir)
    preflight(study, paths)
    queue = CellQueue(study, open_storage(paths.storage_url, settings))
    queue.enqueue_missing(retry_failed=retry_failed)
    experiment_id = tracker.experiment_id(study.name)
    parent_id = tracker.parent_run(experiment_id, study.name, study.description)
    tracker.log_artifacts(parent_id, [(study.path, None)])
    say(f"study {study.name}: {len(study.cells)} cells, tracking {mask_credentials(tracker.uri)}, queue {mask_credentials(paths.storage_url)}", progress)
    if workers <= 1:
        run_worker(study, paths, settings=settings, progress=progress)
    else:
        _run_worker_processes(study, paths, workers, settings, overrides, progress)
    counts = queue.counts()
    tracker.finish_parent(parent_id, "FINISHED" if counts["done"] == len(study.cells) else "FAILED")
    return counts


def run_worker(study: Study, paths: StudyPaths, *, settings: QueueSettings = DEFAULT_QUEUE, progress: bool = True) -> int:
    """Claim and train cells until none is waiting or running; returns how many this worker trained."""
    from cyclegan.trainer import train

    tracker = Tracker(paths.runs_dir)
    queue = CellQueue(study, open_storage(paths.storage_url, settings))
    queue.enqueue_missing()  # a worker may be the first to arrive; duplicates are resolved at claim
    experiment_id = tracker.experiment_id(study.name)
    parent_id = tracker.parent_run(experiment_id, study.name, study.description)
    trained = 0
    bar = tqdm(total=len(study.cells), desc=f"study {study.name}", unit="cell", disable=not progress, dynamic_ncols=True)
    _refresh(bar, queue)
    with sigterm_as_interrupt():
        while True:
            queue.reap_dead_workers()
            claimed = queue.claim()
            if claimed is None:
                if not queue.any_running():
                    break
                time.sleep(settings.poll_seconds)  # others are busy; stay to take over a dead one's cell
                _refresh(bar, queue)
                continue
            trial_id, cell_id = claimed
            cell = study.cell(cell_id)
            tags = {**cell.levels, SEED_TAG: str(cell.seed)}
            run_id = tracker.child_run(experiment_id, parent_id, study=study.name, cell=cell_id,
                                       run_name=cell_id.rsplit("-", 1)[0], tags=tags, config=cell.config)
            queue.set_attr(trial_id, "mlflow_run_id", run_id)
            queue.set_attr(trial_id, "worker", f"{socket.gethostname()}:{os.getpid()}")
            tracker.set_tags(run_id, {MACHINE_TAG: device.describe(), PRECISION_TAG: device.resolve_precision(cell.config.train.precision)})
            _refresh(bar, queue)
            with Heartbeat(queue.storage, trial_id, settings.heartbeat_seconds):
                try:
                    result = train(cell.config, paths.cell_dir(study, cell_id), (CellTracker(tracker, run_id),), progress=progress)
                except KeyboardInterrupt:
                    tracker.end_run(run_id, "KILLED", "interrupted")
                    queue.requeue(trial_id, "interrupted; resumes from its checkpoint")
                    raise
                except Exception as err:  # a failed cell must not stop the others
                    reason = f"{type(err).__name__}: {err}"
                    tracker.end_run(run_id, "FAILED", reason)
                    queue.fail(trial_id, reason)
                    say(f"cell {cell_id} failed: {reason}")
                    _refresh(bar, queue)
                    continue
            tracker.end_run(run_id, "FINISHED")
            queue.complete(trial_id, float(result.final_metrics.get("loss/cycle", float("nan"))))
            trained += 1
            _refresh(bar, queue)
    bar.close()
    return trained


def _run_worker_processes(study: Study, paths: StudyPaths, workers: int, settings: QueueSettings,
                          overrides: tuple[str, ...], progress: bool) -> None:
    command = worker_command("worker", str(study.path), runs_dir=paths.runs_dir, settings=settings, overrides=overrides)
    processes = start_workers([command] * workers, paths.storage_url)
    queue = CellQueue(study, open_storage(paths.storage_url, settings))
    bar = tqdm(total=len(study.cells), desc=f"study {study.name} ({workers} workers)", unit="cell", disable=not progress, dynamic_ncols=True)
    try:
        wait_for_workers(processes, lambda: _refresh(bar, queue))
    finally:
        bar.close()


def _refresh(bar: tqdm, queue: CellQueue) -> None:
    counts = queue.counts()
    bar.n = counts["done"]
    bar.set_postfix(running=counts["running"], waiting=counts["waiting"], failed=counts["failed"], refresh=False)
    bar.refresh()

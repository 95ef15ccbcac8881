"""Run a study: every cell of the matrix x seeds is one tracked training run of the shared core.

``run_study`` is what ``cyclegan ablate`` does: check everything that can be checked before any
training (data, encoder weights, tracking store, queue storage), enqueue the cells that are not
done, then work through them in this process or in N worker processes. ``run_worker`` is what
``cyclegan worker`` does on any machine that shares the storage and tracking URI.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter

from tqdm.auto import tqdm

from cyclegan.analysis.design import design_warnings
from cyclegan.names import SEED_TAG
from cyclegan.runs.lifecycle import Owner, RunFailed, RunLoop, Trained
from cyclegan.runs.orchestration import DEFAULT_QUEUE, RUNS_PER_PROCESS, StudyPaths, describe_stores, open_session, run_worker_processes, stopped_status
from cyclegan.runs.queue import RUN_ATTR, CellQueue, Heartbeat, QueueSettings, opened_storage
from cyclegan.runs.tracking import Tracker
from cyclegan.runs.workers import say, worker_command
from cyclegan.signals import StopSignal, graceful_stop, sigterm_as_interrupt
from cyclegan.spec import preregistration
from cyclegan.spec.study import Cell, Study, same_runs


def run_study(study: Study, paths: StudyPaths, *, workers: int = 1, settings: QueueSettings = DEFAULT_QUEUE,
              retry_failed: bool = False, overrides: tuple[str, ...] = (), progress: bool = True,
              cells_per_process: int | None = None) -> Counter:
    """Train every cell that is not done; returns the final count of cell states. With ``workers=1``
    and no ``cells_per_process``, one worker trains in this process (with its progress bars); else worker processes
    train at most ``cells_per_process`` cells each (default
    :data:`~cyclegan.runs.orchestration.RUNS_PER_PROCESS`, why there) and are replaced while cells wait."""
    trains_here = workers <= 1 and cells_per_process is None
    session = open_session(study.name, study.description, study.path, paths, (c.config for c in study.cells), settings,
                           trains_here=trains_here)
    with opened_storage(paths.storage_url, settings) as storage:
        queue = CellQueue(study, storage)
        queue.enqueue_missing(retry_failed=retry_failed)
        say(f"study {study.name}: {len(study.cells)} cells, {describe_stores(session.tracker, paths.storage_url)}")  # with or without bars
        for line in [*design_warnings(study), *same_runs(study)]:  # before training: what this design cannot decide, or repeats
            say(f"warning: {line}")
        if trains_here:
            _run_worker(study, paths, queue, settings, progress, None)  # on this run's storage: no second one
        else:
            command = [*worker_command("worker", str(study.path), runs_dir=paths.runs_dir, settings=settings, overrides=overrides),
                       "--max-cells", str(cells_per_process or RUNS_PER_PROCESS)]
            run_worker_processes([command] * workers, paths.storage_url, total=len(study.cells), desc=f"study {study.name}",
                                 done=lambda: queue.counts()["done"], postfix=lambda: _postfix(queue.counts()), progress=progress,
                                 next_command=lambda _index: command if _unfinished(queue.counts()) else None)
        counts = queue.counts()
        session.finish(counts["done"] == len(study.cells))
        return counts


def run_worker(study: Study, paths: StudyPaths, *, settings: QueueSettings = DEFAULT_QUEUE, progress: bool = True,
               max_cells: int | None = None) -> int:
    """Claim and train cells until none is waiting or running, or until this worker has taken
    ``max_cells`` cells; returns how many it trained. The parent run is left in a true state (see
    :func:`_end_parent`)."""
    with opened_storage(paths.storage_url, settings) as storage:
        return _run_worker(study, paths, CellQueue(study, storage), settings, progress, max_cells)


def _run_worker(study: Study, paths: StudyPaths, queue: CellQueue, settings: QueueSettings, progress: bool,
                max_cells: int | None) -> int:
    tracker = Tracker(paths.runs_dir)
    queue.enqueue_missing()  # a worker may be the first to arrive; duplicates are resolved at claim
    experiment_id = tracker.experiment_id(study.name)
    parent_id = tracker.parent_run(experiment_id, study.name, study.description)
    if not queue.counts()["done"]:  # before the first cell: the hypotheses as fixed before training
        tracker.record_hypotheses(parent_id, preregistration.record(study),
                                  paths.runs_dir / study.name / preregistration.RECORD_FILE)
    bar = tqdm(total=len(study.cells), desc=f"study {study.name}", unit="cell", disable=not progress, dynamic_ncols=True)
    _refresh(bar, queue)
    try:
        trained = _work(study, paths, settings, tracker, queue, experiment_id, parent_id, bar, progress, max_cells)
    except BaseException as stop:  # Ctrl-C, SIGTERM, a full disk, a store that failed: the parent must not stay RUNNING
        with contextlib.suppress(Exception):  # best effort: the store that stopped the worker may refuse
            _end_parent(tracker, parent_id, queue, len(study.cells), stopped=stop)
        raise
    bar.close()
    _end_parent(tracker, parent_id, queue, len(study.cells), handing_over=max_cells is not None)
    return trained


def _end_parent(tracker: Tracker, parent_id: str, queue: CellQueue, total: int, *, stopped: BaseException | None = None,
                handing_over: bool = False) -> None:
    """Leave the parent run true when this worker stops: still RUNNING while another worker trains a
    cell, or while cells wait for the fresh worker that takes over from one ``handing_over`` (it
    stopped after its share); else FINISHED when every cell is done, else as
    :func:`~cyclegan.runs.orchestration.stopped_status` says for the exception that ``stopped`` this
    worker (KILLED for an interrupt or a full disk), FAILED when it ended without one."""
    counts = queue.counts()
    if counts["running"] or (handing_over and counts["waiting"]):
        return
    status = "FINISHED" if counts["done"] == total else "FAILED" if stopped is None else stopped_status(stopped)
    tracker.finish_parent(parent_id, status)


def claim_preferences(structures: dict[str, str], kept: set[str], running: set[str]) -> tuple[set[str], set[str]]:
    """Which waiting cells a worker takes first and which last (``structures``: each cell's
    :func:`~cyclegan.core.step_reuse.structure_key`; ``kept``: those its process keeps a traced step
    for, :meth:`~cyclegan.core.step_reuse.StepCache.kept_structures`). First the cells of a kept
    structure, which train without a new trace; last the cells of a structure another worker is
    training, so that workers take different structures and each keeps its own. In matrix order instead, two workers
    took the two seeds of each cell in turn and traced for every cell: a 2x2 study of 2 seeds on two
    workers, 8 cells, 8 traces (first steps of 1.9-2.8 s each; 4 of them are reuses otherwise)."""
    prefer = {cell for cell, key in structures.items() if key in kept}
    busy = {structures[cell] for cell in running if cell in structures}
    avoid = {cell for cell, key in structures.items() if key in busy and key not in kept}
    return prefer, avoid


def _work(study: Study, paths: StudyPaths, settings: QueueSettings, tracker: Tracker, queue: CellQueue,
          experiment_id: str, parent_id: str, bar: tqdm, progress: bool, max_cells: int | None = None) -> int:
    from cyclegan.core.step_reuse import structure_key

    trained = taken = 0
    ended: set[str] = set()
    runs = RunLoop(tracker, progress=progress)
    structures = {cell.cell_id: structure_key(cell.config) for cell in study.cells}
    with sigterm_as_interrupt():
        while max_cells is None or taken < max_cells:
            queue.reap_dead_workers()
            queue.reap_dead_local_workers()  # e.g. one stopped by a full disk before it could requeue its cell
            _end_runs_left_running(queue, tracker, ended)
            claimed = queue.claim(*claim_preferences(structures, runs.steps.kept_structures(), queue.running_cells()))
            if claimed is None:
                if not queue.any_running():
                    break
                time.sleep(settings.poll_seconds)  # others are busy; stay to take over a dead one's cell
                _refresh(bar, queue)
                continue
            trial_id, cell_id = claimed
            taken += 1
            cell = study.cell(cell_id)
            owner = Owner(f"cell {cell_id}", hand_back=lambda why, trial=trial_id: queue.requeue(trial, why),
                          record_failure=lambda why, trial=trial_id: queue.fail(trial, why))
            # The heartbeat starts with the claim: setting up the run (MLflow, TensorFlow's first device
            # query) can outlast a short grace period on a loaded machine, and another worker would take the cell.
            # It ends once the cell is recorded: recording (the FLOP count, MLflow) takes a moment too.
            with Heartbeat(queue.storage, trial_id, settings.heartbeat_seconds):
                try:  # a stop between the claim and the training hands the cell straight back (not after the grace period)
                    run_id = tracker.child_run(experiment_id, parent_id, study=study.name, cell=cell_id,
                                               run_name=cell_id.rsplit("-", 1)[0], tags={**cell.levels, SEED_TAG: str(cell.seed)},
                                               config=cell.config)
                    queue.set_attr(trial_id, RUN_ATTR, run_id)
                    runs.tag_machine(run_id, cell.config)
                except KeyboardInterrupt:
                    queue.requeue(trial_id, "interrupted before training")
                    raise
                _refresh(bar, queue)
                try:  # a cell that drops its checkpoints when finished does not write a last one
                    trained_cell = runs.train(run_id, cell.config, paths.cell_dir(study, cell_id), owner,
                                              final_checkpoint=cell.config.train.keep_final_checkpoint)
                except RunFailed as failed:  # a failed cell must not stop the others
                    say(f"cell {cell_id} failed: {failed.reason}")
                    _refresh(bar, queue)
                    continue
                # A stop now waits until the trained cell is recorded done: its training is not lost to
                # a Ctrl-C pressed once (a second one hands it back to resume: _record_done).
                with graceful_stop() as stop:
                    cycle_loss = _record_done(runs, tracker, queue, settings, trial_id, run_id, cell, trained_cell, owner)
            trained += 1
            # Without bars (a batch job's log), one line per finished cell says where the study is.
            say(f"cell {cell_id} done: loss/cycle {cycle_loss:.4g}, "
                f"MLflow run {run_id}", enabled=not progress)
            if stop.requested is not None:
                raise StopSignal(stop.requested)
            _refresh(bar, queue)
    return trained


def _record_done(runs: RunLoop, tracker: Tracker, queue: CellQueue, settings: QueueSettings, trial_id: int, run_id: str,
                 cell: Cell, trained_cell: Trained, owner: Owner) -> float:
    """Record a trained cell done; returns its final cycle loss. Its trial is COMPLETE before its
    checkpoints go (one copy of each artifact: its MLflow models now hold the generators), so that no
    moment leaves a cell RUNNING without checkpoints: a worker killed in between leaves a done cell
    with its checkpoints (disk), not one to train again from the start; and a cell another worker took
    over meanwhile keeps the checkpoints that worker resumes from. A second signal (the user insists;
    the first waits, see the caller) before the trial is complete hands the cell back as an
    interrupted training does, to resume from its checkpoints: the parent run is then not left
    RUNNING for a cell that nobody trains. After it, only dropping files is left, which a stop may
    cut short (the models' pointer is written before their files go)."""
    from cyclegan.core.runfolder.retention import finish_study_cell

    result = trained_cell.result
    cycle_loss = float(result.final_metrics.get("loss/cycle", float("nan")))
    try:
        runs.record_machine_use(run_id, cell.config, trained_cell)
        tracker.end_run(run_id, "FINISHED")
        completed = queue.complete(trial_id, cycle_loss)
    except KeyboardInterrupt:
        runs.hand_back_unrecorded(run_id, owner)  # the owner's requeue is False once the trial is complete
        raise
    if completed:
        finish_study_cell(result.run_dir.root, cell.config, models_stored_at=trained_cell.generators_stored_at)
    else:
        say(f"warning: cell {cell.cell_id}: another worker took it over while it trained here (no heartbeat for "
            f"{settings.grace_seconds:g} s, a stalled machine?); it will be trained again from its checkpoint, "
            f"this training stays in MLflow run {run_id}")
    return cycle_loss


def _end_runs_left_running(queue: CellQueue, tracker: Tracker, checked: set[str]) -> None:
    """End as FAILED, with the queue's reason, the MLflow run of a cell left failed while its run still
    says RUNNING: its workers died too often, and the process that noticed the last death failed the
    cell (:class:`~cyclegan.runs.queue.HandOn`). A later ``--retry-failed`` resumes into the same run.
    Each failed cell's run is looked at once per worker (``checked``)."""
    for run_id, reason in queue.failed_runs().values():
        if run_id not in checked:
            checked.add(run_id)
            if tracker.run_status(run_id) == "RUNNING":
                tracker.end_run(run_id, "FAILED", reason)


def cells_left(study: Study, paths: StudyPaths, settings: QueueSettings = DEFAULT_QUEUE) -> int:
    """How many cells wait or run (see :func:`_unfinished`): what decides whether a worker that
    stopped after ``max_cells`` leaves work for a fresh one (``cyclegan worker``'s exit status)."""
    with opened_storage(paths.storage_url, settings) as storage:
        counts = CellQueue(study, storage).counts()
    return counts["waiting"] + counts["running"]


def _unfinished(counts: Counter) -> bool:
    """Cells wait, or run: a running cell may be a dead worker's, which a fresh worker takes over
    after the grace period (one whose cells all run in live workers just waits and ends with them)."""
    return bool(counts["waiting"] or counts["running"])


def _refresh(bar: tqdm, queue: CellQueue) -> None:
    counts = queue.counts()
    bar.n = counts["done"]
    bar.set_postfix(**_postfix(counts), refresh=False)
    bar.refresh()


def _postfix(counts: Counter) -> dict:
    return {"running": counts["running"], "waiting": counts["waiting"], "failed": counts["failed"]}


__all__ = ["DEFAULT_QUEUE", "StudyPaths", "cells_left", "run_study", "run_worker"]

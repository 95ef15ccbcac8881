"""Hyper-parameter search: an Optuna study whose trials are tracked runs of the shared training core.

``run_tune`` is what ``cyclegan tune`` does: check the stores, data and weights, add ``trials``
trials to the study (created on first use, continued afterwards), in this process or in N worker
processes, then write the best trial's settings and a summary. Each trial is one call of
:func:`cyclegan.core.trainer.train` in ``RUNS_DIR/<study>/trials/<number>/`` and one MLflow child run
(``role=trial``) of the study's parent run.

Pruning: after every evaluated mini-epoch :class:`TrialPruning` reports the objective and asks
:class:`GuardedPruner`, which stops a trial whose objective is non-finite or whose outputs have
collapsed (after the warm-up) at once, and otherwise defers to Optuna's median rule. A NaN loss
stops the trainer; the trial is pruned too (diverged), so TPE learns to avoid that region.

A trial trains through the run lifecycle it shares with study cells (:mod:`cyclegan.runs.lifecycle`:
status mapping, full disk, the kept traced step). Workers follow the ablation (same storage,
heartbeats, SIGTERM as Ctrl-C): a dead worker's trial is failed after the grace period and a copy with
the same parameters waits; an interrupted trial, or one stopped by a full disk, is re-queued the same
way. A copy resumes in its original's run directory.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
from optuna.pruners import BasePruner, MedianPruner, NopPruner
from optuna.storages import (
    RDBStorage,
    RetryHeartbeatStaleTrialCallback,
    fail_stale_trials,
)
from optuna.trial import TrialState

from cyclegan import names
from cyclegan.core.callbacks import Callback, MiniEpochRecord, NonFiniteLossError
from cyclegan.core.runfolder.layout import RunDir
from cyclegan.masking import mask
from cyclegan.names import PRUNE_REASON_TAG as REASON_TAG
from cyclegan.names import RETRY_OF_TAG
from cyclegan.names import TRIAL_STATE_TAG as STATE_TAG
from cyclegan.runs.lifecycle import Owner, RunFailed, RunLoop, Trained
from cyclegan.runs.orchestration import DEFAULT_QUEUE, RUNS_PER_PROCESS, StudyPaths, describe_stores, open_session, run_worker_processes, stopped_status
from cyclegan.runs.queue import HandOn, QueueSettings, opened_storage
from cyclegan.runs.tracking import Tracker
from cyclegan.runs.tune_summary import TuneSummary, summarize
from cyclegan.runs.workers import say, worker_command
from cyclegan.signals import StopSignal, graceful_stop, sigterm_as_interrupt
from cyclegan.spec.config import ConfigError, RunConfig
from cyclegan.spec.identity import OPERATIONAL_KEYS, differences
from cyclegan.spec.tune_space import (
    OBJECTIVE_METRIC,
    PrunerSettings,
    TuneSpec,
    objective_value,
)

# Optuna user attributes of a trial. A retried copy inherits them, which is how it finds its
# original's MLflow run (``RUN_DIR_ATTR`` only records the directory it used).
RUN_DIR_ATTR, MLFLOW_ATTR, HEALTH_ATTR, REASON_ATTR = "run_dir_trial", "mlflow_run_id", "health", "reason"
# Study attributes: what the study was started with, so a continued study stays comparable.
KIND_ATTR, BASE_ATTR, OBJECTIVE_ATTR = "cyclegan_kind", "base_config", "objective"


def guard_reason(health: dict | None, settings: PrunerSettings) -> str | None:
    """Why a mini-epoch's facts stop the trial regardless of other trials, or None."""
    if not health or health["mini_epoch"] <= settings.warmup_mini_epochs:
        return None
    if not health["finite"]:
        return f"objective is not finite at mini-epoch {health['mini_epoch']}"
    if settings.prune_collapsed and health["collapsed"]:
        return f"eval/collapsed = 1 at mini-epoch {health['mini_epoch']}"
    return None


class GuardedPruner(BasePruner):
    """Optuna's median rule (or none), plus immediate pruning of collapsed or non-finite trials."""

    def __init__(self, settings: PrunerSettings):
        self.settings = settings
        self.inner = NopPruner() if settings.type == "none" else MedianPruner(
            n_startup_trials=settings.startup_trials, n_warmup_steps=settings.warmup_mini_epochs + 1)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if guard_reason(trial.user_attrs.get(HEALTH_ATTR), self.settings):
            return True
        return trial.last_step is not None and self.inner.prune(study, trial)


class TrialPruning(Callback):
    """Reports each evaluated mini-epoch's objective to the trial and raises TrialPruned when told."""

    def __init__(self, trial: optuna.Trial, spec: TuneSpec, log_metrics):
        self.trial, self.spec, self.log_metrics = trial, spec, log_metrics
        self.last_logged: int | None = None

    def on_mini_epoch_end(self, record: MiniEpochRecord) -> None:
        value = objective_value(self.spec.objective, record.metrics)
        if value is None:
            return  # no evaluation this mini-epoch: nothing to judge
        finite = math.isfinite(value)
        if finite:  # a NaN intermediate value would poison TPE's ranking of pruned trials
            self.trial.report(value, step=record.mini_epoch)
            self.log_metrics({OBJECTIVE_METRIC: value}, record.mini_epoch)
            self.last_logged = record.mini_epoch
        health = {"mini_epoch": record.mini_epoch, "finite": finite,
                  "collapsed": bool(record.metrics.get("eval/collapsed", 0.0) >= 0.5)}
        self.trial.set_user_attr(HEALTH_ATTR, health)  # the pruner reads it from the storage
        if self.trial.should_prune():
            reason = guard_reason(health, self.spec.pruner) or (
                f"objective {value:.4g} at mini-epoch {record.mini_epoch} is worse than the median of complete trials")
            raise optuna.TrialPruned(reason)


def trial_dir(paths: StudyPaths, spec: TuneSpec, number: int) -> Path:
    return names.trial_dir(paths.runs_dir, spec.name, number)


class _TrialObjective:
    """One trial: suggest, train with tracking and pruning (the run lifecycle of
    :mod:`cyclegan.runs.lifecycle`, shared with study cells), return the final objective."""

    def __init__(self, spec: TuneSpec, paths: StudyPaths, tracker: Tracker, experiment_id: str, parent_id: str, progress: bool):
        self.spec, self.paths, self.tracker = spec, paths, tracker
        self.experiment_id, self.parent_id = experiment_id, parent_id
        self.runs = RunLoop(tracker, progress=progress)  # one traced step kept per process, as a study worker
        self.stop_requested: int | None = None  # a signal that arrived while a finished trial was recorded

    def __call__(self, trial: optuna.Trial) -> float:
        params = {key: distribution.suggest(trial, key) for key, distribution in self.spec.space.items()}
        try:
            config = self.spec.trial_config(params)
        except ConfigError as err:  # a combination the schema refuses (each value alone was checked)
            trial.set_user_attr(REASON_ATTR, mask(str(err))[:2000])
            raise
        # A retry (of a dead worker's or an interrupted trial) resumes in its original's directory.
        original = RetryHeartbeatStaleTrialCallback.retried_trial_number(_frozen(trial))
        root = trial.number if original is None else original
        previous = trial.user_attrs.get(MLFLOW_ATTR)
        if previous and self.tracker.run_status(previous) == "RUNNING":  # its worker died
            self.tracker.end_run(previous, "FAILED", f"worker stopped; continued as trial {trial.number}")
        tags = {STATE_TAG: "RUNNING", **({RETRY_OF_TAG: str(root)} if root != trial.number else {})}
        run_id = self.tracker.trial_run(self.experiment_id, self.parent_id, study=self.spec.name, trial=trial.number,
                                        config=config, tags=tags)
        trial.set_user_attr(RUN_DIR_ATTR, root)
        trial.set_user_attr(MLFLOW_ATTR, run_id)
        self.runs.tag_machine(run_id, config)
        run_dir = trial_dir(self.paths, self.spec, root)
        pruning = TrialPruning(trial, self.spec, lambda values, step: self.tracker.log_metrics(run_id, values, step))
        try:
            trained = self.runs.train(run_id, config, run_dir, self._owner(trial, run_id), callbacks=(pruning,),
                                      passthrough=(optuna.TrialPruned, NonFiniteLossError))
        except optuna.TrialPruned as pruned:
            self._pruned(trial, run_id, run_dir, str(pruned))
            raise
        except NonFiniteLossError as err:  # diverged: as bad as a trial gets, so TPE should learn from it
            self._pruned(trial, run_id, run_dir, f"diverged: {err}")
            raise optuna.TrialPruned(f"diverged: {err}") from None
        # A stop now waits until the trial is recorded complete (the signal is raised again by
        # run_trials once Optuna has stored the trial): interrupted here, its training would be lost.
        with graceful_stop() as stop:
            try:
                return self._finished(trial, run_id, run_dir, config, trained, pruning)
            except KeyboardInterrupt:  # a second signal (the user insists): Optuna fails the trial, so a copy must wait
                self.runs.hand_back_unrecorded(run_id, self._owner(trial, run_id))
                raise
            finally:  # complete or pruned: either way Optuna stores the trial before the stop goes on
                self.stop_requested = stop.requested

    def _finished(self, trial: optuna.Trial, run_id: str, run_dir: Path, config: RunConfig, trained: Trained,
                  pruning: TrialPruning) -> float:
        """Record a trial whose training finished: its machine use and objective; pruned when the
        objective is not finite."""
        result = trained.result
        self.runs.record_machine_use(run_id, config, trained)
        value = objective_value(self.spec.objective, result.final_metrics)
        if value is None or not math.isfinite(value):
            reason = f"final objective is {value} (metrics {', '.join(self.spec.objective.metrics())})"
            self._pruned(trial, run_id, run_dir, reason)
            raise optuna.TrialPruned(reason)
        if pruning.last_logged != result.mini_epochs:  # e.g. a resumed copy that had nothing left to train
            self.tracker.log_metrics(run_id, {OBJECTIVE_METRIC: value}, result.mini_epochs)
        self.tracker.set_tags(run_id, {STATE_TAG: "COMPLETE"})
        self.tracker.end_run(run_id, "FINISHED")
        return value

    def _owner(self, trial: optuna.Trial, run_id: str) -> Owner:
        """The trial as the lifecycle's queue entry. Handed back (interrupted, full disk): this trial
        fails, as Optuna records any trial that raised, and a copy with its parameters waits to resume
        in its directory; its run is tagged FAIL as in Optuna, the copy gets its own run."""

        def hand_back(why: str) -> bool:
            # The copy first: it is what resumes the trial; the tag is for the UI (and a store on a
            # full disk may refuse it).
            HandOn(None, died=False, forget=(REASON_ATTR,))(trial.study, _frozen(trial))  # a hand-back is not a death
            trial.set_user_attr(REASON_ATTR, mask(f"{why}; a copy waits to resume it")[:2000])
            self.tracker.set_tags(run_id, {STATE_TAG: "FAIL"})
            return True

        def record_failure(reason: str) -> None:
            trial.set_user_attr(REASON_ATTR, mask(reason)[:2000])
            self.tracker.set_tags(run_id, {STATE_TAG: "FAIL"})

        return Owner(f"trial {trial.number}", hand_back=hand_back, record_failure=record_failure)

    def _pruned(self, trial: optuna.Trial, run_id: str, run_dir: Path, reason: str) -> None:
        trial.set_user_attr(REASON_ATTR, mask(reason)[:2000])
        self.tracker.set_tags(run_id, {STATE_TAG: "PRUNED", REASON_TAG: reason[:5000]})
        folder = RunDir(run_dir)
        self.tracker.log_artifacts(run_id, [(folder.history_file, None), (folder.config_file, None)])
        self.tracker.end_run(run_id, "FINISHED")


def _frozen(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """The trial as stored, with the system attributes that record retries."""
    storage = trial.storage
    study_id = storage.get_study_id_from_name(trial.study.study_name)
    return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, trial.number))


def open_tune_study(spec: TuneSpec, storage: RDBStorage, worker_index: int = 0) -> optuna.Study:
    """Create the study or continue it; refuse one started with another objective or base config."""
    try:
        existing = len(storage.get_all_trials(storage.get_study_id_from_name(spec.name), deepcopy=False))
    except KeyError:
        existing = 0
    # A fixed seed alone would replay the same random start in a continued study or a second worker.
    seed = int(np.random.SeedSequence([spec.sampler.seed, existing, worker_index]).generate_state(1)[0])
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.sampler.startup_trials, constant_liar=True)
    study = optuna.create_study(study_name=spec.name, storage=storage, load_if_exists=True, sampler=sampler,
                                pruner=GuardedPruner(spec.pruner), direction=spec.objective.direction)
    where = f"{spec.path}: Optuna study {spec.name!r}"
    base = {k: v for k, v in spec.base.flat().items() if k not in OPERATIONAL_KEYS}
    objective = spec.objective.model_dump(mode="json")
    if KIND_ATTR not in study.user_attrs:
        if existing:
            raise ConfigError(f"{where} exists and is not a tuning study (an ablation's?); set another name: in the file")
        study.set_user_attr(KIND_ATTR, "tune")
        study.set_user_attr(BASE_ATTR, base)
        study.set_user_attr(OBJECTIVE_ATTR, objective)
        return study
    if study.user_attrs[OBJECTIVE_ATTR] != objective:
        raise ConfigError(f"{where} was started with objective {study.user_attrs[OBJECTIVE_ATTR]}; its values would not be "
                          f"comparable with {objective}. Set another name: to start a new study")
    lines = differences(study.user_attrs[BASE_ATTR], base, then="the study")
    if lines:
        raise ConfigError(f"{where} was started with another base config:\n{lines}\nSet another name: to start a new study")
    return study


def run_tune(spec: TuneSpec, paths: StudyPaths, *, trials: int, workers: int = 1, settings: QueueSettings = DEFAULT_QUEUE,
             overrides: tuple[str, ...] = (), progress: bool = True) -> TuneSummary:
    """Add ``trials`` trials to the study, then summarise the whole study (see the module docstring)."""
    trains_here = workers <= 1 and trials <= RUNS_PER_PROCESS
    session = open_session(spec.name, spec.description, spec.path, paths, (spec.base,), settings, trains_here=trains_here)
    with opened_storage(paths.storage_url, settings) as storage:
        study = open_tune_study(spec, storage)
        fail_stale_trials(study)  # dead workers' trials become waiting copies that this run trains first
        say(f"tune {spec.name}: adding {trials} trial(s) to {len(study.trials)}, {describe_stores(session.tracker, paths.storage_url)}", progress)
        try:
            if trains_here:
                _run_trials(spec, paths, storage, trials, 0, progress)  # on this run's storage: no second one
            else:  # more trials than one process should train (RUNS_PER_PROCESS says why), or several workers
                _run_worker_processes(spec, paths, storage, trials, workers, settings, overrides, progress)
        except BaseException as stop:  # Ctrl-C, SIGTERM, a full disk, a store that failed: the parent must not stay RUNNING
            _end_parent_early(session, study, stop)
            raise
        _end_runs_left_running(study, session.tracker)
        summary = summarize(study, spec, paths.runs_dir / spec.name)
        summary.log_to(session.tracker, session.parent_id)
        session.finish(summary.best_number is not None)
        return summary


def _end_runs_left_running(study: optuna.Study, tracker: Tracker) -> None:
    """End as FAILED the MLflow run of each failed trial that still says RUNNING: its worker died (the
    process that noticed failed the trial), and no copy ended it, as a copy does when it starts
    (:meth:`_TrialObjective.__call__`): its workers died too often to hand it on."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        run_id = trial.user_attrs.get(MLFLOW_ATTR)
        if run_id and tracker.run_status(run_id) == "RUNNING":
            tracker.set_tags(run_id, {STATE_TAG: "FAIL"})
            tracker.end_run(run_id, "FAILED", trial.user_attrs.get(REASON_ATTR, "its worker died (no heartbeat)"))


def _end_parent_early(session, study: optuna.Study, stop: BaseException) -> None:
    """The parent run of a tune that stopped before its trials were done: KILLED when interrupted or
    out of disk (a copy of the stopped trial waits to resume), FAILED otherwise; left RUNNING while
    another process still trains a trial. Best effort: the store that stopped the tune may refuse."""
    with contextlib.suppress(Exception):
        if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            session.tracker.finish_parent(session.parent_id, stopped_status(stop))


def run_trials(spec: TuneSpec, paths: StudyPaths, *, trials: int, settings: QueueSettings = DEFAULT_QUEUE,
               worker_index: int = 0, progress: bool = True) -> Counter:
    """Run ``trials`` trials in this process; returns how many ended in each state."""
    with opened_storage(paths.storage_url, settings) as storage:
        return _run_trials(spec, paths, storage, trials, worker_index, progress)


def _run_trials(spec: TuneSpec, paths: StudyPaths, storage: RDBStorage, trials: int, worker_index: int, progress: bool) -> Counter:
    study = open_tune_study(spec, storage, worker_index)
    tracker = Tracker(paths.runs_dir)
    experiment_id = tracker.experiment_id(spec.name)
    objective = _TrialObjective(spec, paths, tracker, experiment_id, tracker.parent_run(experiment_id, spec.name), progress)
    states: Counter = Counter()

    def say_outcome(_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        stopped, objective.stop_requested = objective.stop_requested, None
        states[trial.state.name] += 1
        value = f" {OBJECTIVE_METRIC} = {trial.value:.4g}" if trial.state == TrialState.COMPLETE else ""
        reason = f": {trial.user_attrs[REASON_ATTR]}" if trial.state != TrialState.COMPLETE and REASON_ATTR in trial.user_attrs else ""
        say(f"trial {trial.number} {trial.state.name}{value}{reason}")
        if stopped is not None:  # the stop that waited while this trial was recorded: now it stops the tune
            raise StopSignal(stopped)

    with sigterm_as_interrupt():
        # catch: one failing trial (a combination the schema refuses, a training that raised) must not stop
        # the others. Anything else stops them all: a full disk or an interrupt (the trial's copy waits),
        # and an error of the stores around the training (MLflow, Optuna), which every next trial would
        # meet too. The outcome of each trial is our own line (say_outcome); Optuna's warning for a failed
        # trial, with its traceback, is shown with --verbose only (cyclegan.cli.quiet).
        study.optimize(objective, n_trials=trials, catch=(ConfigError, RunFailed), callbacks=[say_outcome], gc_after_trial=True)
    return states


def process_chunks(trials: int, workers: int, per_process: int) -> list[list[int]]:
    """How many trials each process of each worker trains: ``trials`` split evenly over ``workers``,
    each worker's share cut into processes of at most ``per_process``. (20, 2, 8) -> [[8, 2], [8, 2]]."""
    shares = [trials // workers + (index < trials % workers) for index in range(workers)]
    return [[min(per_process, share - start) for start in range(0, share, per_process)] for share in shares]


def _run_worker_processes(spec: TuneSpec, paths: StudyPaths, storage: RDBStorage, trials: int, workers: int,
                          settings: QueueSettings, overrides: tuple[str, ...], progress: bool) -> None:
    """The trials split evenly over N workers, each a sequence of processes of at most
    RUNS_PER_PROCESS trials (see :func:`process_chunks` and cyclegan.runs.workers)."""
    chunks = [c for c in process_chunks(trials, workers, RUNS_PER_PROCESS) if c]

    def command(index: int, count: int) -> list[str]:
        return worker_command("tune", str(spec.path), "--trials", str(count), "--worker-index", str(index + 1),
                              runs_dir=paths.runs_dir, settings=settings, overrides=overrides)

    commands = [command(index, worker_chunks.pop(0)) for index, worker_chunks in enumerate(chunks)]
    study_id = storage.get_study_id_from_name(spec.name)
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    start = len(storage.get_all_trials(study_id, deepcopy=False, states=finished))
    run_worker_processes(commands, paths.storage_url, total=trials, desc=f"tune {spec.name}", progress=progress,
                         next_command=lambda index: command(index, chunks[index].pop(0)) if chunks[index] else None,
                         done=lambda: len(storage.get_all_trials(study_id, deepcopy=False, states=finished)) - start)

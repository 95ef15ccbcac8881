"""The study's cells as a work queue in an Optuna study, shared by any number of workers.

Each cell is an Optuna trial with ``user_attrs["cell"]``. Enqueued trials wait; a worker claims
one by moving it WAITING -> RUNNING in one transaction that reads the state and writes it (the same
pop Optuna's own ``ask`` uses), so two workers never get the same trial. PostgreSQL locks the row
(``SELECT ... FOR UPDATE``); SQLite has no row locks, so every transaction on the local queue takes
the database's write lock when it begins (:func:`_serialise_sqlite_transactions`). A running trial sends heartbeats; when a
worker dies, ``fail_stale_trials`` fails its trial after the grace period and
:class:`HandOn` enqueues a copy, which the next free worker claims and resumes from
the cell's checkpoint. A cell with a COMPLETE trial is never trained again.

Storage: an SQLAlchemy URL. ``sqlite:///runs/optuna.db`` (the default, one machine) or
``postgresql://user:pass@host/db`` (many machines). Optuna's journal file would also be a local
file, but it has no heartbeat, so a killed worker's cell would never be handed on.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import optuna
from optuna.storages import (
    RDBStorage,
    fail_stale_trials,
)
from optuna.trial import FrozenTrial, TrialState

from cyclegan import masking, names
from cyclegan.places import writable_folder
from cyclegan.runs.probe import StorageError, check_storage, connect_timeout_args, is_database, probe_seconds
from cyclegan.spec.study import Study

CELL_ATTR = "cell"
WORKER_ATTR = "worker"  # "<host>:<pid>" of the process training the cell (cyclegan.runs.ablation)
PID_SPACE_ATTR = "worker_pid_space"  # the PID namespace that pid is in (pid_space())
REASON_ATTR = "failure_reason"
RUN_ATTR = "mlflow_run_id"  # the cell's MLflow run, set by the worker that claimed it (copies keep it)


@dataclass(frozen=True)
class QueueSettings:
    heartbeat_seconds: int = 30
    grace_seconds: int = 120
    """A running cell without a heartbeat for this long is failed and handed to another worker."""
    poll_seconds: float = 5.0
    max_retry: int = 3
    """How often one cell is handed on after its worker died, before it is left failed."""


# Heartbeats and stale-trial retry are marked experimental in Optuna 5 but are the documented
# mechanism for exactly this; the warning would print once per worker for nothing.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


DEATHS_ATTR = "worker_deaths"  # system attribute: how many workers died holding this cell (or trial)


class HandOn:
    """A failed trial's waiting copy, as Optuna's ``RetryHeartbeatStaleTrialCallback`` makes it (same
    parameters, user attributes, ``failed_trial`` and ``retry_history``, so
    ``RetryFailedTrialCallback.retried_trial_number`` still names the original), with two changes:
    only worker deaths count against ``max_deaths`` (Optuna counts every copy, so a cell handed back
    by three SIGTERMs, e.g. SLURM time limits, was left failed after its worker's first death); and the
    copy forgets the attributes of the attempt it replaces (``forget``: its worker, which made a freshly
    claimed copy look abandoned to reap_dead_local_workers, and its failure reason). Returns whether a
    copy waits. Used as the storage's heartbeat-stale callback (``died=True``) and for hand-backs."""

    def __init__(self, max_deaths: int | None, *, died: bool, forget: Collection[str] = ()):
        self.max_deaths, self.died, self.forget = max_deaths, died, {WORKER_ATTR, PID_SPACE_ATTR, REASON_ATTR, *forget}

    def deaths_after(self, trial: FrozenTrial) -> int:
        return int(trial.system_attrs.get(DEATHS_ATTR, 0)) + int(self.died)

    def exhausted(self, trial: FrozenTrial) -> bool:
        return self.max_deaths is not None and self.deaths_after(trial) > self.max_deaths

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if self.exhausted(trial):
            return False
        history = [*trial.system_attrs.get("retry_history", []), trial.number]
        system_attrs = {"failed_trial": trial.number, **trial.system_attrs, "retry_history": history,
                        DEATHS_ATTR: self.deaths_after(trial)}
        user_attrs = {key: value for key, value in trial.user_attrs.items() if key not in self.forget}
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
                                                  user_attrs=user_attrs, system_attrs=system_attrs))
        return True


def open_storage(url: str, settings: QueueSettings) -> RDBStorage:
    """The queue's storage, after a short probe of a database server (Optuna's engine has no
    connect timeout of its own). ``postgresql://`` uses psycopg 3 when only it is installed (see
    :func:`cyclegan.runs.probe.database_url`); a missing driver is named with what to install."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = check_storage(url)
    where = f"Optuna storage {masking.mask(url)}"
    database = names.sqlite_file(url)
    if database is not None:
        writable_folder(database.parent, "Optuna queue (optuna.db)")  # every worker writes its claims
    if url.startswith("sqlite"):
        # isolation_level None: the driver starts no transaction of its own; _serialise_sqlite_transactions does.
        engine_kwargs = {"connect_args": {"timeout": 60, "isolation_level": None}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
        if is_database(url):  # later reconnects fail in seconds too, not at the OS's TCP timeout
            engine_kwargs["connect_args"] = _reconnect_timeout(url)
    try:
        storage = RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=settings.heartbeat_seconds,
            grace_period=settings.grace_seconds,
            heartbeat_stale_trial_callback=HandOn(settings.max_retry, died=True),
        )
    except Exception as err:
        detail = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        raise StorageError(masking.mask(f"{where} is unusable: {type(err).__name__}: {detail}")) from None
    if url.startswith("sqlite"):
        _serialise_sqlite_transactions(storage.engine)
    return storage


def _serialise_sqlite_transactions(engine) -> None:
    """Begin every transaction on the local queue with ``BEGIN IMMEDIATE`` (SQLAlchemy's recipe for
    transactional pysqlite). Python's sqlite3 driver otherwise runs a transaction's SELECT outside
    it and begins only at the first write, and SQLite ignores ``FOR UPDATE``: two workers claiming
    at once both read a cell WAITING and both set it RUNNING. Measured: two processes claiming 24
    cells at once, one cell was claimed by both (tests/test_ablation.py, the claiming race); Optuna's
    FAQ warns of the same for its own ``ask``. With the write lock taken at the start, the second
    claim waits (up to the connection's timeout), then reads RUNNING and moves on."""
    from sqlalchemy import event

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _reconnect_timeout(url: str) -> dict:
    """The driver's connect timeout for the storage's engine, unless the URL sets its own."""
    import sqlalchemy

    parsed = sqlalchemy.engine.make_url(url)
    args = connect_timeout_args(parsed.get_dialect().driver, max(probe_seconds(), 10.0))
    return {k: v for k, v in args.items() if k not in parsed.query}


class CellQueue:
    def __init__(self, study: Study, storage: RDBStorage):
        self.study = study
        self.storage = storage
        self.optuna_study = optuna.create_study(study_name=study.name, storage=storage, load_if_exists=True, direction="minimize")
        self.study_id = storage.get_study_id_from_name(study.name)  # Optuna's public storage API
        self._order = [cell.cell_id for cell in study.cells]  # enqueue and report in the study's order
        self._wanted = set(self._order)

    def _trial_id(self, trial: optuna.trial.FrozenTrial) -> int:
        """The storage's id of ``trial`` (Optuna keeps it in a private attribute; this is the public way)."""
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)

    def _trials(self, states: tuple[TrialState, ...] | None = None):
        return [t for t in self.storage.get_all_trials(self.study_id, deepcopy=False, states=states) if t.user_attrs.get(CELL_ATTR) in self._wanted]

    def cell_states(self) -> dict[str, str]:
        """Each cell's state: ``done`` > ``running`` > ``waiting`` > ``failed`` > ``new``."""
        rank = {TrialState.COMPLETE: 4, TrialState.RUNNING: 3, TrialState.WAITING: 2, TrialState.FAIL: 1, TrialState.PRUNED: 0}
        state_of_rank = {4: "done", 3: "running", 2: "waiting", 1: "failed", 0: "new"}  # (not `names`: the module)
        best: dict[str, int] = dict.fromkeys(self._order, 0)
        for trial in self._trials():
            cell = trial.user_attrs[CELL_ATTR]
            best[cell] = max(best[cell], rank[trial.state])
        return {cell: state_of_rank[r] for cell, r in best.items()}

    def counts(self) -> Counter:
        return Counter(self.cell_states().values())

    def failures(self) -> dict[str, str]:
        """Cells whose latest trial failed, with the reason."""
        states = self.cell_states()
        reasons = {}
        for trial in sorted(self._trials((TrialState.FAIL,)), key=lambda t: t.number):
            cell = trial.user_attrs[CELL_ATTR]
            if states[cell] == "failed":
                reasons[cell] = trial.user_attrs.get(REASON_ATTR, "worker died (no heartbeat)")
        return reasons

    def failed_runs(self) -> dict[str, tuple[str, str]]:
        """Cells whose latest trial failed, with the MLflow run of their last attempt and the reason:
        (run id, reason). A cell its workers died holding too often is failed by whichever process
        noticed, and no process of its own is left to end that run."""
        reasons = self.failures()
        runs: dict[str, tuple[str, str]] = {}
        for trial in sorted(self._trials((TrialState.FAIL,)), key=lambda t: t.number):
            cell, run_id = trial.user_attrs[CELL_ATTR], trial.user_attrs.get(RUN_ATTR)
            if cell in reasons and run_id:
                runs[cell] = (run_id, reasons[cell])
        return runs

    def enqueue_missing(self, *, retry_failed: bool = False) -> int:
        """Enqueue every cell that is neither done, running nor waiting (and failed ones when asked)."""
        added = 0
        for cell, state in self.cell_states().items():
            if state == "new" or (retry_failed and state == "failed"):
                self.optuna_study.enqueue_trial({}, user_attrs={CELL_ATTR: cell}, skip_if_exists=False)
                added += 1
        return added

    def reap_dead_workers(self) -> None:
        fail_stale_trials(self.optuna_study)

    def reap_dead_local_workers(self) -> int:
        """Hand back at once the running cells of workers of THIS machine whose process is gone (a
        crash, a full disk that kept it from recording anything): heartbeats would only tell after
        the grace period. Returns how many were requeued.

        Only a worker of this host name AND this PID namespace (:func:`pid_space`) is looked up by
        its pid: containers that share a host name (``docker --network host``, a pod) each number
        their own processes, and a live worker's pid in another namespace is simply not seen here.
        A worker whose namespace is unknown (a claim by an earlier version, which did not record it,
        or a system that does not tell it) is left to the heartbeats: a dead one's cell is taken over
        after the grace period, and a live one's never here."""
        host, space = socket.gethostname(), pid_space()
        requeued = 0
        for trial in self._trials((TrialState.RUNNING,)):
            worker_host, _, pid = str(trial.user_attrs.get(WORKER_ATTR, "")).rpartition(":")
            same_space = space is not None and trial.user_attrs.get(PID_SPACE_ATTR) == space
            if worker_host == host and same_space and pid.isdigit() and not _alive(int(pid)):
                requeued += self.requeue(self._trial_id(trial), f"its worker (process {pid} on this machine) ended without handing it back",
                                         died=True)
        return requeued

    def running_cells(self) -> set[str]:
        return {t.user_attrs[CELL_ATTR] for t in self._trials((TrialState.RUNNING,))}

    def claim(self, prefer: Collection[str] = (), avoid: Collection[str] = ()) -> tuple[int, str] | None:
        """Atomically take a waiting cell: (trial id, cell id), or None when nothing waits. Cells in
        ``prefer`` are tried first and cells in ``avoid`` last, each group in the order they were enqueued."""
        def order(trial) -> tuple[int, int]:
            cell = trial.user_attrs[CELL_ATTR]
            return (0 if cell in prefer else 2 if cell in avoid else 1), trial.number

        for trial in sorted(self._trials((TrialState.WAITING,)), key=order):
            trial_id = self._trial_id(trial)
            try:
                if not self.storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    continue  # another worker was faster
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            self.storage.record_heartbeat(trial_id)
            # At once: a copy made by an earlier version carries its dead worker's attribute, which would
            # make the claimed cell look abandoned to reap_dead_local_workers. The namespace after the
            # pid: a copy has none (HandOn forgets it), and until it is written the pid is a worker of
            # unknown namespace, which reap_dead_local_workers leaves alone.
            self.storage.set_trial_user_attr(trial_id, WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
            space = pid_space()
            if space is not None:
                self.storage.set_trial_user_attr(trial_id, PID_SPACE_ATTR, space)
            cell = trial.user_attrs[CELL_ATTR]
            if self._taken_elsewhere(trial.number, cell):
                self.storage.set_trial_user_attr(trial_id, REASON_ATTR, "duplicate of another trial of this cell")
                self.storage.set_trial_state_values(trial_id, state=TrialState.PRUNED)
                continue
            return trial_id, cell
        return None

    def _taken_elsewhere(self, number: int, cell: str) -> bool:
        """Two coordinators enqueueing at once can create two trials of a cell: the lower number wins."""
        for other in self._trials((TrialState.COMPLETE, TrialState.RUNNING)):
            if other.user_attrs.get(CELL_ATTR) == cell and other.number != number:
                if other.state == TrialState.COMPLETE or other.number < number:
                    return True
        return False

    def any_running(self) -> bool:
        return bool(self._trials((TrialState.RUNNING,)))

    # complete, fail and requeue return False when another worker failed the trial first (this worker's
    # heartbeat lapsed past the grace period): the cell already waits in a fresh copy, so nothing is recorded.
    def complete(self, trial_id: int, value: float) -> bool:
        try:
            self.storage.set_trial_state_values(trial_id, state=TrialState.COMPLETE, values=[value])
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        return True

    def fail(self, trial_id: int, reason: str) -> bool:
        try:
            self.storage.set_trial_user_attr(trial_id, REASON_ATTR, masking.mask(reason)[:2000])  # an exception text may quote a URL
            self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        return True

    def requeue(self, trial_id: int, reason: str, *, died: bool = False) -> bool:
        """A cell handed back (interrupted) or whose worker ``died``: failed with its reason, and a fresh
        copy waits to resume it, unless its workers died more often than the storage's limit
        (QueueSettings.max_retry): then it stays failed, saying so. Returns whether a copy waits."""
        stale = self.storage.get_heartbeat_stale_trial_callback()
        hand_on = stale if died and isinstance(stale, HandOn) else HandOn(None, died=died)
        trial = self.storage.get_trial(trial_id)  # the copy is made from it: failing adds only the reason, which it forgets
        if hand_on.exhausted(trial):
            reason += (f"; its workers died {hand_on.deaths_after(trial)} times: left failed "
                       "(cyclegan ablate --retry-failed trains it again)")
        if not self.fail(trial_id, reason):
            return False  # a second copy would train the cell twice
        return hand_on(self.optuna_study, trial)

    def set_attr(self, trial_id: int, key: str, value: str) -> None:
        self.storage.set_trial_user_attr(trial_id, key, masking.mask(value))


def pid_space() -> str | None:
    """What tells this process's PID namespace apart: on Linux the target of ``/proc/self/ns/pid``
    (``pid:[4026531836]``), one per namespace, so two containers sharing a host name differ in it.
    Other systems have one process numbering per host: their name. None when Linux does not show it
    (no /proc mounted): this worker's pid is then never taken as this machine's."""
    if not sys.platform.startswith("linux"):
        return sys.platform
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process of that number: alive
        return True
    return True


class Heartbeat:
    """Records a heartbeat for a running trial every ``interval`` seconds, in a daemon thread."""

    def __init__(self, storage: RDBStorage, trial_id: int, interval: float):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a transient database error must not kill training; the next beat retries
                pass

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def opened_storage(url: str, settings: QueueSettings) -> Iterator[RDBStorage]:
    """:func:`open_storage` for the ``with`` block: its pooled connections are closed on leaving, not
    whenever the object is collected (a database server counts them as open until then, and a
    process that runs one study after another, a notebook or the tests, would gather them)."""
    storage = open_storage(url, settings)
    try:
        yield storage
    finally:
        storage.engine.dispose()


def read_local_queue(study: Study, storage_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Each cell's queue state and failure reason, for the report; ({}, {}) when the storage has no
    such study or cannot be read (the queue only adds detail: the report stands on MLflow)."""
    try:
        with opened_storage(storage_url, QueueSettings()) as storage:
            if study.name not in optuna.get_all_study_names(storage):
                return {}, {}
            queue = CellQueue(study, storage)
            return queue.cell_states(), queue.failures()
    except Exception:  # best effort, see above
        return {}, {}

"""The MLflow tracking store: where it is, and a client whose store has answered.

Store: ``MLFLOW_TRACKING_URI`` when set (a server, a database), else the embedded default: a
SQLite database ``RUNS_DIR/mlflow.db`` with artifacts under ``RUNS_DIR/mlartifacts``. The writer
(:mod:`cyclegan.runs.tracking`) and the reader (:mod:`cyclegan.runs.reader`) both open it here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient

from cyclegan import masking, names
from cyclegan.places import writable_folder
from cyclegan.runs.probe import TrackingError, check_tracking, database_url, is_database, is_http

__all__ = ["Store", "TrackingError", "artifact_location", "connect", "default_tracking_uri", "is_local", "missing_store",
           "ui_command"]


def default_tracking_uri(runs_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or names.sqlite_url(runs_dir / names.MLFLOW_DB)


def missing_store(runs_dir: Path) -> Path | None:
    """The database file of ``runs_dir``'s store when that store is a SQLite file that does not exist
    (opening it would create an empty one: a command that only reads refuses instead); None when it
    exists, or the store is a server or database (``MLFLOW_TRACKING_URI``)."""
    database = names.sqlite_file(default_tracking_uri(runs_dir))
    return database if database is not None and not database.exists() else None


def is_local(uri: str) -> bool:
    return uri.startswith("sqlite:")


def artifact_location(uri: str, runs_dir: Path, experiment: str) -> str | None:
    """Where a new experiment's artifacts go: under ``RUNS_DIR/mlartifacts`` for a store this process
    opens itself (SQLite, or a database server named by its SQLAlchemy URL), None for a tracking
    server, which has its own artifact root. Without it MLflow puts a database store's artifacts in
    ``./mlruns`` of whatever folder the first process was started from."""
    if is_local(uri) or is_database(uri):
        return (runs_dir / names.MLFLOW_ARTIFACTS / experiment).resolve().as_uri()
    return None


@dataclass(frozen=True)
class Store:
    """An MLflow client on a store that answered, and the runs folder local artifacts go to."""

    runs_dir: Path
    uri: str
    client: MlflowClient


def connect(runs_dir: Path, uri: str | None = None, *, writes: bool = False) -> Store:
    """A client whose store answers. A server or database is probed first with a short timeout
    (:mod:`cyclegan.runs.probe`): MLflow's own client would retry a dead one for minutes. Workers
    that start together on a new SQLite store race to create its tables and the loser sees a
    transient error, so a local store gets a few tries; a server gets one. A local store's folder
    is checked first when this process ``writes`` to it or must create it: SQLite's "unable to open
    database file" in a read-only folder was retried by MLflow and by the tries here for minutes."""
    uri = check_tracking(uri or default_tracking_uri(runs_dir))
    database = names.sqlite_file(uri)
    if database is not None:
        if writes or not database.exists():
            writable_folder(database.parent, "MLflow tracking store (mlflow.db)")
    attempts = 10 if is_local(uri) else 1
    for attempt in range(attempts):
        try:
            with _creating(uri):
                client = MlflowClient(tracking_uri=uri)
                client.search_experiments(max_results=1)
            return Store(runs_dir, uri, client)
        except Exception as err:
            if attempt == attempts - 1:
                if _REFUSED.search(str(err)):  # it answered, but not to these credentials
                    raise TrackingError(
                        f"MLflow tracking store {masking.mask(uri)} refused the credentials ({type(err).__name__}: {_first_line(err)}); "
                        "check the user and password in MLFLOW_TRACKING_URI, or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
                    ) from None
                raise TrackingError(
                    f"MLflow tracking store {masking.mask(uri)} is unreachable: {type(err).__name__}: {_first_line(err)}"
                ) from None
            time.sleep(0.5 + attempt * 0.5)
    raise AssertionError("unreachable")


UI_JOBS_VARIABLE = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"  # MLflow's documented switch for its server's job runners


def ui_command(runs_dir: Path, host: str, port: int, *, verbose: bool = False) -> tuple[list[str], dict[str, str]]:
    """``mlflow ui`` on the same store the studies write to: its command line and environment.
    The store URI goes in the environment (``MLFLOW_BACKEND_STORE_URI``, which ``mlflow ui`` reads):
    it may hold a password, and a command line is visible to every user of the machine. A
    database server is probed first, so a dead one is reported at once and not by MLflow's retries.
    Raises :class:`TrackingError` for a tracking server: it serves its own UI."""
    uri = default_tracking_uri(runs_dir)
    masking.remember(uri)
    uri = database_url(uri)
    if is_http(uri):
        raise TrackingError(f"MLFLOW_TRACKING_URI is the tracking server {masking.mask(uri)}: it serves the MLflow UI itself; "
                            "open it in a browser (or unset MLFLOW_TRACKING_URI to browse the local store)")
    uri = check_tracking(uri)
    # One server process: a UI for the person at this machine needs no more, and with MLflow's
    # default of several, uvicorn kills workers that are still importing MLflow after its health-check
    # timeout, so on a busy 2-core machine the server restarted its workers forever and never served.
    command = [sys.executable, "-m", "mlflow", "ui", "--host", host, "--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": uri}
    # MLflow's server also starts a job runner and seven Huey consumer processes for its server-side
    # jobs (GenAI features: scorers, prompt optimisation), which browsing studies never uses: without
    # them the UI runs 3 processes instead of 11, starts on a third of the CPU and answers sooner, on a
    # busy machine in less than half the time (benchmarks/PERFORMANCE.md, 2026-12-07 (evening)). A
    # user who wants them sets the variable (docs/storage.md).
    env.setdefault(UI_JOBS_VARIABLE, "false")
    if not verbose:  # quiet like every command (-v shows it all): no line per request, no start-up notes
        command += ["--uvicorn-opts", "--log-level warning"]  # uvicorn's INFO: start, stop, one access line per request
        env.setdefault("MLFLOW_REGISTRY_STORE_URI", uri)  # what MLflow defaults to, said in a line when not given
        # Deprecations inside the server's own imports (Starlette's, a UserWarning subclass, matched by its text).
        env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning,ignore:starlette.middleware.wsgi is deprecated")
    return command, env


_REFUSED = re.compile(r"error code 40[13]\b")  # how MLflow's REST client words an HTTP 401/403


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return masking.mask(text.splitlines()[0][:300]) if text else ""


@contextlib.contextmanager
def _creating(uri: str):
    """Workers that start together on a new SQLite store would race to create (migrate) its tables,
    and a migration interrupted by the other leaves a temporary table behind that fails every later
    try: one process at a time opens a local SQLite store (an advisory lock beside the file)."""
    database = names.sqlite_file(uri)
    if database is None:
        yield
        return
    lock_path = database.with_name(database.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a")  # closed by the with below
    except OSError:
        # A read-only runs folder (an archive, a read-only mount): nobody can migrate its tables,
        # so there is no race to guard against, and reading must not need write access.
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

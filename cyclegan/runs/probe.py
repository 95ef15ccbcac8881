"""Does a store answer? A short probe before the long-retry clients are used.

MLflow's HTTP client retries a refused connection with back-off for minutes, its SQL store retries
creating its engine 15 times, and a database driver without a connect timeout waits on a silent
socket forever. So before either client is built, one request with a short timeout
(``CYCLEGAN_PROBE_TIMEOUT`` seconds, default 5, for connecting and again for the answer) tells a
store that is down or mute from one that answers; once it has answered, MLflow's and the driver's
own settings (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_TIMEOUT``, ...) govern the
real work. Every message here is masked: it may quote a URL with a password.

The commands call :func:`check_tracking` and :func:`check_storage` before they import MLflow and
Optuna (seconds on a busy machine), and :func:`cyclegan.runs.store.connect` and
:func:`cyclegan.runs.queue.open_storage` call them again for library users; a store that has
answered once in this process is not probed again.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from urllib.parse import urlsplit, urlunsplit

from cyclegan.errors import CycleganError
from cyclegan.masking import mask, remember

PROBE_TIMEOUT_ENV = "CYCLEGAN_PROBE_TIMEOUT"
DEFAULT_PROBE_SECONDS = 5.0
POSTGRES_EXTRA = "pip install 'cyclegan[postgres]'"


class Unanswered(CycleganError, RuntimeError):
    """The store did not answer in time, refused, or its driver is missing (the message says which
    and what to do); the caller prefixes which store it is."""


class TrackingError(CycleganError, RuntimeError):
    """The tracking store cannot be used; raised before any training."""


class StorageError(CycleganError, RuntimeError):
    """The Optuna storage cannot be used; raised before any training."""


_answered: set[str] = set()


def check_tracking(uri: str) -> str:
    """The MLflow tracking URI to use (see :func:`database_url`) once its store has answered;
    :class:`TrackingError` naming the store (masked) and the reason otherwise."""
    remember(uri)
    uri = database_url(uri)
    try:
        _probe_once(uri)
    except Unanswered as err:
        raise TrackingError(f"MLflow tracking store {mask(uri)} is unreachable: {err}") from None
    return uri


def check_storage(url: str) -> str:
    """The same for the Optuna storage URL: :class:`StorageError` when it does not answer."""
    remember(url)
    url = database_url(url)
    try:
        _probe_once(url)
    except Unanswered as err:
        raise StorageError(f"Optuna storage {mask(url)} is unreachable: {err}") from None
    return url


def _probe_once(uri: str) -> None:
    if uri not in _answered:
        probe(uri)
        _answered.add(uri)


def probe_seconds() -> float:
    """The probe's timeout in seconds, from ``CYCLEGAN_PROBE_TIMEOUT`` (a slow link may need more)."""
    text = os.environ.get(PROBE_TIMEOUT_ENV, "")
    if not text:
        return DEFAULT_PROBE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise Unanswered(f"{PROBE_TIMEOUT_ENV}={text!r}: must be a positive number of seconds")
    return value


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def is_database(uri: str) -> bool:
    """An SQLAlchemy URL of a database server (SQLite is a local file: nothing to probe)."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    return bool(scheme) and scheme.split("+", 1)[0] in ("postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle")


def database_url(url: str) -> str:
    """SQLAlchemy before 2.1 reads ``postgresql://`` as psycopg2, but ``cyclegan[postgres]`` installs
    psycopg 3: when only psycopg 3 is there, use it (same database, same URL otherwise)."""
    if (url.startswith("postgresql://") and not _installed("psycopg2") and _installed("psycopg")
            and _default_postgres_driver() == "psycopg2"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _default_postgres_driver() -> str:
    import sqlalchemy

    return sqlalchemy.engine.make_url("postgresql://").get_dialect().driver


def probe(uri: str) -> None:
    """Raise :class:`Unanswered` unless the store at ``uri`` answers within the probe timeout.
    HTTP(S) tracking servers and database servers are probed; other URIs (SQLite, file stores,
    Databricks) are left to their client."""
    if is_http(uri):
        probe_http(uri, probe_seconds())
    elif is_database(uri):
        probe_database(uri, probe_seconds())


def probe_http(uri: str, timeout: float) -> None:
    """One GET of the MLflow REST API without credentials (a password is not sent to a server that
    has not answered yet). Any answer below 500 means the server is there (401 included: MLflow's
    own client then sends the credentials and reports a refusal at once); 5xx, which MLflow would
    retry for minutes, is reported now."""
    import requests

    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]  # without user and password; keeps an IPv6 literal's brackets
    bare = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    verify: bool | str = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or True
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("true", "1"):
        verify = False
    try:
        answer = requests.get(f"{bare}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                              timeout=(timeout, timeout), verify=verify, allow_redirects=False)
    except requests.exceptions.SSLError as err:
        raise Unanswered(f"TLS failed ({_short(_cause(err))}); for a private certificate set MLFLOW_TRACKING_SERVER_CERT_PATH") from None
    except requests.exceptions.Timeout:
        raise Unanswered(f"no answer within {timeout:g} s (raise {PROBE_TIMEOUT_ENV} for a slow link)") from None
    except requests.exceptions.RequestException as err:
        raise Unanswered(f"connection failed: {_short(_cause(err))}") from None
    if answer.status_code >= 500:
        raise Unanswered(f"the server answered HTTP {answer.status_code} {answer.reason}")


def probe_database(url: str, timeout: float) -> None:
    """Connect once with the driver's connect timeout and disconnect."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        parsed = sqlalchemy.engine.make_url(url)
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError as err:
        hint = "; write postgresql://" if url.startswith("postgres://") else ""
        raise Unanswered(f"not a database URL SQLAlchemy knows ({_short(err)}){hint}") from None
    except Exception as err:  # a malformed URL; its text may hold pieces of the password
        raise Unanswered(f"not a usable database URL ({type(err).__name__}): percent-encode '@', ':' and '/' in the user "
                         "name and password (as %40, %3A, %2F)") from None
    try:
        engine = sqlalchemy.create_engine(parsed, poolclass=NullPool, connect_args=connect_timeout_args(dialect.driver, timeout))
    except ImportError as err:
        raise Unanswered(missing_driver(url, err)) from None
    # The driver's timeout is per attempt (libpq tries again without TLS, and every address of a
    # name), so the probe also bounds the whole connect: a thread that has not finished by then
    # is left behind (daemon) and the store reported as silent.
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            with engine.connect():
                pass
            outcome.append(None)
        except Exception as err:  # every driver has its own error types
            outcome.append(getattr(err, "orig", None) or err)
        finally:
            engine.dispose()

    thread = threading.Thread(target=attempt, name="store-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1)
    if not outcome:
        raise Unanswered(f"no answer within {timeout + 1:g} s (raise {PROBE_TIMEOUT_ENV} for a slow link)")
    if outcome[0] is not None:
        raise Unanswered(f"connection failed: {type(outcome[0]).__name__}: {_short(outcome[0])}")


def connect_timeout_args(driver: str, timeout: float) -> dict:
    """The driver's own names for a connect (and, where it has them, read/write) timeout."""
    seconds = max(2, round(timeout))  # libpq takes whole seconds and treats 1 as 2
    return {name: seconds for name in _TIMEOUT_ARGS.get(driver, ())}


_TIMEOUT_ARGS = {
    "psycopg": ("connect_timeout",), "psycopg2": ("connect_timeout",), "pg8000": ("timeout",),
    "pymysql": ("connect_timeout", "read_timeout", "write_timeout"), "mysqldb": ("connect_timeout", "read_timeout", "write_timeout"),
    "mysqlconnector": ("connect_timeout",), "pyodbc": ("timeout",),
}


def missing_driver(url: str, err: ImportError) -> str:
    """What to install for a database URL whose driver is missing."""
    scheme = url.split("://", 1)[0]
    module = err.name or "its driver"
    if scheme.startswith("postgres"):
        if scheme == "postgresql+psycopg2":
            hint = f"pip install psycopg2-binary, or {POSTGRES_EXTRA} and write postgresql+psycopg://"
        else:
            hint = POSTGRES_EXTRA
    elif scheme in ("mysql", "mariadb", "mysql+mysqldb", "mariadb+mysqldb"):
        hint = "pip install pymysql and write mysql+pymysql:// (or pip install mysqlclient for mysql://)"
    elif scheme.endswith("+pymysql"):
        hint = "pip install pymysql"
    else:
        hint = f"install the Python package that provides {module!r}"
    return f"the {scheme}:// driver is not installed (no module {module!r}): {hint}"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cause(err: Exception) -> BaseException:
    """What urllib3's "Max retries exceeded with url: ..." wraps: the error that matters."""
    return getattr(err.args[0], "reason", err) if err.args else err


def _short(err: BaseException) -> str:
    text = str(err).strip()
    return mask(text.splitlines()[0][:300]) if text else type(err).__name__

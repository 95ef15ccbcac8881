"""No password in any output, stores that are down reported within seconds, and a way out named.

The secret corpus: every command that takes a store or storage URL (ablate, worker, tune, report,
ui; ``train`` takes none) runs as a subprocess with URLs carrying a password (http, https,
postgresql, mysql-style, passwords holding ``@``, ``:`` and ``%40``) against local stores that are
down or refuse: a closed port, a socket that accepts and closes, a socket that never answers, and
HTTP servers answering 401 and 500. The password must appear in no output and no file under the
runs folder. In-process tests cover what a subprocess against a dead store never reaches: a
cell's failure reason in MLflow and Optuna, log lines, thread tracebacks.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from cyclegan import masking

REPO = Path(__file__).resolve().parents[1]
PORTS = range(55100, 55200)  # this test's fake servers stay in one range


def _bound_socket() -> socket.socket:
    for port in PORTS:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            return sock
        except OSError:
            sock.close()
    raise RuntimeError(f"no free port in {PORTS}")


def _http_server() -> ThreadingHTTPServer:
    """Bound where it was found free: a port looked up, closed and bound again could be taken in
    between by the other test process's fixture."""
    for port in PORTS:
        try:
            return ThreadingHTTPServer(("127.0.0.1", port), _Refusing)
        except OSError:
            continue
    raise RuntimeError(f"no free port in {PORTS}")


class _Refusing(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(self.server.code)
        self.end_headers()
        self.wfile.write(b"go away")

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def stores():
    """Port numbers of: nothing listening (refused), a socket that never answers (silent), one
    that accepts and closes at once (closing), HTTP servers answering 401 and 500."""
    refused = _bound_socket()
    refused_port = refused.getsockname()[1]  # held bound but not listening: connections are refused
    silent = _bound_socket()
    silent.listen(64)  # the kernel completes the handshake; nobody ever reads or writes
    closing = _bound_socket()
    closing.listen(64)
    stop = threading.Event()

    def close_each():
        closing.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = closing.accept()
                conn.close()
            except OSError:
                continue

    threading.Thread(target=close_each, daemon=True).start()
    servers = {}
    for code in (401, 500):
        server = _http_server()
        server.code = code
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[code] = server
    yield {"refused": refused_port, "silent": silent.getsockname()[1], "closing": closing.getsockname()[1],
           "http401": servers[401].server_address[1], "http500": servers[500].server_address[1]}
    stop.set()
    for server in servers.values():
        server.shutdown()
    for sock in (refused, silent, closing):
        sock.close()


# (command, which URL it gets, URL template, the password as written, what must be named)
CASES = [
    ("ablate", "tracking", "http://alice:{pw}@127.0.0.1:{refused}/", "Http1-S3cr3t", "unreachable"),
    ("worker", "tracking", "https://alice:{pw}@127.0.0.1:{closing}/", "Https2%40S3cr3t", "unreachable"),
    ("tune", "tracking", "http://alice:{pw}@127.0.0.1:{http500}/", "Http3:S3cr3t", "HTTP 500"),
    ("report", "tracking", "http://alice:{pw}@127.0.0.1:{http401}/", "Http4@S3cr3t", "refused the credentials"),
    ("ablate", "tracking", "http://alice:{pw}@127.0.0.1:{http401}/", "Http5%40S3:cr3t", "refused the credentials"),
    ("ui", "tracking", "postgresql://bob:{pw}@127.0.0.1:{silent}/mlflow", "Pg6%40S3cr3t%3Ax", "unreachable"),
    ("ui", "tracking", "http://alice:{pw}@127.0.0.1:{refused}/", "Http7S3cr3t", "unreachable"),
    ("ablate", "storage-option", "postgresql://bob:{pw}@127.0.0.1:{refused}/queue", "Pg8@S3:cr3t", "percent-encode"),
    ("ablate", "storage-option", "postgresql://bob:{pw}@127.0.0.1:{closing}/queue", "Pg9%40S3cr3t", "unreachable"),
    ("worker", "storage-env", "mysql+pymysql://carol:{pw}@127.0.0.1:{refused}/queue", "My10%40S3cr3t", "pip install pymysql"),
    ("tune", "storage-env", "mysql://carol:{pw}@127.0.0.1:{silent}/queue", "My11S3cr3t", "pip install"),
    ("tune", "storage-option", "postgresql://bob:{pw}@127.0.0.1:{silent}/queue", "Pg12S3cr3t", "unreachable"),
    ("ablate", "storage-option", "postgresql://bob@127.0.0.1:{refused}/queue?password={pw}", "Pg13S3cr3t", "unreachable"),  # libpq's form
    ("worker", "storage-env", "bob:{pw}@127.0.0.1:{refused}/queue", "Pg14S3cr3t", "unusable"),  # typed without a scheme
    # A raw "/" in the password: SQLAlchemy takes it (its password runs to the "@"), urllib cuts it there.
    ("worker", "storage-env", "postgresql://alice:{pw}@127.0.0.1:{refused}/db", "Pg15/S3cr3t", "unreachable"),
    ("report", "tracking", "postgresql://alice:{pw}@127.0.0.1:{refused}/db", "Pg16/S3cr3t#w0rd", "unreachable"),
]
EXPERIMENTS = {"ablate": "experiments/quick.yaml", "worker": "experiments/quick.yaml", "report": "experiments/quick.yaml",
               "tune": "experiments/tune.yaml"}


def _label(case) -> str:
    """``ablate-postgresql-silent``: the command, the URL scheme and which fake store."""
    kind = [name for name in re.findall(r"\{(\w+)\}", case[2]) if name != "pw"][-1]
    return f"{case[0]}-{case[2].split(':')[0]}-{kind}"


def _forbidden(password: str) -> set[str]:
    """The password as written, percent-decoded, and its distinctive core (``S3cr3t`` is in every one)."""
    from urllib.parse import unquote

    return {password, unquote(password), "S3cr3t"}


def _command(case, stores, runs_dir: Path) -> tuple[list[str], dict[str, str]]:
    command, where, template, password, _ = case
    url = template.format(pw=password, **stores)
    env = {**os.environ, "PYTHONPATH": str(REPO), "CYCLEGAN_PROBE_TIMEOUT": "3"}  # the corpus is about words, not time
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("CYCLEGAN_STORAGE", None)
    args = [sys.executable, "-m", "cyclegan", command]
    if command != "ui":
        args.append(str(REPO / EXPERIMENTS[command]))
    args += ["--runs-dir", str(runs_dir)]
    if command in ("ablate", "worker", "tune"):
        args.append("--no-progress")
    if command == "ui":
        args += ["--port", str(stores["refused"])]
    if where == "tracking":
        env["MLFLOW_TRACKING_URI"] = url
    elif where == "storage-env":
        env["CYCLEGAN_STORAGE"] = url
    else:
        args += ["--storage", url]
    return args, env


def _run_case(index: int, case, stores, root: Path):
    runs_dir = root / f"runs{index}"
    args, env = _command(case, stores, runs_dir)
    start = time.monotonic()
    try:
        done = subprocess.run(args, env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
        status, output = done.returncode, done.stdout
    except subprocess.TimeoutExpired as err:
        status, output = None, f"{err.stdout or ''}\n[killed after 240 s]"
    return case, status, output, time.monotonic() - start, runs_dir


@pytest.fixture(scope="module")
def corpus(stores, tmp_path_factory):
    """Every case run once, all at the same time, each timed from its start to its own exit:
    (case, exit status, output, seconds, runs folder)."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("secrets")
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        return list(pool.map(lambda item: _run_case(*item, stores, root), enumerate(CASES)))


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{_label(c)}-{c[1]}" for c in CASES])
def test_secret_corpus(corpus, index):
    (command, _, _, password, way_out), status, output, _, runs_dir = corpus[index]
    assert status == 2, output
    assert output.count("error: ") == 1 and "Traceback" not in output, output
    assert way_out in output and "***" in output, output
    print(f"{_label(CASES[index])}: {output.strip()}")
    for secret in _forbidden(password):
        assert secret not in output, output
        for path in runs_dir.rglob("*") if runs_dir.exists() else ():
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


# One at a time, with the default probe timeout (5 s), so the figure is the command's, not the
# load of a dozen processes started together.
TIMED = [
    ("ablate", "tracking", "http://alice:{pw}@127.0.0.1:{refused}/", "T1S3cr3t", "unreachable"),
    ("worker", "tracking", "http://alice:{pw}@127.0.0.1:{silent}/", "T2S3cr3t", "no answer within 5 s"),
    ("ablate", "storage-env", "postgresql://bob:{pw}@127.0.0.1:{refused}/queue", "T3S3cr3t", "Connection refused"),
    ("tune", "storage-option", "postgresql://bob:{pw}@127.0.0.1:{silent}/queue", "T4S3cr3t", "is unreachable"),
]


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(TIMED)), ids=[_label(c) for c in TIMED])
def test_unreachable_stores_are_reported_within_15_s(stores, tmp_path, monkeypatch, index):
    case = TIMED[index]
    monkeypatch.delenv("CYCLEGAN_PROBE_TIMEOUT", raising=False)
    args, env = _command(case, stores, tmp_path / "runs")
    del env["CYCLEGAN_PROBE_TIMEOUT"]
    start = time.monotonic()
    done = subprocess.run(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    seconds = time.monotonic() - start
    print(f"{_label(case)}: reported after {seconds:.1f} s")
    assert done.returncode == 2 and case[4] in done.stdout and case[3] not in done.stdout, done.stdout
    assert seconds < 15, f"{case[0]} took {seconds:.1f} s: {done.stdout}"


def test_http_probe_times_out_on_a_silent_server(stores):
    from cyclegan.runs.probe import TrackingError, check_tracking

    start = time.monotonic()
    with pytest.raises(TrackingError, match="no answer within 1 s"):
        os.environ["CYCLEGAN_PROBE_TIMEOUT"] = "1"
        try:
            check_tracking(f"http://u:Probe1S3cr3t@127.0.0.1:{stores['silent']}")
        finally:
            del os.environ["CYCLEGAN_PROBE_TIMEOUT"]
    assert time.monotonic() - start < 5


def test_missing_drivers_name_what_to_install(monkeypatch):
    from cyclegan.runs import probe

    assert "pip install 'cyclegan[postgres]'" in probe.missing_driver("postgresql://u:p@h/db", ImportError("x", name="psycopg2"))
    assert "postgresql+psycopg://" in probe.missing_driver("postgresql+psycopg2://u:p@h/db", ImportError("x", name="psycopg2"))
    assert "mysql+pymysql://" in probe.missing_driver("mysql://u:p@h/db", ImportError("x", name="MySQLdb"))
    # cyclegan[postgres] installs psycopg 3; SQLAlchemy < 2.1 reads postgresql:// as psycopg2: use what is there.
    monkeypatch.setattr(probe, "_default_postgres_driver", lambda: "psycopg2")
    monkeypatch.setattr(probe, "_installed", lambda module: module == "psycopg")
    assert probe.database_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    monkeypatch.setattr(probe, "_installed", lambda module: module == "psycopg2")
    assert probe.database_url("postgresql://u:p@h/db") == "postgresql://u:p@h/db"
    # A driver that is really missing here (psycopg2; the test extra installs psycopg 3 only).
    if probe.importlib.util.find_spec("psycopg2") is None:
        with pytest.raises(probe.StorageError, match=r"pip install psycopg2-binary, or pip install 'cyclegan\[postgres\]'") as err:
            probe.check_storage("postgresql+psycopg2://u:Driver1S3cr3t@127.0.0.1:1/db")
        assert "Driver1S3cr3t" not in str(err.value)


def test_missing_imagenet_weights_names_both_ways_out(monkeypatch):
    import keras

    from cyclegan.core.models import EncoderWeightsError, build_vgg16

    def offline(*args, **kwargs):
        if kwargs.get("weights") == "imagenet":
            raise Exception("URL fetch failure: no network")
        return real(*args, **kwargs)

    real = keras.applications.VGG16
    monkeypatch.setattr(keras.applications, "VGG16", offline)
    with pytest.raises(EncoderWeightsError) as err:
        build_vgg16("imagenet", 32)
    for way_out in ("generator.imagenet_weights", "CYCLEGAN_IMAGENET_WEIGHTS", "cyclegan standin-weights"):
        assert way_out in str(err.value)


@pytest.mark.parametrize("url, password", [
    ("postgresql://alice:Sl1/S3cr3t@127.0.0.1:1/db", "Sl1/S3cr3t"),
    ("postgresql+psycopg://alice:Sl2/S3cr3t#w0rd@db.example:5432/x", "Sl2/S3cr3t#w0rd"),
    ("mysql+pymysql://carol:Sl3/S3:cr3t@h/queue?charset=utf8", "Sl3/S3:cr3t"),
    ("http://alice:Sl4/S3cr3t@127.0.0.1:5000/", "Sl4/S3cr3t"),
    ("alice:Sl5/S3cr3t@127.0.0.1:1/db", "Sl5/S3cr3t"),  # typed without a scheme
])
def test_a_password_holding_a_slash_is_masked(url, password):
    """SQLAlchemy reads a raw "/" as part of the password (to the "@"): the URL masked by form,
    and the password remembered whole, so a library quoting it bare is masked too."""
    from sqlalchemy.engine import make_url

    if "://" in url and not url.startswith("http"):
        assert make_url(url).password == password  # the store really is used with this password
    if "://" in url:  # by form alone, before remember(): the password goes, the host stays
        by_form = masking.mask(f"connect to {url} failed")
        assert by_form == f"connect to {url.replace(password, '***')} failed", by_form
    masking.remember(url)
    message = masking.mask(f"error: {url!r} is unreachable; password {password!r} refused")
    assert message == f"error: {url.replace(password, '***')!r} is unreachable; password '***' refused", message


def test_log_lines_and_thread_tracebacks_are_masked(capsys):
    masking.install()
    masking.remember("postgresql://u:Log%40S3cr3t@db/x")
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("sqlalchemy.engine.test_secrets")  # a child: its parents' filters never see it
    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.warning("connect to %s failed, password %r", "mysql://root:Log2S3cr3t@h/db", "Log@S3cr3t")
        try:
            raise RuntimeError("http://x:Log3S3cr3t@h:5000/api failed")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(records)
    assert "connect to mysql://root:***@h/db failed" in text and "RuntimeError" in text
    for secret in ("Log%40S3cr3t", "Log@S3cr3t", "Log2S3cr3t", "Log3S3cr3t"):
        assert secret not in text
    # pytest installs its own threading.excepthook around each test, so the hook is called directly.
    try:
        raise RuntimeError("Log@S3cr3t in a thread")
    except RuntimeError as error:
        masking.print_thread_exception(threading.ExceptHookArgs([RuntimeError, error, error.__traceback__, threading.current_thread()]))
    err = capsys.readouterr().err
    assert "RuntimeError: *** in a thread" in err and "Log@S3cr3t" not in err


def test_cli_masks_an_unexpected_traceback(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import cyclegan.cli.study
    import cyclegan.runs.ablation
    from cyclegan.cli.main import main

    def broken(*args, **kwargs):
        raise KeyError("lost connection to postgresql://u:Cli1S3cr3t@db/x (password Cli1S3cr3t)")

    monkeypatch.setattr(cyclegan.runs.ablation, "run_study", broken)
    monkeypatch.setattr(cyclegan.cli.study, "check_stores", lambda *args: None)  # the store is never reached here
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://u:Cli1S3cr3t@db/x")  # remembered by the CLI
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({"name": "s", "base": {}, "factors": {"generator.norm": ["instance", "none"]}, "seeds": [0]}))
    result = CliRunner().invoke(main, ["ablate", str(study), "--runs-dir", str(tmp_path / "runs")], catch_exceptions=False)
    assert result.exit_code == 1
    assert "Traceback" in result.output and "KeyError" in result.output and "Cli1S3cr3t" not in result.output


@pytest.mark.slow
def test_failure_reason_of_a_cell_is_masked_everywhere(tmp_path, tiny_tree, monkeypatch, capsys):
    """A cell whose training fails with an exception quoting the store's URL and its bare password:
    the MLflow tag, the Optuna reason, the console line and every file under runs/ are masked."""
    from mlflow.tracking import MlflowClient

    import cyclegan.core.trainer
    from cyclegan.runs.ablation import StudyPaths, run_study
    from cyclegan.runs.queue import CellQueue, QueueSettings, open_storage
    from cyclegan.spec.study import load_study

    masking.remember("postgresql://u:Cell%40S3cr3t@db.example/x")  # as the CLI does for MLFLOW_TRACKING_URI

    def leaky(*args, **kwargs):
        raise ConnectionError("postgresql://u:Cell%40S3cr3t@db.example/x: password 'Cell@S3cr3t' refused")

    monkeypatch.setattr(cyclegan.core.trainer, "train", leaky)
    base = {**tiny_tree, "train": {**tiny_tree["train"], "steps_per_mini_epoch": 1}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"name": "tiny", "base": base, "factors": {"discriminator.output": ["patch"]}, "seeds": [0]}))
    study = load_study(path)
    paths = StudyPaths.default(tmp_path / "runs", None)
    settings = QueueSettings(heartbeat_seconds=1, grace_seconds=3, poll_seconds=0.2)
    assert run_study(study, paths, settings=settings, progress=False)["failed"] == 1
    client = MlflowClient(f"sqlite:///{(paths.runs_dir / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name("tiny")
    reasons = [r.data.tags.get("failure_reason", "") for r in client.search_runs([experiment.experiment_id])]
    reasons += list(CellQueue(study, open_storage(paths.storage_url, settings)).failures().values())
    reasons.append(capsys.readouterr().err)
    assert sum("password '***' refused" in r for r in reasons) == 3, reasons
    for text in reasons:
        assert "S3cr3t" not in text
    for file in paths.runs_dir.rglob("*"):
        if file.is_file():
            assert b"Cell@S3cr3t" not in file.read_bytes() and b"Cell%40S3cr3t" not in file.read_bytes(), file

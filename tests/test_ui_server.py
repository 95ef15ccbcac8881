"""`cyclegan ui`'s server runner (cyclegan.runs.ui_server.serve) with a stand-in server: whatever stops
the UI stops the server's whole process tree. The real MLflow server under Ctrl-C:
tests/test_mlflow_runs.py (test_ui_serves_the_local_store_and_stopping_it_stops_every_process_it_started)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest
from helpers import wait_for

# A server that starts a process of its own (as uvicorn starts its workers) and writes both pids.
_SERVER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(f"{child.pid} {__import__('os').getpid()}")
time.sleep(120)  # a failed test leaves nothing running for long
"""
_UI = """
import os, signal, sys
from cyclegan.runs.ui_server import serve
signal.signal(signal.SIGINT, signal.default_int_handler)  # as started at a terminal: a suite run in the background ignores it
try:
    serve([sys.executable, "-c", sys.argv[1], sys.argv[2]], dict(os.environ), poll_seconds=0.05)
except KeyboardInterrupt as stop:
    print("stopped by", signal.Signals(stop.signum).name, flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "scheduler", "terminal closed"])
def test_a_stopped_ui_stops_the_servers_whole_tree(tmp_path, sig):
    """The server runs in a session of its own, so a terminal's signals reach only the UI process,
    which stops the server's process group. Before, a closed terminal (SIGHUP) killed the UI process
    alone and the server served on with nobody left to stop it."""
    pids = tmp_path / "pids"
    ui = subprocess.Popen([sys.executable, "-c", _UI, _SERVER, str(pids)], stdout=subprocess.PIPE, text=True,
                          start_new_session=True)  # its own group, standing for the terminal's foreground group
    tree: list[psutil.Process] = []
    try:
        wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, 60, "the stand-in server to start", ui)
        tree = [psutil.Process(int(pid)) for pid in pids.read_text().split()]
        os.killpg(ui.pid, sig)
        out, _ = ui.communicate(timeout=60)
        assert ui.returncode == 130 and f"stopped by {sig.name}" in out
        _, alive = psutil.wait_procs(tree, timeout=10)
        assert not alive, [p.pid for p in alive]
    finally:
        for process in [ui, *tree]:
            try:
                process.kill()
            except (OSError, psutil.Error):
                pass


def test_ui_on_a_runs_folder_without_a_store_names_it_and_creates_nothing(tmp_path, monkeypatch):
    """`ui --runs-dir <typo>` created <typo>/mlflow.db and served an empty UI: like `report`, it refuses a
    runs folder without an MLflow store (exit 2, one line naming it). The server is a stand-in here."""
    from click.testing import CliRunner
    from helpers import free_port

    from cyclegan.cli.main import main
    from cyclegan.runs import ui_server

    served = []
    monkeypatch.setattr(ui_server, "serve", lambda command, env: served.append(env["MLFLOW_BACKEND_STORE_URI"]) or 0)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    port = str(free_port())
    for runs_dir in ("nope", "runs"):
        options = [] if runs_dir == "runs" else ["--runs-dir", runs_dir]  # the default too: ./runs of the current folder
        result = CliRunner().invoke(main, ["ui", *options, "--port", port])
        assert result.exit_code == 2, result.output
        assert result.output == f"error: no MLflow store at {tmp_path / runs_dir / 'mlflow.db'}: nothing has been run with " \
                                f"--runs-dir {runs_dir} (nothing to browse; give the study's runs folder, or set MLFLOW_TRACKING_URI)\n"
    assert not served and list(tmp_path.iterdir()) == []
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "mlflow.db").touch()  # a store: served as before
    result = CliRunner().invoke(main, ["ui", "--port", port])
    assert result.exit_code == 0, result.output
    assert served == [f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"]

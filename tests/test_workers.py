"""Worker processes: a cleanly ended worker is replaced while work waits; a failed one is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from helpers import wait_for

from cyclegan.runs.workers import wait


def _process(status: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", f"import sys; sys.exit({status})"])


def test_a_clean_exit_is_relaunched_until_none_is_needed_and_a_failure_never():
    asked: list[int] = []
    replacements = {0: 2}  # process 0 is replaced twice, then no more

    def relaunch(index: int):
        asked.append(index)
        if replacements.get(index, 0) == 0:
            return None
        replacements[index] -= 1
        return _process(0)

    processes = [_process(0), _process(1)]
    wait(processes, on_tick=lambda: None, interval=0.05, relaunch=relaunch)
    assert asked == [0, 0, 0]  # never asked for the process that failed
    assert [p.returncode for p in processes] == [0, 1]


def test_without_relaunch_every_process_is_waited_for():
    processes = [_process(0), _process(0)]
    wait(processes, on_tick=lambda: None, interval=0.05)
    assert all(p.returncode == 0 for p in processes)


def test_an_error_while_relaunching_stops_the_other_workers_before_it_is_raised():
    # The other worker is still starting up with SIGINT ignored, as a suite or study started in the
    # background (`make ablation &`) leaves its children: the stop it is sent must still end it.
    sleeper = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                                "time.sleep(120)"])

    def relaunch(index: int):
        raise RuntimeError("queue storage is down")

    with pytest.raises(RuntimeError, match="queue storage is down"):
        wait([_process(0), sleeper], on_tick=lambda: None, interval=0.05, relaunch=relaunch)
    assert sleeper.returncode == -signal.SIGTERM  # stopped and waited for, not left training its share


# A parent that starts two workers and follows them, as `cyclegan ablate --workers 2` does. Each worker
# logs every stop signal it receives (it handles them as cyclegan's graceful stop does: the first is
# recorded, the work goes on to a boundary), says in its log when its handlers are in place, and exits 4 a
# moment after its first stop.
_WORKER = """
import signal, sys, time
log = open(sys.argv[1], "a", buffering=1)
got = []
def handle(signum, frame):
    got.append(signum)
    log.write(signal.Signals(signum).name + "\\n")
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, handle)
log.write("ready\\n")
deadline = time.monotonic() + 120  # a failed test leaves nothing running
while not got and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(1.0)  # the step boundary: a second signal would arrive by now
sys.exit(4)
"""
_PARENT = """
import signal, subprocess, sys
from cyclegan.runs.workers import start, wait
signal.signal(signal.SIGINT, signal.default_int_handler)  # as started at a terminal: a suite run in the background ignores it
workers = start([[sys.executable, "-c", sys.argv[1], path] for path in sys.argv[2:]], "sqlite:///unused.db")
print("started", flush=True)
try:
    wait(workers, on_tick=lambda: None, interval=0.05)
except KeyboardInterrupt:
    print("parent interrupted", flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("how", ["ctrl-c at the terminal", "terminal closed"])
def test_a_stop_at_the_terminal_reaches_each_worker_once(tmp_path, how):
    """Ctrl-C goes to the terminal's whole foreground process group; the workers are in sessions of
    their own, so only the parent gets it and passes one SIGTERM on (before, each worker got two and
    stopped at once instead of at the next step boundary). A closed terminal (SIGHUP) stops them too."""
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    # The parent leads a new session, standing for the terminal's foreground group (and not pytest's).
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, _WORKER, *map(str, logs)], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    assert parent.stdout.readline().strip() == "started"
    wait_for(lambda: all(log.exists() and log.read_text().startswith("ready") for log in logs), 120,
             "the workers' stop handlers", parent)
    os.killpg(parent.pid, signal.SIGINT if how.startswith("ctrl-c") else signal.SIGHUP)
    try:
        out, _ = parent.communicate(timeout=120)
    finally:
        parent.kill()  # a no-op once it has ended
    assert parent.returncode == 130 and "parent interrupted" in out
    assert [log.read_text().split() for log in logs] == [["ready", "SIGTERM"], ["ready", "SIGTERM"]]


def test_a_worker_that_stopped_with_cells_left_is_relaunched_and_not_reported_failed(capsys):
    """Status 3 (`cyclegan worker --max-cells`, cells left) asks for a fresh worker like status 0."""
    asked: list[int] = []

    def relaunch(index: int):
        asked.append(index)
        return _process(0) if len(asked) == 1 else None

    processes = [_process(3)]
    wait(processes, on_tick=lambda: None, interval=0.05, relaunch=relaunch)
    assert asked == [0, 0] and processes[0].returncode == 0
    assert "exited with status" not in capsys.readouterr().err

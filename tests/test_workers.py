"""Worker processes: a cleanly ended worker is replaced while work waits; a failed one is not."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
    # Ctrl-C's default action, as a worker has: a suite started in the background (`make test &`) makes
    # its children inherit SIGINT ignored, and the sleeper would then sleep its 120 s out. It says when
    # its handler is in place: a SIGINT before that (a slow start on a loaded machine) was ignored and
    # the sleeper slept to the end (status 0, in a CI run).
    sleeper = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
                                "print('ready', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    assert sleeper.stdout.readline().strip() == "ready"

    def relaunch(index: int):
        raise RuntimeError("queue storage is down")

    with pytest.raises(RuntimeError, match="queue storage is down"):
        wait([_process(0), sleeper], on_tick=lambda: None, interval=0.05, relaunch=relaunch)
    assert sleeper.returncode is not None and sleeper.returncode != 0  # interrupted and waited for, not left running


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

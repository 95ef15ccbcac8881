"""Local worker processes for studies and tuning: one per GPU when there are GPUs.

TensorFlow does not share a process between runs well (global dtype policy, device memory), so
parallelism is processes. The storage URL reaches them through the environment: it may hold a
password, and a command line is visible to every user of the machine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from cyclegan import exit_codes
from cyclegan.masking import mask
from cyclegan.runs.queue import QueueSettings
from cyclegan.signals import StopSignal, graceful_stop

# A worker that finished, or stopped after its share of cells with work left (`--max-cells`).
ENDED_CLEANLY = (exit_codes.FINISHED, exit_codes.WORK_LEFT)


def gpu_ids() -> list[str]:
    """Visible GPUs: ``CUDA_VISIBLE_DEVICES`` when set, else what ``nvidia-smi -L`` lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def worker_command(*args: str, runs_dir: Path, settings: QueueSettings, overrides: Sequence[str]) -> list[str]:
    """``python -m cyclegan ARGS`` for a worker process of a study or a tuning run: this
    process's runs folder, queue timing and ``--set`` overrides, without a progress bar."""
    return [sys.executable, "-m", "cyclegan", *args, "--runs-dir", str(runs_dir), "--no-progress",
            "--heartbeat", str(settings.heartbeat_seconds), "--grace", str(settings.grace_seconds),
            *[arg for text in overrides for arg in ("--set", text)]]


def start(commands: list[list[str]], storage_url: str, *, first_index: int = 0) -> list[subprocess.Popen]:
    """Start one process per command, round-robin over the GPUs (process ``first_index + i`` takes
    GPU ``(first_index + i) % GPUs``, so a replacement takes the GPU of the process it replaces).

    Each in a session of its own: a Ctrl-C typed at the terminal reaches this process only, which
    passes one stop on (:func:`wait`). In the terminal's process group a worker got the terminal's
    SIGINT and then the parent's, and took the second for "the user insists": it stopped at once, not
    at the next step boundary."""
    gpus = gpu_ids()
    processes = []
    for index, command in enumerate(commands, start=first_index):
        env = {**os.environ, "CYCLEGAN_STORAGE": storage_url}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
        processes.append(subprocess.Popen(command, env=env, start_new_session=True))
    return processes


def wait(processes: list[subprocess.Popen], on_tick: Callable[[], None], interval: float = 1.0, *,
         relaunch: Callable[[int], subprocess.Popen | None] | None = None) -> None:
    """Call ``on_tick`` until every process has ended. ``relaunch(i)``, when given, is asked once for
    each process ``i`` that ended cleanly (:data:`ENDED_CLEANLY`) and returns its replacement (a fresh worker while
    work is left), or None when none is needed; a process that failed is not replaced. Ctrl-C, a
    scheduler's SIGTERM, the terminal's hangup, or an error here is passed on to the workers as one
    SIGTERM (they checkpoint at the next step boundary and requeue their runs; one still starting up
    ends, even if it was started with SIGINT ignored, as a background shell does) and re-raised once
    they have stopped."""
    settled: set[int] = set()  # ended and not replaced
    try:
        # A stop is recorded and raised here, between polls: raised from the signal handler inside
        # Popen.poll it could leave the process's wait lock held, and the wait below hung for good
        # (seen in a test run: the workers ended, the parent waited on a lock).
        with graceful_stop(hangup=True) as stop:
            while stop.requested is None:
                running = False
                for index, process in enumerate(processes):
                    status = process.poll()  # one look per pass: the decision below uses this status only
                    if status is None:
                        running = True
                    elif status in ENDED_CLEANLY and relaunch is not None and index not in settled:
                        replacement = relaunch(index)
                        if replacement is None:
                            settled.add(index)
                        else:
                            processes[index] = replacement
                            running = True
                if not running:
                    break
                on_tick()
                time.sleep(interval)
            if stop.requested is not None:  # also when the last worker ended in the pass it came in
                raise StopSignal(stop.requested)
    except BaseException:
        for process in processes:
            process.send_signal(signal.SIGTERM)  # a no-op for one already waited for
        for process in processes:
            process.wait()
        raise
    finally:
        on_tick()
    failed = [p.returncode for p in processes if p.returncode not in ENDED_CLEANLY]
    if failed:
        say(f"{len(failed)} worker process(es) exited with status {sorted(set(failed))}")


def say(text: str, enabled: bool = True) -> None:
    """One line on stderr that does not break the progress bars."""
    if enabled:
        tqdm.write(mask(text), file=sys.stderr)

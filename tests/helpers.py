"""What several test files share: the tiny run config, the fast queue settings, and the helpers of
the tests that start processes (hold one at a step, wait for a condition, start `cyclegan ui`)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TINY_SIZE = 32
NO_MID_RUN_CHECKPOINT = 100  # train.checkpoint_every beyond any tiny run's mini-epochs
CLI = [sys.executable, "-m", "cyclegan.cli.main"]
# A study factor the compiled step never reads (cyclegan.core.step_reuse.RUN_LOOP_KEYS): a process
# traces one step for all its cells, for the tests whose facts (the queue, hand-over, exit status)
# need two cells but no second network structure.
LEARNING_RATES = {"optimizer.lr_generator": [0.0002, 0.0001]}
HOLD_AT_STEP = Path(__file__).with_name("hold_at_step.py")
# TensorFlow's C++ lines as they appear on this machine kind: absl's and TSL's formats, and what they say.
TF_CPP_MARKS = re.compile(r"^[IWE]\d{4} |^\d{4}-\d\d-\d\d [\d:.]+: [IWE] |absl::InitializeLog|cudart_stub|cuInit|oneDNN",
                          re.MULTILINE)


def tiny_tree(data_root: Path, encoder_weights: Path | str, seed: int = 3) -> dict:
    """A run config (as a YAML-like tree) that trains in seconds on the CPU: 2 mini-epochs of 2 steps
    at 32x32, in float32 for repeatable numbers (the precision options have their own tests), with
    narrow discriminators. No checkpoint between mini-epochs (``checkpoint_every`` beyond the run):
    a tiny checkpoint costs about 0.4 s to write and hash, a sixth of a tiny run on a kept step, and most tests
    never resume from one. A direct ``train()`` still saves its final one, an interrupt still saves
    where it stopped; the tests that resume from a mid-run checkpoint set ``checkpoint_every: 1``."""
    return {
        "data": {"root": str(data_root), "image_size": TINY_SIZE, "holdout": 4},
        "generator": {"encoder_weights": str(encoder_weights)},
        # 8 base filters instead of 48: the same layers, 45 K weights instead of 1.6 M per discriminator,
        # so each checkpoint (trainable weights and Adam's slots) is a quarter smaller to write and hash.
        "discriminator": {"base_filters": 8},
        "train": {"seed": seed, "batch_size": 1, "mini_epochs": 2, "steps_per_mini_epoch": 2,
                  "checkpoint_every": NO_MID_RUN_CHECKPOINT, "keep_checkpoints": 1, "sample_images": 2, "precision": "float32"},
        "eval": {"images": 4},
    }


def __getattr__(name: str):
    """``FAST_QUEUE``: a worker beats every second and its cell is taken over 4 s after the last beat
    (the defaults are minutes). Made on first use: conftest imports this module, and the queue's
    Optuna import would cost every test process seconds."""
    if name == "FAST_QUEUE":
        from cyclegan.runs.queue import QueueSettings

        return QueueSettings(heartbeat_seconds=1, grace_seconds=4, poll_seconds=0.5)
    raise AttributeError(name)


def queue_storage_url(runs_dir: Path) -> str:
    """The queue the distributed tests share between processes: the PostgreSQL that .ci/run starts
    (CYCLEGAN_TEST_POSTGRES_URL), else the runs folder's local SQLite file."""
    from cyclegan import names

    return os.environ.get("CYCLEGAN_TEST_POSTGRES_URL") or names.sqlite_url(runs_dir / names.OPTUNA_DB)


def gpu_choice(monkeypatch, command) -> bool:
    """Whether ``command()`` (a study or tuning run) would train in this process, as it tells
    :func:`cyclegan.core.device.share_gpus` before its checks; stopped there, before anything else."""
    import cyclegan.core.device

    class Chosen(Exception):
        pass

    def share_gpus(trains_here: bool):
        raise Chosen(trains_here)

    monkeypatch.setattr(cyclegan.core.device, "share_gpus", share_gpus)
    with pytest.raises(Chosen) as chosen:
        command()
    (trains_here,) = chosen.value.args
    return trains_here


def start(command: list[str], log: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    """Output goes to a file: a pipe nobody reads blocks a chatty process once its buffer fills."""
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, **popen)


def held_at(step: int, marker: Path, arguments: list[str]) -> list[str]:
    """The command line of ``arguments``, held before training step ``step`` until ``marker``.go exists (tests/hold_at_step.py)."""
    return [sys.executable, str(HOLD_AT_STEP), str(step), str(marker), *arguments]


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None,
             interval: float = 0.2) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` (and the process's log) on a timeout or
    when ``process`` ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            pytest.fail(f"process ended (status {process.returncode}) before {what}: {log.read_text()[-3000:] if log else ''}")
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}: {log.read_text()[-3000:] if log else ''}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_ui(runs_dir: Path, log: Path) -> tuple[subprocess.Popen, int]:
    """`cyclegan ui` on a free port, in a session of its own (so that a test can signal its group), with
    Ctrl-C's default action: a shell that starts the suite in the background (`make test &`) makes its
    children inherit SIGINT ignored, and Python then installs no KeyboardInterrupt handler."""
    port = free_port()
    ui = start([sys.executable, "-m", "cyclegan", "ui", "--runs-dir", str(runs_dir), "--port", str(port)], log, start_new_session=True,
               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return ui, port


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes] | None:
    """The status and body of a GET, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read()
    except OSError:
        return None

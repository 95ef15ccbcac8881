"""What survives what: signals, killed processes, dead workers, broken checkpoint writes.

The distributed test runs against PostgreSQL when CYCLEGAN_TEST_POSTGRES_URL is set (.ci/run
starts a server on 127.0.0.1), otherwise against the local SQLite storage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml
from helpers import FAST_QUEUE, LEARNING_RATES, held_at, queue_storage_url, start, wait_for
from mlflow.tracking import MlflowClient

import cyclegan.core.trainer
from cyclegan.core.runfolder.checkpoints import CheckpointStore
from cyclegan.core.trainer import train
from cyclegan.runs.ablation import StudyPaths
from cyclegan.runs.queue import CellQueue, opened_storage
from cyclegan.spec.config import build_config
from cyclegan.spec.identity import identity
from cyclegan.spec.study import load_study

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _local_tracking(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _study(tmp_path: Path, tiny_tree: dict, *, factors: dict, seeds, mini_epochs: int, steps: int, checkpoint_every: int = 1) -> Path:
    base = {**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": mini_epochs, "steps_per_mini_epoch": steps,
                                   "checkpoint_every": checkpoint_every}}
    path = tmp_path / "study.yaml"
    # A unique name: a PostgreSQL storage outlives the test (and tmp_path names repeat across sessions).
    path.write_text("# reliability test study\n" + yaml.safe_dump({"name": f"rel-{uuid.uuid4().hex[:12]}", "base": base, "factors": factors,
                                                                    "seeds": list(seeds), "hypotheses": []}))
    return path


def test_interrupt_mid_mini_epoch_resumes_exactly(tiny_tree, tmp_path, monkeypatch, straight_run):
    config = build_config(tiny_tree)  # 2 mini-epochs of 2 steps: the shared straight run's experiment
    straight_result = straight_run(2)
    assert identity(straight_result.config) == identity(config)
    straight = pd.read_csv(straight_result.run_dir.history_file)

    real_dataset = cyclegan.core.trainer.training_dataset

    def interrupted_dataset(*args, **kwargs):
        for count, batch in enumerate(real_dataset(*args, **kwargs)):
            if count == 3:  # inside mini-epoch 2, after the first of its two steps
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(cyclegan.core.trainer, "training_dataset", interrupted_dataset)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", progress=False)
    assert CheckpointStore(tmp_path / "resumed" / "checkpoints", {}, 1).latest_step == 3  # written at the interrupt, not only at the mini-epoch's end
    monkeypatch.setattr(cyclegan.core.trainer, "training_dataset", real_dataset)
    result = train(config, tmp_path / "resumed", progress=False)
    assert (result.resumed_from, result.steps) == (1, 4)
    resumed = pd.read_csv(result.run_dir.history_file)
    assert list(resumed["step"]) == [2, 4]
    # The second mini-epoch's means cover both of its steps: equal to the uninterrupted run.
    for column in ("loss/cycle", "loss/gen_g", "acc/d_monet_real"):
        np.testing.assert_allclose(resumed[column], straight[column], rtol=1e-3, atol=1e-5, err_msg=column)


def _signals_after_step(monkeypatch, at_step: int, count: int):
    """``count`` SIGINTs to this process right after the run's compiled step number ``at_step`` returns:
    where Python runs a real signal's handler, since nearly all of a step's time is spent in its C++
    call. The step itself is the process's kept one (wrapped, not traced again). Returns the unwrapped
    ``_Loop.__init__``, to set back."""
    real_init = cyclegan.core.trainer._Loop.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        real_step, calls = self.step_fn, [0]

        def step(photo, monet):
            out = real_step(photo, monet)
            calls[0] += 1
            if calls[0] == at_step:
                for _ in range(count):
                    os.kill(os.getpid(), signal.SIGINT)
            return out

        self.step_fn = step

    monkeypatch.setattr(cyclegan.core.trainer._Loop, "__init__", init)
    return real_init


def _checkpoint_counters(run_dir: Path) -> dict[str, int]:
    """The newest checkpoint's step count and each optimizer's iterations (float32 Adam counts every step)."""
    latest = CheckpointStore(run_dir / "checkpoints", {}, 1).latest_step
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / f"ckpt-{latest}"))
    counters = {"file": latest, "step": int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")),
                "mini_epoch": int(reader.get_tensor("mini_epoch/.ATTRIBUTES/VARIABLE_VALUE"))}
    for key in reader.get_variable_to_shape_map():
        if key.startswith("opt_") and "iterations" in key:
            counters[key.split("/")[0]] = int(reader.get_tensor(key))
    return counters


def test_ctrl_c_twice_during_a_step_checkpoints_that_step_whole_and_resumes_exactly(tiny_tree, tmp_path, monkeypatch, straight_run):
    """The second signal's handler runs as the step's C++ call returns, before the step count moves:
    raised there, it checkpointed weights one step ahead of their count, and the resume applied that
    batch twice. It now waits for the step's counters, so the checkpoint is of step 3, whole."""
    config = build_config(tiny_tree)  # 2 mini-epochs of 2 steps: the shared straight run's experiment
    real_init = _signals_after_step(monkeypatch, 3, 2)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", progress=False)
    counters = _checkpoint_counters(tmp_path / "run")
    assert counters == {"file": 3, "step": 3, "mini_epoch": 1, "opt_generators": 3, "opt_discriminators": 3}
    monkeypatch.setattr(cyclegan.core.trainer._Loop, "__init__", real_init)
    result = train(config, tmp_path / "run", progress=False)
    assert (result.resumed_from, result.steps) == (1, 4)
    resumed, straight = (pd.read_csv(r.run_dir.history_file) for r in (result, straight_run(2)))
    for column in ("loss/cycle", "loss/gen_g", "loss/disc_monet"):
        np.testing.assert_allclose(resumed[column], straight[column], rtol=1e-5, err_msg=column)


def test_a_third_signal_inside_a_step_writes_no_checkpoint_of_it(tiny_tree, tmp_path, monkeypatch):
    """The way out of a step that takes long (a first step still tracing) interrupts it at once; what
    it cut in two is not checkpointed, and a warning names the checkpoint the run resumes from."""
    _signals_after_step(monkeypatch, 3, 3)
    with pytest.warns(UserWarning, match="no checkpoint is written of it.*it starts over when run again"), \
            pytest.raises(KeyboardInterrupt):
        train(build_config(tiny_tree), tmp_path / "run", progress=False)  # no checkpoint before (checkpoint_every 100)
    assert CheckpointStore(tmp_path / "run" / "checkpoints", {}, 1).latest_step == -1


def test_ctrl_c_twice_during_the_evaluation_resumes_the_mini_epoch_with_its_history_row(tiny_tree, tmp_path, monkeypatch,
                                                                                          straight_run):
    """A checkpoint taken while mini-epoch 1 was evaluated said it was done, but its history row was not
    written yet: the resumed run had no row 1. The mini-epoch now closes once its row is written."""
    config = build_config(tiny_tree)
    real_evaluate = cyclegan.core.trainer._Loop._evaluate

    def evaluate(self, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return real_evaluate(self, **kwargs)

    monkeypatch.setattr(cyclegan.core.trainer._Loop, "_evaluate", evaluate)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", progress=False)
    assert _checkpoint_counters(tmp_path / "run") == {"file": 2, "step": 2, "mini_epoch": 0, "opt_generators": 2, "opt_discriminators": 2}
    monkeypatch.setattr(cyclegan.core.trainer._Loop, "_evaluate", real_evaluate)
    result = train(config, tmp_path / "run", progress=False)
    resumed, straight = (pd.read_csv(r.run_dir.history_file) for r in (result, straight_run(2)))
    assert list(resumed["mini_epoch"]) == [1, 2]
    for column in ("loss/cycle", "eval/grid_score"):
        np.testing.assert_allclose(resumed[column], straight[column], rtol=1e-5, err_msg=column)


def test_half_written_checkpoint_never_replaces_the_last_good_one(tiny_tree, tmp_path, monkeypatch):
    tiny_tree["train"].update(mini_epochs=2, checkpoint_every=1)
    config = build_config(tiny_tree)
    real_write = tf.train.Checkpoint._write
    calls = {"n": 0}

    def crashing_write(self, file_prefix, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second save dies after writing part of its files
            Path(f"{file_prefix}.index").write_bytes(b"partial")
            raise OSError("disk full (simulated)")
        return real_write(self, file_prefix, *args, **kwargs)

    monkeypatch.setattr(tf.train.Checkpoint, "_write", crashing_write)
    with pytest.raises(OSError, match="simulated"):
        train(config, tmp_path / "run", progress=False)
    assert CheckpointStore(tmp_path / "run" / "checkpoints", {}, 1).latest_step == 2
    monkeypatch.setattr(tf.train.Checkpoint, "_write", real_write)
    result = train(config, tmp_path / "run", progress=False)
    assert (result.resumed_from, result.steps) == (1, 4)


def test_sigterm_checkpoints_and_exits_cleanly_then_resumes(tiny_tree, tmp_path, monkeypatch):
    """`cyclegan train` given SIGTERM inside mini-epoch 2: exit status 130, one line, a checkpoint at
    that step, and a plain `cyclegan train` resumes. The signal is sent to this process (the test
    runs the command in it): the same handler and exit path as in a process of its own, whose
    signals tests/test_worker_exit.py sends to a separate `cyclegan worker`."""
    from click.testing import CliRunner

    from cyclegan.cli.main import main

    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(tiny_tree))  # 2 mini-epochs of 2 steps
    run_dir = tmp_path / "run"
    arguments = ["train", str(config_file), "--run-dir", str(run_dir), "--no-progress"]
    real_dataset = cyclegan.core.trainer.training_dataset

    def signalled_dataset(*args, start_step: int, **kwargs):
        for number, batch in enumerate(real_dataset(*args, start_step=start_step, **kwargs), start=start_step + 1):
            if number == 3:  # before step 3, inside mini-epoch 2: honoured at the next step boundary
                os.kill(os.getpid(), signal.SIGTERM)
            yield batch

    monkeypatch.setattr(cyclegan.core.trainer, "training_dataset", signalled_dataset)
    before = signal.getsignal(signal.SIGTERM)
    stopped = CliRunner().invoke(main, arguments)
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted" in stopped.output and "Traceback" not in stopped.output
    assert signal.getsignal(signal.SIGTERM) == before  # the command's handler is gone with it
    step = CheckpointStore(run_dir / "checkpoints", {}, 1).latest_step
    assert step == 3  # a checkpoint at the moment of the signal, mid mini-epoch 2
    monkeypatch.setattr(cyclegan.core.trainer, "training_dataset", real_dataset)
    done = CliRunner().invoke(main, arguments)
    assert done.exit_code == 0, done.output
    assert "resumed from mini-epoch 1" in done.stdout
    assert list(pd.read_csv(run_dir / "history.csv")["step"]) == [2, 4]


def test_sigkill_mid_run_resumes_into_the_same_mlflow_run(tiny_tree, tmp_path):
    from click.testing import CliRunner

    from cyclegan.cli.main import main

    path = _study(tmp_path, tiny_tree, factors={"discriminator.output": ["patch"]}, seeds=[0], mini_epochs=4, steps=1,
                  checkpoint_every=2)
    runs_dir = tmp_path / "runs"
    arguments = ["ablate", str(path), "--runs-dir", str(runs_dir), "--no-progress", "--heartbeat", "1", "--grace", "4"]
    study = load_study(path)
    cell_dir = StudyPaths.default(runs_dir, None).cell_dir(study, study.cells[0].cell_id)
    log, marker = tmp_path / "ablate.log", tmp_path / "at-step-4"
    process = start(held_at(4, marker, arguments), log)
    # Killed after mini-epoch 3 is logged but before its checkpoint (every 2): it is trained again, logged once.
    wait_for(marker.exists, 600, "the first step of mini-epoch 4", process, log)
    assert len(pd.read_csv(cell_dir / "history.csv")) == 3
    process.kill()
    process.wait()
    done = CliRunner().invoke(main, arguments)  # the resume: in this process, as the kill is what is about processes
    assert done.exit_code == 0, done.output
    client = MlflowClient(f"sqlite:///{(runs_dir / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name(study.name)
    children = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("role") == "cell"]
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    for key in ("loss/cycle", "eval/grid_score"):
        steps = [m.step for m in client.get_metric_history(children[0].info.run_id, key)]
        assert sorted(steps) == [1, 2, 3, 4], (key, steps)  # none missing, none twice
    assert list(pd.read_csv(cell_dir / "history.csv")["mini_epoch"]) == [1, 2, 3, 4]


def test_killed_worker_cell_is_taken_over_and_every_cell_done_once(tiny_tree, tmp_path, monkeypatch):
    """A `cyclegan worker` process killed inside its cell: the next worker (this process, as
    `cyclegan worker` runs it) trains the cell that waits, then takes the dead worker's over once
    its heartbeat is stale; every cell is completed exactly once. (Two live workers never take the
    same cell: tests/test_ablation.py's claiming race.)"""
    from cyclegan.runs.ablation import run_worker

    storage_url = queue_storage_url(tmp_path / "runs")
    monkeypatch.setenv("CYCLEGAN_STORAGE", storage_url)
    path = _study(tmp_path, tiny_tree, factors=LEARNING_RATES, seeds=[0], mini_epochs=1, steps=2)
    study = load_study(path)
    with opened_storage(storage_url, FAST_QUEUE) as storage:  # PostgreSQL in CI: its connections closed after
        queue = CellQueue(study, storage)
        queue.enqueue_missing()
        arguments = ["worker", str(path), "--runs-dir", str(tmp_path / "runs"), "--no-progress", "--heartbeat", "1", "--grace", "4"]
        victim_log, marker = tmp_path / "victim.log", tmp_path / "victim-at-step-2"
        victim = start(held_at(2, marker, arguments), victim_log)  # held inside its first cell until killed
        wait_for(marker.exists, 600, "the victim to train a step of its cell", victim, victim_log)
        running = [t for t in queue.storage.get_all_trials(queue.study_id) if t.state.name == "RUNNING"]
        assert len(running) == 1 and running[0].user_attrs["worker"].endswith(f":{victim.pid}")
        victim.kill()
        victim.wait()
        assert run_worker(study, StudyPaths(tmp_path / "runs", storage_url), settings=FAST_QUEUE, progress=False) == 2
        trials = queue.storage.get_all_trials(queue.study_id)
        completed = Counter(t.user_attrs["cell"] for t in trials if t.state.name == "COMPLETE")
        assert completed == Counter({c.cell_id: 1 for c in study.cells})  # every cell exactly once
        dead = [t for t in trials if t.state.name == "FAIL"]
        assert len(dead) == 1 and dead[0].user_attrs["worker"].endswith(f":{victim.pid}")
        assert dead[0].user_attrs["cell"] == running[0].user_attrs["cell"]
        retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead[0].number]
        assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
        assert retried[0].user_attrs["cell"] == dead[0].user_attrs["cell"]


def test_sigterm_to_the_parent_reaches_every_worker_process():
    """A scheduler stopping `ablate --workers N` or `tune --workers N` signals the parent only: the
    parent passes it on as SIGTERM, so each worker checkpoints and requeues, then it stops too."""
    import threading

    from cyclegan.runs.workers import wait

    # The stand-in handles SIGTERM as a real worker's graceful_stop does (checkpoint, hand back, exit).
    worker = ("import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
              "print('ready', flush=True)\ntime.sleep(60)\n")
    processes = [subprocess.Popen([sys.executable, "-c", worker], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        assert process.stdout.readline().strip() == "ready"  # its Ctrl-C handler is in place
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        wait(processes, on_tick=lambda: None, interval=0.05)
    timer.join()
    assert [p.returncode for p in processes] == [7, 7]
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back

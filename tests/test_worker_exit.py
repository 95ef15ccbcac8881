"""`cyclegan worker`'s exit status, which scheduler scripts act on (docs/cluster.md): 0 nothing is
left, 3 stopped at --max-cells with cells left, 2 bad input, 4 stopped by SIGTERM with its cell
checkpointed and back in the queue."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import FAST_QUEUE, LEARNING_RATES
from mlflow.tracking import MlflowClient

from cyclegan import exit_codes
from cyclegan.cli.main import main
from cyclegan.core.runfolder.checkpoints import CheckpointStore
from cyclegan.runs.ablation import StudyPaths
from cyclegan.runs.queue import CellQueue, open_storage
from cyclegan.spec.study import load_study

pytestmark = pytest.mark.slow
HOLD_AT_STEP = Path(__file__).with_name("hold_at_step.py")


def _study(tmp_path: Path, tiny_tree: dict, *, mini_epochs: int, steps: int) -> Path:
    base = {**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": mini_epochs, "steps_per_mini_epoch": steps}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": f"exit-{uuid.uuid4().hex[:10]}", "base": base, "seeds": [0], "hypotheses": [],
                                    "factors": LEARNING_RATES}))
    return path


def _arguments(path: Path, runs: Path, *more: str) -> list[str]:
    return ["worker", str(path), "--runs-dir", str(runs), "--no-progress", "--heartbeat", "1", "--grace", "4", *more]


def test_exit_status_says_whether_cells_are_left(tmp_path, tiny_tree):
    path, runs = _study(tmp_path, tiny_tree, mini_epochs=1, steps=1), tmp_path / "runs"
    first = CliRunner().invoke(main, _arguments(path, runs, "--max-cells", "1"))
    assert first.exit_code == exit_codes.WORK_LEFT == 3, first.output
    assert "trained 1 cell(s); 1 cell(s) still waiting or running" in first.stdout
    second = CliRunner().invoke(main, _arguments(path, runs, "--max-cells", "1"))
    assert second.exit_code == exit_codes.FINISHED == 0, second.output  # took the last cell: nothing is left
    third = CliRunner().invoke(main, _arguments(path, runs))
    assert third.exit_code == 0 and "trained 0 cell(s)" in third.stdout


def test_bad_input_exits_2(tmp_path):
    result = CliRunner().invoke(main, _arguments(tmp_path / "missing.yaml", tmp_path / "runs"))
    assert result.exit_code == exit_codes.USAGE == 2
    assert "missing.yaml" in result.stderr and "Traceback" not in result.stderr


def test_sigterm_checkpoints_hands_the_cell_back_and_exits_4(tmp_path, tiny_tree):
    path, runs = _study(tmp_path, tiny_tree, mini_epochs=1, steps=4), tmp_path / "runs"
    study = load_study(path)
    marker, log = tmp_path / "at-step-3", tmp_path / "worker.log"
    # Held inside its first cell before step 3 of 4: no checkpoint yet (one per mini-epoch).
    worker = subprocess.Popen([sys.executable, str(HOLD_AT_STEP), "3", str(marker), *_arguments(path, runs)],
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not marker.exists():
        assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    Path(f"{marker}.go").touch()
    assert worker.wait(timeout=300) == exit_codes.STOPPED == 4, log.read_text()
    output = log.read_text()
    assert "stopped by SIGTERM" in output and "Traceback" not in output
    queue = CellQueue(study, open_storage(StudyPaths.default(runs, None).storage_url, FAST_QUEUE))
    trials = queue.storage.get_all_trials(queue.study_id)
    (stopped,) = [t for t in trials if t.state.name == "FAIL"]
    assert "interrupted" in stopped.user_attrs["failure_reason"]
    assert [t.user_attrs["cell"] for t in trials if t.state.name == "WAITING"].count(stopped.user_attrs["cell"]) == 1  # back in the queue
    cell_dir = StudyPaths.default(runs, None).cell_dir(study, stopped.user_attrs["cell"])
    assert CheckpointStore(cell_dir / "checkpoints", {}, 1).latest_step in (2, 3)  # written at the stop
    client = MlflowClient(f"sqlite:///{(runs / 'mlflow.db').resolve()}")
    experiment_id = client.get_experiment_by_name(study.name).experiment_id

    def cell_runs():
        return [r for r in client.search_runs([experiment_id]) if r.data.tags.get("role") == "cell"]

    (killed,) = cell_runs()
    assert killed.info.status == "KILLED" and killed.data.tags["cell"] == stopped.user_attrs["cell"]
    done = CliRunner().invoke(main, _arguments(path, runs))
    assert done.exit_code == 0, done.output
    assert "trained 2 cell(s)" in done.stdout and set(queue.cell_states().values()) == {"done"}
    # The stopped cell resumed into its own MLflow run: no second run of it, its metrics logged once.
    by_cell = {r.data.tags["cell"]: r for r in cell_runs()}
    assert len(by_cell) == len(cell_runs()) == 2
    resumed = by_cell[stopped.user_attrs["cell"]]
    assert resumed.info.run_id == killed.info.run_id and resumed.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(resumed.info.run_id, "loss/cycle")] == [1]

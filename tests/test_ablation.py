"""Studies end to end on tiny data: MLflow layout, idempotence, concurrent workers, resume, failures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml
from helpers import FAST_QUEUE, LEARNING_RATES, gpu_choice, queue_storage_url
from mlflow.tracking import MlflowClient

import cyclegan.core.trainer
from cyclegan import names
from cyclegan.names import GENERATORS, MODELS_POINTER
from cyclegan.runs.ablation import StudyPaths, run_study
from cyclegan.runs.queue import CellQueue, open_storage, opened_storage
from cyclegan.spec.study import load_study

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _local_tracking(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _study_file(tmp_path: Path, tiny_tree: dict, factors: dict, seeds=(0, 1), mini_epochs: int = 2, name: str = "tiny") -> Path:
    """A study of cells of ``mini_epochs`` of one step; one mini-epoch where no test reads a curve.
    A test on :func:`queue_storage_url` names its study apart: a PostgreSQL storage outlives the test."""
    base = {**tiny_tree, "train": {**tiny_tree["train"], "steps_per_mini_epoch": 1, "mini_epochs": mini_epochs}}
    spec = {"name": name, "base": base, "factors": factors, "seeds": list(seeds), "hypotheses": []}
    path = tmp_path / "tiny.yaml"
    path.write_text("# tiny test study\n" + yaml.safe_dump(spec))
    return path


def _runs(paths: StudyPaths, study: str = "tiny"):
    client = MlflowClient(f"sqlite:///{(paths.runs_dir / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name(study)
    return client, experiment, client.search_runs([experiment.experiment_id], max_results=1000)


def test_tiny_matrix_creates_parent_children_metrics_images_and_reruns_nothing(tmp_path, tiny_tree, capsys):
    # Two factors (the second of one level: its tag is logged all the same) and two seeds: 4 cells,
    # the second seed of each on the kept train step.
    path = _study_file(tmp_path, tiny_tree, {"generator.norm": ["instance", "none"], "discriminator.output": ["patch"]})
    study = load_study(path)
    paths = StudyPaths.default(tmp_path / "runs", None)
    counts = run_study(study, paths, settings=FAST_QUEUE, progress=False)
    assert counts["done"] == 4 and counts["failed"] == 0

    client, experiment, runs = _runs(paths)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    parents = [r for r in runs if r.data.tags.get("role") == "parent"]
    children = [r for r in runs if r.data.tags.get("role") == "cell"]
    assert len(parents) == 1 and len(children) == 4
    assert parents[0].info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert {r.data.tags["cell"] for r in children} == {c.cell_id for c in study.cells}
    for run in children:
        tags, params = run.data.tags, run.data.params
        assert run.info.status == "FINISHED"
        assert params["generator.norm"] == tags["generator.norm"] and params["train.seed"] == tags["seed"]
        assert params["discriminator.output"] == tags["discriminator.output"] == "patch"
        assert params["data.image_size"] == "32"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss/cycle")]
        assert sorted(steps) == [1, 2]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "eval/grid_score")] == [1, 2]
        assert "convergence/cycle_auc" in run.data.metrics
        # What the run asked of the machine (2 steps) and what the machine could do (this process's probe).
        metrics = run.data.metrics
        assert metrics["perf/train_gflop"] == pytest.approx(2 * metrics["perf/step_gflop"]) and metrics["perf/step_gflop"] > 0
        assert metrics["perf/conv_gflops"] > 1 and tags["host"] and tags["precision_resolved"] == "float32"
        assert metrics["time/tracing_seconds"] >= 0 and metrics["time/eval_total_seconds"] > 0
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"history.csv", "config.yaml", "samples", "images"} <= artifacts and "models" not in artifacts, artifacts
        images = client.list_artifacts(run.info.run_id, "images")
        assert len([a for a in images if a.path.endswith(".png")]) >= 2  # one sample grid per mini-epoch
        # A finished cell keeps one copy of its generators (MLflow's) and no checkpoints.
        cell_dir = paths.cell_dir(study, run.data.tags["cell"])
        assert not (cell_dir / "checkpoints").exists() and not list((cell_dir / "models").glob("*.weights.h5"))
        # ... inside the cell's logged MLflow models, which the run folder's pointer names.
        pointer = json.loads((cell_dir / "models" / MODELS_POINTER).read_text())["models"]
        assert set(pointer) == set(GENERATORS)
        assert all((Path(folder) / f"{name}.weights.h5").is_file() and "mlartifacts" in folder for name, folder in pointer.items())
    from cyclegan.core.runfolder.generators import load_run_generator

    assert load_run_generator(cell_dir).output_shape == (None, 32, 32, 3)  # through the pointer to MLflow's copy

    from cyclegan.report.build import collect, open_reader

    # The report's machine-use line from the runs' perf/* and time/* records (its arithmetic: test_machine_use).
    use = collect(study, open_reader(paths.runs_dir), paths.runs_dir).basis["machine use"]
    assert re.match(r"this study used \d+% of the machine's measured conv throughput \(.* TFLOP of training steps in .* 4 runs on ", use), use

    again = run_study(study, paths, settings=FAST_QUEUE, progress=False)
    assert again["done"] == 4
    _, _, runs_after = _runs(paths)
    assert len(runs_after) == len(runs)  # no new run: nothing was trained again
    storage = open_storage(paths.storage_url, FAST_QUEUE)
    trials = storage.get_all_trials(CellQueue(study, storage).study_id)
    assert Counter(t.state.name for t in trials) == {"COMPLETE": 4}
    # 2 seeds x 1 stratum cannot decide H2; ablate says so before training, also beside progress bars
    # (the floor's arithmetic for other designs: test_verdict_rules, test_stats_findings).
    err = _warned(tmp_path, path, paths, capsys)
    assert "warning: hypothesis 'H2': 2 seeds x 1 strata" in err and "can be neither confirmed nor refuted" in err


def _warned(tmp_path, path, paths, capsys) -> str:
    spec = yaml.safe_load(path.read_text())  # hypotheses are not part of a cell's identity: same cells
    spec["hypotheses"] = [{"name": "H2", "claim": "c", "factor": "generator.norm", "levels": ["instance", "none"],
                           "metric": "eval/grid_score", "direction": "lower", "threshold": 1.0}]
    with_h = tmp_path / "with_h" / "tiny.yaml"
    with_h.parent.mkdir()
    with_h.write_text(yaml.safe_dump(spec))
    capsys.readouterr()
    assert run_study(load_study(with_h), paths, settings=FAST_QUEUE, progress=True)["done"] == 4
    return capsys.readouterr().err


# A stand-in worker: claims and completes cells as `cyclegan worker` does (CellQueue.claim, .complete),
# without training. Both are released at once; after its first claim each waits until the other has
# one too, so both race for the first cells and both take part. Prints the cells it claimed.
_CLAIMER = """
import sys, time
from pathlib import Path
from cyclegan.runs.queue import CellQueue, QueueSettings, open_storage
from cyclegan.spec.study import load_study
study_file, storage_url, folder, me, other = sys.argv[1:]
queue = CellQueue(load_study(study_file), open_storage(storage_url, QueueSettings()))
folder = Path(folder)
while not (folder / "go").exists():
    time.sleep(0.005)
claimed = []
while (taken := queue.claim()) is not None:
    trial_id, cell = taken
    claimed.append(cell)
    if len(claimed) == 1:
        (folder / f"claimed-{me}").touch()
        while not (folder / f"claimed-{other}").exists():
            time.sleep(0.005)
    assert queue.complete(trial_id, 1.0)
print(" ".join(claimed))
"""


def test_two_workers_claiming_at_once_never_take_the_same_cell(tmp_path, tiny_tree):
    """The queue's claim under a real race between two processes (against PostgreSQL in CI, as the
    distributed test): every cell is claimed by exactly one of them. Two real `cyclegan worker`
    processes sharing a study, one killed, are tests/test_reliability.py's takeover test."""
    storage_url = queue_storage_url(tmp_path / "runs")
    (tmp_path / "runs").mkdir()
    path = _study_file(tmp_path, tiny_tree, LEARNING_RATES, seeds=range(12), mini_epochs=1, name=f"claims-{uuid.uuid4().hex[:10]}")
    study = load_study(path)
    with opened_storage(storage_url, FAST_QUEUE) as storage:  # PostgreSQL in CI: its connections closed after
        queue = CellQueue(study, storage)
        assert queue.enqueue_missing() == 24
        claimers = [subprocess.Popen([sys.executable, "-c", _CLAIMER, str(path), storage_url, str(tmp_path), me, other],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for me, other in (("a", "b"), ("b", "a"))]
        (tmp_path / "go").touch()
        outputs = [claimer.communicate(timeout=300) for claimer in claimers]
        assert [c.returncode for c in claimers] == [0, 0], outputs
        claimed = [out.split() for out, _ in outputs]
        assert all(claimed), claimed  # both took part
        assert Counter(claimed[0] + claimed[1]) == Counter({cell.cell_id: 1 for cell in study.cells})  # each cell once
        assert set(queue.cell_states().values()) == {"done"}
        completed = [t.user_attrs["cell"] for t in queue.storage.get_all_trials(queue.study_id) if t.state.name == "COMPLETE"]
        assert sorted(completed) == sorted(cell.cell_id for cell in study.cells)


def test_a_claim_names_its_worker_and_a_cell_taken_over_meanwhile_is_not_completed_twice(tmp_path, tiny_tree):
    """Claiming records this process as the cell's worker at once (a requeued copy still names its
    dead worker); a worker whose trial another worker failed meanwhile gets False from complete(),
    not a traceback, and the cell waits in a fresh copy."""
    import os
    import socket

    path = _study_file(tmp_path, tiny_tree, {"discriminator.output": ["patch"]}, seeds=(0,))
    queue = CellQueue(load_study(path), open_storage(StudyPaths.default(tmp_path / "runs", None).storage_url, FAST_QUEUE))
    queue.enqueue_missing()
    trial_id, cell = queue.claim()
    assert queue.storage.get_trial(trial_id).user_attrs["worker"] == f"{socket.gethostname()}:{os.getpid()}"
    queue.requeue(trial_id, "its heartbeat lapsed")  # what another worker's reaping does
    assert queue.complete(trial_id, 1.0) is False
    assert queue.fail(trial_id, "x") is False and queue.requeue(trial_id, "interrupted") is False  # no second copy
    assert queue.cell_states() == {cell: "waiting"}
    assert sum(t.state.name == "WAITING" for t in queue.storage.get_all_trials(queue.study_id)) == 1
    again, same = queue.claim()
    assert same == cell and again != trial_id and queue.complete(again, 1.0) is True
    assert queue.cell_states() == {cell: "done"}


def test_hand_backs_do_not_count_as_worker_deaths_and_deaths_are_bounded(tmp_path, tiny_tree):
    """A cell handed back by SIGTERM or Ctrl-C (e.g. three SLURM time limits) keeps all its hand-ons for
    worker deaths: Optuna's retry callback counted every copy, so the first death after three hand-backs
    left the cell failed. A worker that dies on this machine (reaped at once) counts against the same
    limit: it was handed on without bound. Each copy forgets its predecessor's worker and reason. The
    cell's MLflow run, which its last worker left RUNNING, is ended FAILED with the reason by the next
    worker that looks at the queue (it stayed RUNNING)."""
    from cyclegan.runs.ablation import run_worker
    from cyclegan.runs.queue import RUN_ATTR, HandOn
    from cyclegan.runs.tracking import Tracker

    path = _study_file(tmp_path, tiny_tree, {"discriminator.output": ["patch"]}, seeds=(0,))
    study, paths = load_study(path), StudyPaths.default(tmp_path / "runs", None)
    queue = CellQueue(study, open_storage(paths.storage_url, FAST_QUEUE))
    assert isinstance(queue.storage.get_heartbeat_stale_trial_callback(), HandOn)  # the stale-heartbeat path counts the same way
    queue.enqueue_missing()
    tracker = Tracker(paths.runs_dir)
    experiment_id = tracker.experiment_id(study.name)
    run_id = tracker.child_run(experiment_id, tracker.parent_run(experiment_id, study.name), study=study.name,
                               cell=study.cells[0].cell_id, run_name="cell", tags={}, config=study.cells[0].config)
    for _ in range(3):
        trial_id, cell = queue.claim()
        queue.set_attr(trial_id, RUN_ATTR, run_id)  # as the claiming worker does
        assert queue.requeue(trial_id, "interrupted; resumes from its checkpoint") is True
    for death in range(1, FAST_QUEUE.max_retry + 2):
        waiting = [t for t in queue.storage.get_all_trials(queue.study_id) if t.state.name == "WAITING"]
        assert len(waiting) == 1 and not {"worker", "failure_reason"} & set(waiting[0].user_attrs), waiting[0].user_attrs
        trial_id, cell = queue.claim()
        handed_on = queue.requeue(trial_id, "its worker ended without handing it back", died=True)
        assert handed_on is (death <= FAST_QUEUE.max_retry), death
    assert queue.cell_states() == {cell: "failed"}
    assert f"its workers died {FAST_QUEUE.max_retry + 1} times: left failed" in queue.failures()[cell]
    assert queue.storage.get_trial(trial_id).system_attrs["retry_history"] == list(range(3 + FAST_QUEUE.max_retry))
    assert tracker.run_status(run_id) == "RUNNING"
    assert run_worker(study, paths, settings=FAST_QUEUE, progress=False) == 0  # nothing waits
    ended = tracker.client.get_run(run_id)
    assert ended.info.status == "FAILED" and "left failed" in ended.data.tags["failure_reason"], ended.data.tags


def test_a_worker_that_stops_after_its_share_leaves_the_study_running(tmp_path, tiny_tree):
    """A worker at --max-cells with cells still waiting hands over: the parent run stays RUNNING
    (not FAILED, as for a worker that gave up), and the next worker finishes it."""
    from cyclegan.runs.ablation import run_worker

    path = _study_file(tmp_path, tiny_tree, LEARNING_RATES, seeds=(0,), mini_epochs=1)
    study = load_study(path)
    paths = StudyPaths.default(tmp_path / "runs", None)
    assert run_worker(study, paths, settings=FAST_QUEUE, progress=False, max_cells=1) == 1
    _, _, runs = _runs(paths)
    (parent,) = [r for r in runs if r.data.tags.get("role") == "parent"]
    assert parent.info.status == "RUNNING"
    assert CellQueue(study, open_storage(paths.storage_url, FAST_QUEUE)).counts()["waiting"] == 1
    assert run_worker(study, paths, settings=FAST_QUEUE, progress=False) == 1
    _, _, runs = _runs(paths)
    (parent,) = [r for r in runs if r.data.tags.get("role") == "parent"]
    assert parent.info.status == "FINISHED"


def test_failed_cell_is_marked_and_others_complete(tmp_path, tiny_tree, monkeypatch):
    path = _study_file(tmp_path, tiny_tree, LEARNING_RATES, seeds=(0,), mini_epochs=1)
    study = load_study(path)
    paths = StudyPaths.default(tmp_path / "runs", None)
    real_train = cyclegan.core.trainer.train

    def failing_train(config, run_dir, callbacks=(), **kwargs):
        if config.optimizer.lr_generator == 0.0001:
            raise FloatingPointError("loss/gen_g = nan at step 1 (planted)")
        return real_train(config, run_dir, callbacks, **kwargs)

    monkeypatch.setattr(cyclegan.core.trainer, "train", failing_train)
    counts = run_study(study, paths, settings=FAST_QUEUE, progress=False)
    assert counts["done"] == 1 and counts["failed"] == 1
    client, _, runs = _runs(paths)
    by_level = {float(r.data.tags["optimizer.lr_generator"]): r for r in runs if r.data.tags.get("role") == "cell"}
    assert by_level[0.0001].info.status == "FAILED"
    assert "planted" in by_level[0.0001].data.tags["failure_reason"]
    assert by_level[0.0002].info.status == "FINISHED"
    queue = CellQueue(study, open_storage(paths.storage_url, FAST_QUEUE))
    assert list(queue.failures().values()) == ["FloatingPointError: loss/gen_g = nan at step 1 (planted)"]
    # Re-running does not retry a failed cell unless asked.
    monkeypatch.setattr(cyclegan.core.trainer, "train", real_train)
    assert run_study(study, paths, settings=FAST_QUEUE, progress=False)["failed"] == 1
    assert run_study(study, paths, settings=FAST_QUEUE, retry_failed=True, progress=False)["done"] == 2


def test_unreachable_stores_fail_before_training(tmp_path, tiny_tree, monkeypatch):
    from cyclegan.runs.queue import StorageError
    from cyclegan.runs.store import TrackingError

    path = _study_file(tmp_path, tiny_tree, {"discriminator.output": ["patch"]}, seeds=(0,))
    study = load_study(path)
    monkeypatch.setattr(cyclegan.core.trainer, "train", lambda *a, **k: pytest.fail("trained despite a broken store"))
    bad_storage = StudyPaths(tmp_path / "runs", "postgresql://user:s3cret@127.0.0.1:1/nowhere")
    with pytest.raises(StorageError) as err:
        run_study(study, bad_storage, settings=FAST_QUEUE, progress=False)
    assert "s3cret" not in str(err.value) and "user:***@127.0.0.1" in str(err.value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with pytest.raises(TrackingError, match="unreachable"):
        run_study(study, StudyPaths.default(tmp_path / "runs", None), settings=FAST_QUEUE, progress=False)


@pytest.mark.parametrize("trains_here", [True, False])
def test_the_checks_before_training_take_no_gpu_memory_from_workers(tmp_path, tiny_config, monkeypatch, trains_here):
    """TensorFlow maps nearly all of every visible GPU's memory at a process's first op. The checks
    before training build VGG16 (the encoder weights file): a process that only starts workers hides
    the GPUs first, one that trains asks for memory growth first. A stand-in GPU records the calls
    (this machine has none)."""
    import tensorflow as tf

    import cyclegan.core.models
    from cyclegan.runs.orchestration import preflight

    calls = []
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda device_type=None: [gpu] if device_type == "GPU" else [])
    monkeypatch.setattr(tf.config, "set_visible_devices", lambda devices, device_type=None: calls.append(("visible", list(devices), device_type)))
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", lambda device, enable: calls.append(("growth", device.name, enable)))
    monkeypatch.setattr(cyclegan.core.models, "build_vgg16", lambda *args, **kwargs: calls.append(("build_vgg16",)))
    preflight([tiny_config], names.sqlite_url(tmp_path / names.OPTUNA_DB), FAST_QUEUE, trains_here=trains_here)
    first = ("growth", gpu.name, True) if trains_here else ("visible", [], "GPU")
    assert calls == [first, ("build_vgg16",)]


def test_the_queue_storages_opened_keep_no_connection_open(tmp_path, tiny_tree, monkeypatch):
    """The checks before training, a worker's count of cells left, the report's read of the queue and
    a worker (here one that takes no cell) close the connections of the storage they open on leaving,
    where a database server would otherwise count them as open until the object is collected
    (PostgreSQL in .ci/run)."""
    import cyclegan.runs.queue as queue_module
    from cyclegan.runs.ablation import cells_left, run_worker
    from cyclegan.runs.orchestration import preflight

    opened, real_open = [], queue_module.open_storage
    monkeypatch.setattr(queue_module, "open_storage", lambda *args, **kwargs: opened.append(real_open(*args, **kwargs)) or opened[-1])
    study = load_study(_study_file(tmp_path, tiny_tree, LEARNING_RATES, seeds=(0,), name=f"checks-{uuid.uuid4().hex[:10]}"))
    paths = StudyPaths(tmp_path / "runs", queue_storage_url(tmp_path / "runs"))
    held = real_open(paths.storage_url, FAST_QUEUE)
    CellQueue(study, held).enqueue_missing()
    assert held.engine.pool.checkedin() >= 1  # what an open storage keeps: the premise of the checks below
    held.engine.dispose()

    preflight((), paths.storage_url, FAST_QUEUE, trains_here=True)
    assert cells_left(study, paths, FAST_QUEUE) == 2
    assert set(queue_module.read_local_queue(study, paths.storage_url)[0].values()) == {"waiting"}
    assert run_worker(study, paths, settings=FAST_QUEUE, progress=False, max_cells=0) == 0
    assert len(opened) == 4
    assert [(s.engine.pool.checkedin(), s.engine.pool.checkedout()) for s in opened] == [(0, 0)] * 4


@pytest.mark.parametrize(("workers", "cells_per_process", "trains_here"), [(1, None, True), (2, None, False), (1, 3, False)])
def test_a_study_trains_in_this_process_only_without_worker_processes(tmp_path, tiny_tree, monkeypatch, workers,
                                                                      cells_per_process, trains_here):
    study = load_study(_study_file(tmp_path, tiny_tree, {"discriminator.output": ["patch"]}, seeds=(0,)))
    assert gpu_choice(monkeypatch, lambda: run_study(study, StudyPaths.default(tmp_path / "runs", None), workers=workers,
                                                     cells_per_process=cells_per_process, settings=FAST_QUEUE,
                                                     progress=False)) is trains_here


def test_a_worker_claims_its_kept_structure_first_and_others_running_structures_last(tmp_path, tiny_tree):
    """Cells of the structure this worker's step was traced for come first; cells of a structure
    another worker is training come last; otherwise the matrix order."""
    from cyclegan.runs.ablation import claim_preferences

    structures = {"a0": "A", "a1": "A", "b0": "B", "b1": "B", "c0": "C"}
    assert claim_preferences(structures, set(), set()) == (set(), set())
    assert claim_preferences(structures, set(), {"a0"}) == (set(), {"a0", "a1"})  # another worker traced A
    assert claim_preferences(structures, {"B"}, {"a0", "b0"}) == ({"b0", "b1"}, {"a0", "a1"})  # B is kept here too
    assert claim_preferences(structures, {"C"}, {"x9"}) == ({"c0"}, set())  # a cell of another study version

    path = _study_file(tmp_path, tiny_tree, {"generator.norm": ["instance", "none"]}, mini_epochs=1)
    study = load_study(path)
    queue = CellQueue(study, open_storage(StudyPaths.default(tmp_path / "runs", None).storage_url, FAST_QUEUE))
    queue.enqueue_missing()
    instance0, instance1, none0, none1 = (cell.cell_id for cell in study.cells)  # seeds follow each other
    _, first = queue.claim(avoid={instance0, instance1})  # as a second worker would, beside the first's instance cell
    assert first == none0 and queue.running_cells() == {none0}
    _, second = queue.claim(prefer={none0, none1})
    assert second == none1
    _, third = queue.claim(prefer={none0, none1}, avoid={instance1})  # nothing preferred waits: the matrix order
    assert third == instance0


def _trained_without_training(monkeypatch) -> None:
    """The trainer replaced by one that returns a finished run at once (and no conv probe): the
    tests of what happens after a cell trained need no training."""
    from cyclegan.core.callbacks import RunResult
    from cyclegan.core.runfolder.layout import RunDir
    from cyclegan.runs.lifecycle import RunLoop

    def finished(config, run_dir, callbacks=(), **kwargs):
        return RunResult(RunDir(Path(run_dir)), config, 1, 1, 0, {"loss/cycle": 0.5})

    monkeypatch.setattr(cyclegan.core.trainer, "train", finished)
    monkeypatch.setattr(RunLoop, "_probe", lambda self, config: None)


def test_a_cell_is_recorded_done_under_its_heartbeat_and_completed_before_its_checkpoints_go(tmp_path, tiny_tree, monkeypatch):
    """The heartbeat ended when the training returned, so with a short --grace another worker could take
    over a cell while it was recorded; and its checkpoints were dropped before its trial was complete, so
    a worker killed in between left a RUNNING cell to train again from the start."""
    import cyclegan.core.runfolder.retention as retention
    from cyclegan.runs import ablation
    from cyclegan.runs.lifecycle import RunLoop
    from cyclegan.runs.queue import Heartbeat

    _trained_without_training(monkeypatch)
    beating: set[int] = set()
    seen: dict[str, object] = {}

    class RecordedHeartbeat(Heartbeat):
        def __enter__(self):
            beating.add(self.trial_id)
            return super().__enter__()

        def __exit__(self, *exc):
            beating.discard(self.trial_id)
            return super().__exit__(*exc)

    real_complete, real_finish = CellQueue.complete, retention.finish_study_cell

    def complete(self, trial_id, value):
        seen["beating at complete"] = trial_id in beating
        return real_complete(self, trial_id, value)

    def finish_study_cell(run_dir, config, **kwargs):
        seen["cell at retention"] = queue.cell_states()
        return real_finish(run_dir, config, **kwargs)

    monkeypatch.setattr(ablation, "Heartbeat", RecordedHeartbeat)
    monkeypatch.setattr(RunLoop, "record_machine_use", lambda self, run_id, config, trained: seen.update(beating_at_record=bool(beating)))
    monkeypatch.setattr(CellQueue, "complete", complete)
    monkeypatch.setattr(retention, "finish_study_cell", finish_study_cell)
    study = load_study(_study_file(tmp_path, tiny_tree, {"discriminator.output": ["patch"]}, seeds=(0,), mini_epochs=1))
    paths = StudyPaths.default(tmp_path / "runs", None)
    queue = CellQueue(study, open_storage(paths.storage_url, FAST_QUEUE))
    assert ablation.run_worker(study, paths, settings=FAST_QUEUE, progress=False) == 1
    assert seen == {"beating_at_record": True, "beating at complete": True, "cell at retention": {study.cells[0].cell_id: "done"}}


def test_a_cell_taken_over_while_it_was_recorded_keeps_its_checkpoints(tmp_path, tiny_tree, monkeypatch):
    """The worker that took the cell over resumes from its checkpoints: the first worker must not drop them."""
    import cyclegan.core.runfolder.retention as retention
    from cyclegan.runs.ablation import run_worker

    _trained_without_training(monkeypatch)
    real_complete = CellQueue.complete

    def taken_over_first(self, trial_id, value):
        self.requeue(trial_id, "its heartbeat lapsed")  # what another worker's reaping does
        return real_complete(self, trial_id, value)

    monkeypatch.setattr(CellQueue, "complete", taken_over_first)
    monkeypatch.setattr(retention, "finish_study_cell", lambda *args, **kwargs: pytest.fail("dropped the checkpoints of a cell taken over"))
    study = load_study(_study_file(tmp_path, tiny_tree, {"discriminator.output": ["patch"]}, seeds=(0,), mini_epochs=1))
    paths = StudyPaths.default(tmp_path / "runs", None)
    assert run_worker(study, paths, settings=FAST_QUEUE, progress=False, max_cells=1) == 1


def test_a_second_signal_while_a_trained_cell_is_recorded_hands_it_back_and_ends_the_parent(tmp_path, tiny_tree, monkeypatch):
    """The first Ctrl-C or SIGTERM waits until the trained cell is recorded; a second one (the user
    insists) interrupted the recording and left the cell RUNNING, and so the parent run too, until a
    reaper handed the cell on. It is now handed back at once, its run KILLED, the parent KILLED."""
    import os
    import signal

    from cyclegan.runs.ablation import run_worker
    from cyclegan.runs.lifecycle import RunLoop
    from cyclegan.signals import StopSignal

    _trained_without_training(monkeypatch)

    def insisting(self, run_id, config, trained):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(RunLoop, "record_machine_use", insisting)
    study = load_study(_study_file(tmp_path, tiny_tree, {"discriminator.output": ["patch"]}, seeds=(0,), mini_epochs=1))
    paths = StudyPaths.default(tmp_path / "runs", None)
    with pytest.raises(StopSignal):
        run_worker(study, paths, settings=FAST_QUEUE, progress=False)
    queue = CellQueue(study, open_storage(paths.storage_url, FAST_QUEUE))
    assert queue.cell_states() == {study.cells[0].cell_id: "waiting"}
    (stopped,) = [t for t in queue.storage.get_all_trials(queue.study_id) if t.state.name == "FAIL"]
    assert "interrupted while it was recorded done" in stopped.user_attrs["failure_reason"]
    _, _, runs = _runs(paths)
    assert sorted((r.data.tags.get("role"), r.info.status) for r in runs) == [("cell", "KILLED"), ("parent", "KILLED")]

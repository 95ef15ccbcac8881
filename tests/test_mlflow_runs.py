"""What an MLflow user sees of a tracked cell: provenance tags, datasets, system metrics, the
generators as MLflow models (loaded back through mlflow.pyfunc and `cyclegan translate`), the
sample grid under the project's name, and a parent run a lone worker leaves FINISHED."""

from __future__ import annotations

import contextlib
import json
import re
import signal

import mlflow
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import FAST_QUEUE, http_get, start_ui, wait_for
from mlflow.tracking import MlflowClient
from PIL import Image

from cyclegan import names
from cyclegan.cli.main import main
from cyclegan.runs import provenance, tracking
from cyclegan.runs.ablation import StudyPaths, run_worker
from cyclegan.runs.queue import CellQueue, open_storage
from cyclegan.spec.study import load_study


def test_code_fingerprint_changes_with_any_source_file(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    first = provenance.code_fingerprint(package)
    assert len(first) == 16 and provenance.code_fingerprint(package) == first
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert provenance.code_fingerprint(package) != first
    assert provenance.git_commit(tmp_path) is None  # not a checkout: no commit tag rather than a wrong one


@pytest.mark.slow
def test_tracked_cell_has_provenance_datasets_system_metrics_models_and_named_grid(tmp_path, tiny_tree, tiny_data, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(tracking, "SYSTEM_METRICS_SECONDS", 1)  # the tiny run lasts seconds, not minutes
    base = {**tiny_tree, "train": {**tiny_tree["train"], "steps_per_mini_epoch": 2}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"name": "tiny", "base": base, "factors": {"discriminator.output": ["patch"]}, "seeds": [0], "hypotheses": []}))
    study = load_study(path)
    paths = StudyPaths.default(tmp_path / "runs", None)
    CellQueue(study, open_storage(paths.storage_url, FAST_QUEUE)).enqueue_missing()
    assert run_worker(study, paths, settings=FAST_QUEUE, progress=False) == 1  # a lone `cyclegan worker`

    client = MlflowClient(names.sqlite_url(paths.runs_dir / names.MLFLOW_DB))
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags["role"] == "parent")
    cell = next(r for r in runs if r.data.tags["role"] == "cell")
    assert parent.info.status == "FINISHED"  # the worker, not an `ablate` process, ended it
    for run in (parent, cell):
        tags = run.data.tags
        assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.user"] and tags["mlflow.source.name"]
        assert tags[names.VERSION_TAG] == provenance.run_tags()[names.VERSION_TAG]
        assert tags[names.CODE_TAG] == provenance.run_tags()[names.CODE_TAG] and len(tags[names.CODE_TAG]) == 16

    inputs = {i.dataset.name.rsplit("/", 1)[1]: i.dataset for i in cell.inputs.dataset_inputs}
    assert set(inputs) == {"monet", "photo"}
    for domain, dataset in inputs.items():
        on_disk = sorted((tiny_data / domain).iterdir())
        profile = json.loads(dataset.profile)
        assert profile["num_images"] == len(on_disk) and dataset.source_type == "local"
        assert json.loads(dataset.source)["uri"] == str((tiny_data / domain).resolve())
    assert inputs["monet"].digest != inputs["photo"].digest

    assert any(k.startswith("system/") for k in cell.data.metrics), sorted(cell.data.metrics)
    # Where the cell's time went, as run totals beside the curves.
    spent = {k: cell.data.metrics[k] for k in (names.TRAIN_SECONDS, names.OUTSIDE_SECONDS, names.TRACKING_SECONDS)}
    assert all(v > 0 for v in spent.values()), spent
    # MLflow's outside figures include the logging of artifacts and models, and the first step's tracing.
    metrics = cell.data.metrics
    assert metrics[names.OUTSIDE_SECONDS] > metrics[names.TRACKING_SECONDS] + metrics[names.FIRST_STEP_SECONDS] + metrics[names.BUILD_SECONDS]
    assert metrics[names.OUTSIDE_SHARE] == pytest.approx(
        metrics[names.OUTSIDE_SECONDS] / (metrics[names.OUTSIDE_SECONDS] + metrics[names.TRAIN_SECONDS]))

    artifacts = {a.path for a in client.list_artifacts(cell.info.run_id)}
    assert names.MODELS_DIR not in artifacts  # one copy: the MLflow models, not also the raw files
    grids = [a.path for a in client.list_artifacts(cell.info.run_id, names.SAMPLES_ARTIFACT)]
    assert grids == [f"{names.SAMPLES_ARTIFACT}/{names.sample_grid_name(2)}"]

    models = {m.name: m for m in client.search_logged_models(experiment_ids=[experiment.experiment_id])}
    assert set(models) == set(names.GENERATORS)
    assert {m.source_run_id for m in models.values()} == {cell.info.run_id}
    mlflow.set_tracking_uri(client.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{models['gen_photo2monet'].model_id}")
    images = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    translated = model.predict(images)
    assert translated.shape == (3, 32, 32, 3) and translated.dtype == np.float32
    assert 0.0 <= translated.min() and translated.max() <= 1.0 and not np.allclose(translated, images)
    assert model.metadata.get_input_schema().inputs[0].shape == (-1, 32, 32, 3)
    for name, logged in models.items():  # each model loads its own generator, named by its weights file
        assert mlflow.pyfunc.load_model(f"models:/{logged.model_id}").unwrap_python_model().translator.generator.name == name
    assert "generator" not in client.get_run(cell.info.run_id).data.params  # no model_config logged as a run parameter

    # Logged as code (MLflow's models from code): the model holds the file that builds it and no pickle.
    from pathlib import Path

    from cyclegan.runs.mlflow_model import GENERATOR_ARTIFACT, GeneratorModel, load_keras

    local = Path(mlflow.artifacts.download_artifacts(f"models:/{models['gen_photo2monet'].model_id}", dst_path=str(tmp_path / "dl")))
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["model_code_path"].endswith("generator_model_code.py") and "python_model" not in flavor
    assert not list(local.rglob("*.pkl"))
    # A model logged by an earlier version (a pickled GeneratorModel) still loads and translates.
    staged = local / flavor["artifacts"][GENERATOR_ARTIFACT]["path"]
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        pickled = mlflow.pyfunc.log_model(name="old_gen", python_model=GeneratorModel(), artifacts={GENERATOR_ARTIFACT: str(staged)},
                                          pip_requirements=["cyclegan"])
    assert "python_model" in pickled.flavors["python_function"]
    old = load_keras(f"models:/{pickled.model_id}", client.tracking_uri)
    assert old.name == "gen_photo2monet"
    assert np.allclose(mlflow.pyfunc.load_model(f"models:/{pickled.model_id}").predict(images), translated, atol=1e-6)

    inputs_dir, out = tmp_path / "inputs", tmp_path / "out"
    inputs_dir.mkdir()
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(inputs_dir / "p.png")
    result = CliRunner().invoke(main, ["translate", "--generator", f"runs:/{cell.info.run_id}/gen_photo2monet", "--input", str(inputs_dir),
                                       "--output", str(out), "--runs-dir", str(paths.runs_dir)])
    assert result.exit_code == 0, result.output
    assert Image.open(out / "p.png").size == (32, 32)
    result = CliRunner().invoke(main, ["translate", "--generator", "runs:/0123456789abcdef/gen_photo2monet", "--input", str(inputs_dir),
                                       "--output", str(out), "--runs-dir", str(paths.runs_dir)])
    assert result.exit_code != 0 and "runs:/0123456789abcdef/gen_photo2monet" in result.output


@pytest.mark.parametrize("chosen", [None, "true"])
def test_the_ui_runs_without_mlflows_job_runners_unless_asked(tmp_path, monkeypatch, chosen):
    from cyclegan.runs.store import UI_JOBS_VARIABLE, ui_command

    if chosen is None:
        monkeypatch.delenv(UI_JOBS_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(UI_JOBS_VARIABLE, chosen)
    command, env = ui_command(tmp_path / "runs", "127.0.0.1", 5000)
    assert env[UI_JOBS_VARIABLE] == (chosen or "false") and command[2:4] == ["mlflow", "ui"]


def test_ui_serves_the_local_store_and_stopping_it_stops_every_process_it_started(tmp_path):
    """`cyclegan ui` answers HTTP on its port, on a fresh runs folder, on a busy 2-core machine too
    (with MLflow's default of several server processes, uvicorn killed workers still importing
    MLflow and restarted them forever). Ctrl-C stops it and every process it started (issue 33)."""
    import psutil

    log = tmp_path / "ui.log"
    tracking.Tracker(tmp_path / "runs")  # a fresh store (`cyclegan ui` refuses a runs folder without one)
    ui, port = start_ui(tmp_path / "runs", log)
    started: list[psutil.Process] = []
    try:
        search = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=5"
        wait_for(lambda: http_get(search) is not None, 300, "the MLflow UI to answer", ui, log, interval=1)
        status, body = http_get(search)
        assert status == 200 and [e["name"] for e in json.loads(body)["experiments"]] == ["Default"]
        started = psutil.Process(ui.pid).children(recursive=True)
        assert started  # the server (and its workers) run in processes of their own
        # Without MLflow's server-side job runners (Huey consumers), which browsing never uses.
        assert not [p.cmdline() for p in started if "huey" in " ".join(p.cmdline())]
        ui.send_signal(signal.SIGINT)  # Ctrl-C
        assert ui.wait(timeout=180) == 130  # a loaded CI machine: the server stops its workers first (ui_server.STOP_SECONDS)
        _, alive = psutil.wait_procs(started, timeout=5)
        assert not alive, [p.cmdline() for p in alive]
        text = log.read_text()
        assert "stopped the MLflow UI" in text
        # Quiet like every command: no uvicorn line per request or at start and stop, no start-up notes
        # or deprecations of the server's imports (`cyclegan -v ui` shows them).
        assert not re.search(r"INFO:|Registry store URI|DeprecationWarning", text), text
    finally:
        for process in [psutil.Process(ui.pid), *started] if ui.poll() is None else started:
            with contextlib.suppress(psutil.Error):
                process.kill()


def test_a_database_stores_artifacts_in_the_runs_folder_and_a_server_in_its_own_root(tmp_path):
    """MLflow puts a database store's artifacts in ./mlruns of the folder the first process started in
    unless the experiment names a place: our runs folder, as for the embedded SQLite store."""
    from cyclegan.runs.store import artifact_location

    ours = (tmp_path / "runs" / names.MLFLOW_ARTIFACTS / "quick").resolve().as_uri()
    for uri in (names.sqlite_url(tmp_path / "runs" / "mlflow.db"), "postgresql://user:secret@db/cyclegan",
                "postgresql+psycopg://db/cyclegan", "mysql+pymysql://db/cyclegan"):
        assert artifact_location(uri, tmp_path / "runs", "quick") == ours, uri
    for uri in ("http://mlflow-host:5000", "https://mlflow.example.org", "databricks"):
        assert artifact_location(uri, tmp_path / "runs", "quick") is None, uri


def test_leaving_the_training_context_leaves_the_run_running_for_its_owner_to_end(tmp_path):
    """MLflow's own context marked the run FINISHED (FAILED on an interrupt) on the way out, before the
    cell was recorded: a worker killed then left a cell the queue trains again shown as finished."""
    tracker = tracking.Tracker(tmp_path / "runs")
    run_id = tracker.client.create_run(tracker.experiment_id("study")).info.run_id
    with tracker.training(run_id):
        assert mlflow.active_run().info.run_id == run_id
    assert tracker.client.get_run(run_id).info.status == "RUNNING" and mlflow.active_run() is None
    with pytest.raises(KeyboardInterrupt), tracker.training(run_id):
        raise KeyboardInterrupt
    assert tracker.client.get_run(run_id).info.status == "RUNNING" and mlflow.active_run() is None
    tracker.end_run(run_id, "KILLED")
    assert tracker.client.get_run(run_id).info.status == "KILLED"


def test_a_dataset_another_worker_logged_at_the_same_moment_is_linked_not_failed(tmp_path, tiny_config, monkeypatch):
    """Two workers logging the same dataset to an experiment at once both insert it; the second broke
    the store's unique key and its cell failed (seen with PostgreSQL behind a tracking server)."""
    from mlflow.exceptions import MlflowException

    tracker = tracking.Tracker(tmp_path / "runs")
    run_id = tracker.client.create_run(tracker.experiment_id("study")).info.run_id
    real, calls = tracker.client.log_inputs, []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException('BAD_REQUEST: (psycopg.errors.UniqueViolation) duplicate key value violates unique '
                                  'constraint "dataset_pk"')
        return real(*args, **kwargs)

    monkeypatch.setattr(tracker.client, "log_inputs", racing)
    tracker.log_datasets(run_id, tiny_config)
    assert len(calls) == 2 and len(tracker.client.get_run(run_id).inputs.dataset_inputs) == 2
    monkeypatch.setattr(tracker.client, "log_inputs", lambda *a, **k: (_ for _ in ()).throw(MlflowException("store down")))
    with pytest.raises(MlflowException, match="store down"):  # any other error is not retried
        tracker.log_datasets(tracker.client.create_run(tracker.experiment_id("study")).info.run_id, tiny_config)

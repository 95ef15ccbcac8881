"""Shared fixtures: a tiny synthetic dataset and a VGG16 weights file made on the spot.

Tests never download anything: the "pretrained" encoder is a VGG16 with random weights saved to a
file, which exercises exactly the code path of a user's local weights file.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests pin to CPU for repeatable numerics
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two xdist workers on two cores: one TensorFlow thread each (and in the runs they start), so
    # neither waits at every op's barrier for a thread the other worker has preempted.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest
from helpers import TINY_SIZE


def pytest_collection_modifyitems(items):
    """The test files that train most run first, each file's tests together and in order (module
    fixtures are made once): xdist hands tests out in this order as workers free up, so the suite
    does not end with one worker on a long test while the other waits. A file weighs what
    :func:`_training_weight` gives its tests; the order is the same on every xdist worker (each
    collects the same items)."""
    weights: dict[str, int] = {}
    for item in items:
        weights[item.path] = weights.get(item.path, 0) + _training_weight(item)
    items.sort(key=lambda item: (-weights[item.path], str(item.path)))


TRAINING_FIXTURES = {"tiny_tree", "tiny_config", "straight_run"}


def _training_weight(item) -> int:
    """A test that trains (marked slow, or using the tiny run config) counts as ten that do not."""
    trains = item.get_closest_marker("slow") is not None or TRAINING_FIXTURES & set(getattr(item, "fixturenames", ()))
    return 10 if trains else 1


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """Keras' dtype policy is process-global: a test that trains in bfloat16 must not change the
    models another test builds. Machine settings of the developer's shell must not leak in."""
    import keras

    monkeypatch.delenv("CYCLEGAN_IMAGENET_WEIGHTS", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("CYCLEGAN_STORAGE", raising=False)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


# Compiled runs a test process keeps (cyclegan.core.step_reuse.StepCache), one per structure: a
# user's process keeps one (a study lists a cell's seeds together), but the suite's tests alternate
# between a handful of structures (the tiny config, the tiny study's cells), and each of them was
# traced again after every other one in between (about 2.7 s of a 5 s tiny run). Each kept run holds
# about 250 MB at 32x32 (benchmarks/PERFORMANCE.md, 2026-12-07 (evening)).
KEPT_STRUCTURES = 4


@pytest.fixture(scope="session", autouse=True)
def _kept_structures():
    from cyclegan.core import step_reuse

    step_reuse._PROCESS_STEPS = step_reuse.StepCache(slots=KEPT_STRUCTURES)


_MIGRATED_EMPTY: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _new_local_stores_from_one_migrated_copy(monkeypatch, tmp_path_factory):
    """A new local MLflow store (``RUNS_DIR/mlflow.db``) or Optuna queue (``RUNS_DIR/optuna.db``) that
    a test's own process opens starts as a copy of an empty one that MLflow or Optuna created once per
    test process: creating a new SQLite store's tables takes MLflow 1.2-1.4 s and Optuna 0.5 s on an
    idle machine, and most tests that train or read runs make one (benchmarks/PERFORMANCE.md,
    2026-12-07 (morning)). The copy is what the library itself made (same version, same migrations).
    Processes a test starts (commands, workers) still create theirs, as a user's first study does;
    every test that runs a command on a new runs folder covers that path."""
    from cyclegan import names
    from cyclegan.runs import queue, store

    creating, rdb_storage = store._creating, queue.RDBStorage

    def mlflow_store(path: Path) -> None:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=names.sqlite_url(path)).search_experiments(max_results=1)

    def optuna_queue(path: Path) -> None:
        rdb_storage(names.sqlite_url(path)).engine.dispose()

    def creating_from_the_copy(uri: str):
        _copy_if_new(uri, names.MLFLOW_DB, mlflow_store, tmp_path_factory)
        return creating(uri)

    def storage_from_the_copy(url: str, *args, **kwargs):
        _copy_if_new(url, names.OPTUNA_DB, optuna_queue, tmp_path_factory)
        return rdb_storage(url, *args, **kwargs)

    monkeypatch.setattr(store, "_creating", creating_from_the_copy)
    monkeypatch.setattr(queue, "RDBStorage", storage_from_the_copy)


def _copy_if_new(url: str, file_name: str, create, tmp_path_factory) -> None:
    import contextlib
    import shutil

    from cyclegan import names

    target = names.sqlite_file(url)
    if target is None or target.name != file_name or target.exists() or not target.parent.is_dir():
        return
    if file_name not in _MIGRATED_EMPTY:
        empty = tmp_path_factory.mktemp("migrated_empty") / file_name
        create(empty)
        _MIGRATED_EMPTY[file_name] = empty
    partial = target.with_name(f".{file_name}.copying")
    try:  # whole or not at all: a copy cut short (a full disk) must not leave a damaged store behind
        shutil.copyfile(_MIGRATED_EMPTY[file_name], partial)
        partial.replace(target)
    except OSError:  # e.g. a read-only folder: the library's own attempt meets it, as without the copy
        with contextlib.suppress(OSError):  # a read-only file system refuses even removing a missing file
            partial.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """12 photos and 10 paintings of 48x48 (resized to 32 by the pipeline)."""
    from cyclegan.data.synth import make_synthetic_dataset

    root = tmp_path_factory.mktemp("data")
    make_synthetic_dataset(root, photos=12, paintings=10, size=48, seed=1)
    return root


@pytest.fixture(scope="session")
def vgg_weights_file(tmp_path_factory) -> Path:
    import keras

    path = tmp_path_factory.mktemp("weights") / "vgg16_notop_random.weights.h5"
    keras.utils.set_random_seed(123)
    keras.applications.VGG16(include_top=False, weights=None, input_shape=(TINY_SIZE, TINY_SIZE, 3)).save_weights(path)
    return path


def _tiny_tree(tiny_data: Path, vgg_weights_file: Path) -> dict:
    from helpers import tiny_tree

    return tiny_tree(tiny_data, vgg_weights_file)


@pytest.fixture()
def tiny_tree(tiny_data, vgg_weights_file) -> dict:
    """A run config (as a YAML-like tree) that trains in seconds on the CPU."""
    return _tiny_tree(tiny_data, vgg_weights_file)


@pytest.fixture()
def tiny_config(tiny_tree):
    from cyclegan.spec.config import build_config

    return build_config(tiny_tree, source="tiny")


@pytest.fixture(scope="session")
def straight_run(tmp_path_factory, tiny_data, vgg_weights_file):
    """``straight_run(mini_epochs)``: the finished, uninterrupted run of the tiny config with that many
    mini-epochs, trained once per session. Several tests compare their resumed, switched or
    mixed-precision run with the same straight run; each training of it costs a TensorFlow build
    and compile. The run is deterministic (seeded, float32), so sharing it changes no comparison.
    It is checkpointed after every mini-epoch (test_checkpoints copies it and damages the newest):
    checkpointing is operational, so its identity (:func:`cyclegan.spec.identity.identity`) is the
    tiny config's. Tests only read it; training it again (complete: nothing to train) is the one
    allowed write."""
    import keras

    from cyclegan.core.trainer import train
    from cyclegan.spec.config import build_config

    finished = {}

    def run(mini_epochs: int):
        if mini_epochs not in finished:
            tree = _tiny_tree(tiny_data, vgg_weights_file)
            tree["train"].update(mini_epochs=mini_epochs, checkpoint_every=1)
            keras.config.set_dtype_policy("float32")  # as _isolated sets it: a module fixture may ask before it runs
            finished[mini_epochs] = train(build_config(tree, source="tiny"), tmp_path_factory.mktemp(f"straight{mini_epochs}"), progress=False)
        return finished[mini_epochs]

    return run

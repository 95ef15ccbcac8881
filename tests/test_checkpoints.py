"""Checked checkpoints: damage named and survived, no frozen encoder saved, earlier run folders resumed,
generators rebuilt from what a run stores, and what a finished study cell keeps."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from click.testing import CliRunner
from helpers import tiny_tree

from cyclegan.cli.main import main
from cyclegan.core.runfolder.checkpoints import CheckpointDamagedError, CheckpointFallbackWarning, CheckpointStore, checkpoint_files
from cyclegan.core.runfolder.generators import GeneratorFileError, load_run_generator
from cyclegan.core.runfolder.layout import RunDirError
from cyclegan.core.runfolder.retention import finish_study_cell, folder_bytes
from cyclegan.core.trainer import NonFiniteLossError, train
from cyclegan.spec.config import build_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(straight_run, tiny_data, vgg_weights_file):
    """A 2-mini-epoch run checkpointed after each (keep_checkpoints=1 still keeps 2): the session's
    straight run of this config (tests copy it before they change anything)."""
    tree = tiny_tree(tiny_data, vgg_weights_file)
    tree["train"]["checkpoint_every"] = 1
    result = straight_run(2)
    assert result.config == build_config(tree)
    return tree, result.run_dir.root


def _copy(trained, tmp_path):
    tree, root = trained
    target = tmp_path / "run"
    shutil.copytree(root, target)
    return json.loads(json.dumps(tree)), target


def _extended(tree, mini_epochs=3):
    return build_config({**tree, "train": {**tree["train"], "mini_epochs": mini_epochs}})


def _data_file(run_dir, prefix="ckpt-4"):
    return next(p for p in checkpoint_files(run_dir / "checkpoints", prefix) if ".data-" in p.name)


def test_two_checked_checkpoints_kept_without_the_frozen_encoder(trained):
    _, root = trained
    store = CheckpointStore(root / "checkpoints", {}, 1)
    assert [e.prefix for e in store.recorded()] == ["ckpt-2", "ckpt-4"]
    entry = store.recorded()[-1]
    assert set(entry.files) == {p.name for p in checkpoint_files(root / "checkpoints", "ckpt-4")}
    assert all(len(record["sha256"]) == 64 and record["size"] > 0 for record in entry.files.values())
    # No frozen VGG16 in it: none of its first or last convolution kernels (the decoder has neither shape).
    shapes = [shape for _, shape in tf.train.list_variables(str(root / "checkpoints" / "ckpt-4"))]
    assert [3, 3, 3, 64] not in shapes and [3, 3, 512, 512] not in shapes and [3, 3, 512, 256] in shapes


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _zero(path):
    path.write_bytes(bytes(path.stat().st_size))


def _corrupt_index(run_dir):
    index = run_dir / "checkpoints" / "ckpt-4.index"
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0xFF
    index.write_bytes(bytes(data))
    return index


DAMAGES = {
    "truncate-data": (lambda run: _truncate(_data_file(run)) or _data_file(run), "truncated"),
    "zero-data": (lambda run: _zero(_data_file(run)) or _data_file(run), "SHA-256 differs"),
    "delete-data": (lambda run: _data_file(run).unlink() or run / "checkpoints" / "ckpt-4.data-00000-of-00001", "missing"),
    "corrupt-index": (_corrupt_index, "SHA-256 differs"),
}


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_each_kind_of_damage_is_named_and_the_previous_checkpoint_is_intact(trained, tmp_path, kind):
    """The check a resume makes before reading (files, sizes, SHA-256 against the manifest): the damaged
    newest checkpoint is named with what is wrong, the one before passes. What a resume then does with
    it is the same for every kind: the next test."""
    from cyclegan.core.runfolder.checkpoints import problem

    _, run_dir = _copy(trained, tmp_path)
    damage, reason = DAMAGES[kind]
    damaged = damage(run_dir)
    store = CheckpointStore(run_dir / "checkpoints", {}, 1)
    older, newest = store.recorded()
    why = problem(store.directory, newest)
    assert why and damaged.name in why and reason in why, why
    assert problem(store.directory, older) is None


def test_damaged_newest_checkpoint_is_named_and_the_previous_one_resumes(trained, tmp_path):
    tree, run_dir = _copy(trained, tmp_path)
    damage, reason = DAMAGES["truncate-data"]
    damaged = damage(run_dir)
    with pytest.warns(CheckpointFallbackWarning) as caught:
        result = train(_extended(tree), run_dir, progress=False)
    message = str(caught[0].message)
    assert damaged.name in message and reason in message and "after step 2 are trained again" in message, message
    assert (result.resumed_from, result.steps) == (1, 6)
    assert list(pd.read_csv(run_dir / "history.csv")["mini_epoch"]) == [1, 2, 3]
    assert [e.prefix for e in CheckpointStore(run_dir / "checkpoints", {}, 1).recorded()] == ["ckpt-4", "ckpt-6"]
    assert any(p.name.startswith("damaged-ckpt-4") for p in (run_dir / "checkpoints").iterdir())  # kept aside, not deleted


def test_every_checkpoint_damaged_stops_with_the_ways_out_then_restart_trains(trained, tmp_path):
    tree, run_dir = _copy(trained, tmp_path)
    _zero(_data_file(run_dir, "ckpt-2"))
    _truncate(_data_file(run_dir, "ckpt-4"))
    with pytest.raises(CheckpointDamagedError) as err:
        train(_extended(tree), run_dir, progress=False)
    message = str(err.value)
    assert str(run_dir) in message and "ckpt-2" in message and "ckpt-4" in message
    assert "restore the checkpoint files" in message and "--restart" in message
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(json.dumps({**tree, "train": {**tree["train"], "mini_epochs": 1}}))
    command = ["train", str(config_file), "--run-dir", str(run_dir), "--no-progress"]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2 and "--restart" in result.output and "Traceback" not in result.output, result.output
    result = CliRunner().invoke(main, [*command, "--restart"])
    assert result.exit_code == 0 and "1 mini-epochs, 2 steps" in result.output, result.output
    assert list(pd.read_csv(run_dir / "history.csv")["mini_epoch"]) == [1]


def test_changed_encoder_weights_file_is_refused_on_resume_and_load(trained, tmp_path):
    tree, run_dir = _copy(trained, tmp_path)
    weights = tmp_path / "vgg.weights.h5"
    shutil.copy(tree["generator"]["encoder_weights"], weights)
    tree["generator"]["encoder_weights"] = str(weights)
    train(_extended(tree, 2), run_dir, progress=False)  # the same content elsewhere: accepted
    import keras

    keras.utils.set_random_seed(99)
    keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(weights)
    with pytest.raises(RunDirError, match="generator.encoder_weights"):
        train(_extended(tree), run_dir, progress=False)
    (run_dir / "config.yaml").write_text((run_dir / "config.yaml").read_text().replace(trained[0]["generator"]["encoder_weights"], str(weights)))
    with pytest.raises(GeneratorFileError, match="not the one this run trained with"):
        load_run_generator(run_dir)


def test_checkpoints_of_the_earlier_unchecked_format_are_refused_naming_the_way_out(trained, tmp_path):
    """Before checked checkpoints: tf.train.CheckpointManager files, no manifest. Not resumed (nor
    silently started over): one error names the folder and the two ways out, and nothing is removed."""
    from cyclegan.core.runfolder.checkpoints import CheckpointDamagedError

    tree, run_dir = _copy(trained, tmp_path)
    old = tmp_path / "old"
    for name in ("config.yaml", "identity.json", "history.csv"):
        (old / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(run_dir / name, old / name)
    tf.train.CheckpointManager(tf.train.Checkpoint(step=tf.Variable(4)), old / "checkpoints", max_to_keep=1).save(checkpoint_number=4)
    before = sorted(p.name for p in (old / "checkpoints").iterdir())
    with pytest.raises(CheckpointDamagedError) as refused:
        train(_extended(tree), old, progress=False)
    text = str(refused.value)
    assert str(old) in text and "before checked checkpoints" in text and "--restart" in text and "version that began it" in text
    assert sorted(p.name for p in (old / "checkpoints").iterdir()) == before


def test_finished_study_cell_keeps_generators_samples_and_history_not_checkpoints(trained, tmp_path):
    tree, run_dir = _copy(trained, tmp_path)
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    before = load_run_generator(run_dir)(images).numpy()
    mlflow_copy = tmp_path / "mlartifacts" / "models"
    shutil.copytree(run_dir / "models", mlflow_copy)
    kept = build_config({**tree, "train": {**tree["train"], "keep_final_checkpoint": True}})
    assert finish_study_cell(run_dir, kept) == 0 and (run_dir / "checkpoints").exists()
    size = folder_bytes(run_dir / "checkpoints") + folder_bytes(run_dir / "models")
    assert finish_study_cell(run_dir, build_config(tree), models_stored_at=mlflow_copy.as_uri()) == size
    assert not (run_dir / "checkpoints").exists() and not list((run_dir / "models").glob("*.weights.h5"))
    assert (run_dir / "history.csv").exists() and list((run_dir / "samples").glob("*.png")) and list((run_dir / "eval").rglob("*.png"))
    np.testing.assert_array_equal(load_run_generator(run_dir)(images).numpy(), before)  # through the pointer
    shutil.rmtree(mlflow_copy)
    with pytest.raises(GeneratorFileError, match="stored at"):
        load_run_generator(run_dir)


def test_non_finite_loss_inside_a_host_sync_block_names_its_first_step(trained, tmp_path, monkeypatch):
    import cyclegan.core.trainer as trainer

    tree, run_dir = _copy(trained, tmp_path)
    real = trainer.make_train_step
    calls = {"n": 0}

    def poisoned(*args):
        step = real(*args)

        def wrapped(photo, monet):
            calls["n"] += 1
            out = step(photo, monet)
            return {**out, "loss/gen_f": out["loss/gen_f"] * np.nan} if calls["n"] >= 2 else out
        return wrapped

    monkeypatch.setattr(trainer, "make_train_step", poisoned)
    extended = build_config({**tree, "train": {**tree["train"], "mini_epochs": 3, "steps_per_mini_epoch": 2}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback: the checkpoints are intact
        with pytest.raises(NonFiniteLossError, match=r"step 6: loss/gen_f = nan") as err:
            train(extended, run_dir, progress=False)
    assert "ckpt-4" in str(err.value)
    assert CheckpointStore(run_dir / "checkpoints", {}, 1).latest_step == 4

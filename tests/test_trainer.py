"""End-to-end runs of the trainer on tiny synthetic data: artifacts, resume, failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from interrupts import InterruptAfter

from cyclegan import names
from cyclegan.core.runfolder.checkpoints import CheckpointStore
from cyclegan.core.runfolder.layout import RunDirError
from cyclegan.core.step_reuse import StepCache
from cyclegan.core.trainer import Callback, NonFiniteLossError, train
from cyclegan.core.translate import load_generator
from cyclegan.spec.config import build_config
from cyclegan.spec.identity import identity

pytestmark = pytest.mark.slow



def test_two_mini_epoch_run_writes_everything(tiny_config, straight_run):
    result = straight_run(2)
    run = result.run_dir
    assert (result.mini_epochs, result.steps, result.resumed_from) == (2, 4, 0)
    history = pd.read_csv(run.history_file)
    assert list(history["mini_epoch"]) == [1, 2] and list(history["step"]) == [2, 4]
    for column in ("loss/cycle", "loss/gen_g", "acc/d_monet_real", "eval/grid_score", "eval/edge_sigma", "eval/swd", "eval/collapsed"):
        assert column in history.columns, column
    assert history["loss/cycle"].notna().all()
    # The default (constant) schedule's learning rates, logged per mini-epoch (linear decay: test_reference_training).
    np.testing.assert_allclose(history[["lr/generator", "lr/discriminator"]], [[2e-4, 2e-4]] * 2)
    assert run.sample_grid(1).exists() and run.sample_grid(2).exists()
    grid = tf.io.decode_png(tf.io.read_file(str(run.sample_grid(2)))).numpy()
    assert grid.shape == (4 * 32, 2 * 32, 3)  # photos, G(photos), paintings, F(paintings) x 2 samples
    assert CheckpointStore(run.checkpoints, {}, 1).latest_step == 4  # numbered by step
    # No frozen VGG16 in it: none of its first or last convolution kernels (the decoder has neither shape).
    shapes = [shape for _, shape in tf.train.list_variables(str(run.checkpoints / "ckpt-4"))]
    assert [3, 3, 3, 64] not in shapes and [3, 3, 512, 512] not in shapes and [3, 3, 512, 256] in shapes
    assert len(list(run.eval_outputs.glob("*.png"))) == 4
    assert build_config(__import__("yaml").safe_load(run.config_file.read_text())) == result.config
    assert identity(result.config) == identity(tiny_config)
    generator = load_generator(run.root)
    out = generator(np.zeros((1, 32, 32, 3), np.float32)).numpy()
    assert out.shape == (1, 32, 32, 3) and 0 <= out.min() <= out.max() <= 1
    assert set(result.final_metrics) >= {"loss/cycle", "eval/grid_score"}
    # The first step (tracing, compiling) is timed in the row it fell in and counted outside training.
    first = history[names.FIRST_STEP_SECONDS]
    assert 0 < first[0] < history["seconds"][0] and first[1:].isna().all()
    assert result.final_metrics[names.TRAIN_SECONDS] == pytest.approx(history["seconds"].sum() - first[0])
    assert result.final_metrics[names.OUTSIDE_SECONDS] > first[0]
    assert 0 <= result.final_metrics[names.FINISH_SECONDS] < result.final_metrics[names.OUTSIDE_SECONDS]  # teardown, timed

    again = train(tiny_config, run.root, progress=False)  # complete: nothing more to train
    assert (again.resumed_from, again.steps) == (2, 4)
    assert len(pd.read_csv(run.history_file)) == 2


class _CrashAfter(Callback):
    """A crash, not an interrupt: nothing gets the chance to write a checkpoint."""

    def on_mini_epoch_end(self, record):
        if record.mini_epoch == 1:
            raise RuntimeError("simulated crash")


def test_rows_after_the_last_checkpoint_are_redone_not_duplicated(tiny_tree, tmp_path):
    tiny_tree["train"].update(mini_epochs=2, checkpoint_every=2)
    config = build_config(tiny_tree)
    # Crashed after mini-epoch 1: its history row is written but no checkpoint exists yet.
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, tmp_path / "run", (_CrashAfter(),), progress=False)
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 1
    result = train(config, tmp_path / "run", progress=False)
    assert result.resumed_from == 0
    assert list(pd.read_csv(result.run_dir.history_file)["mini_epoch"]) == [1, 2]


def test_a_run_without_its_final_checkpoint_resumes_from_the_one_before_to_the_same_numbers(tiny_tree, straight_run, tmp_path):
    # A study cell that drops its checkpoints when finished skips the last save; killed before it is
    # marked finished, it trains its last mini-epoch again and ends where the uninterrupted run did.
    config = build_config({**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": 2, "checkpoint_every": 1}})
    first = train(config, tmp_path / "run", progress=False, final_checkpoint=False)
    assert (first.mini_epochs, first.steps) == (2, 4)
    assert CheckpointStore(tmp_path / "run" / "checkpoints", {}, 1).latest_step == 2  # mini-epoch 1's, not 2's
    again = train(config, tmp_path / "run", progress=False)
    assert (again.resumed_from, again.steps) == (1, 4)
    assert CheckpointStore(tmp_path / "run" / "checkpoints", {}, 1).latest_step == 4
    history, straight = pd.read_csv(again.run_dir.history_file), pd.read_csv(straight_run(2).run_dir.history_file)
    assert list(history["step"]) == [2, 4]
    for column in ("loss/cycle", "loss/gen_g", "eval/grid_score"):
        np.testing.assert_allclose(history[column], straight[column], rtol=1e-4, err_msg=column)


def test_non_finite_loss_names_step_and_loss_and_keeps_checkpoint(tiny_tree, tmp_path, monkeypatch):
    config = build_config(tiny_tree)
    train(build_config({**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": 1}}), tmp_path / "run", progress=False)
    import cyclegan.core.losses as losses

    real_l1 = losses.l1
    monkeypatch.setattr(losses, "l1", lambda a, b: real_l1(a, b) * float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"step 3: loss/cycle = nan") as err:
        # Its own step cache: the process's kept step was traced before the poisoned loss.
        train(config, tmp_path / "run", progress=False, steps=StepCache())
    assert "ckpt-2" in str(err.value)
    assert CheckpointStore(tmp_path / "run" / "checkpoints", {}, 1).latest_step == 2


def test_run_dir_of_another_config_is_refused(tiny_tree, tiny_config, tmp_path):
    train(build_config({**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": 1}}), tmp_path / "run", progress=False)
    other = build_config({**tiny_tree, "generator": {**tiny_tree["generator"], "norm": "none"}})
    with pytest.raises(RunDirError, match=r"generator.norm: 'instance' in the run, 'none' now"):
        train(other, tmp_path / "run", progress=False)
    extended = train(tiny_config, tmp_path / "run", progress=False)  # more mini-epochs is a resume
    assert (extended.resumed_from, extended.mini_epochs) == (1, 2)


def test_run_resumes_across_the_two_instance_norm_kernels(tiny_tree, tmp_path, straight_run):
    """A run checkpointed with Keras' instance norm (as before the fused kernel existed) resumes with
    the fused kernel: the same variables, and the kernel choice is not part of the run's identity."""
    tiny_tree["train"]["mini_epochs"] = 2
    config = build_config(tiny_tree)
    straight = straight_run(2)
    assert identity(straight.config) == identity(config)
    with pytest.raises(KeyboardInterrupt):
        keras_norm = {**tiny_tree, "train": {**tiny_tree["train"], "fused_instance_norm": False}}
        train(build_config(keras_norm), tmp_path / "switched", (InterruptAfter(1),), progress=False)
    resumed = train(config, tmp_path / "switched", progress=False)
    assert (resumed.resumed_from, resumed.steps) == (1, 4)
    a, b = (pd.read_csv(r.run_dir.history_file) for r in (straight, resumed))
    assert list(b["mini_epoch"]) == [1, 2] and list(b["step"]) == [2, 4]
    # Each process timed its own first step: the resumed one in mini-epoch 2 (a straight run times
    # only its first row's: test_two_mini_epoch_run_writes_everything).
    assert list(b[names.FIRST_STEP_SECONDS].notna()) == [True, True]
    # Same weights, same data order after resume: the second mini-epoch matches the straight run.
    for column in ("loss/cycle", "loss/gen_g", "loss/disc_monet"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-4, err_msg=column)  # the restored weights, not a fresh start

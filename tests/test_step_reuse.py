"""A study process traces a train step once for the seeds of a cell: the next run of the same
structure trains on the kept step with its own fresh values, and learns exactly what a run built from
scratch learns; any other difference in the config traces anew."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import tensorflow as tf

from cyclegan.core.step_reuse import RUN_LOOP_KEYS, StepCache, load_values, structure_key
from cyclegan.core.trainer import train
from cyclegan.names import STEP_METRICS
from cyclegan.spec.config import build_config


def _config(tree: dict, **train_keys):
    tree = copy.deepcopy(tree)
    tree["train"].update(train_keys)
    return build_config(tree, source="tiny")


# A value other than the tiny config's for every config key that is not a bool (bools are negated):
# a key added to the config must be added here, so that the test below decides on it.
OTHER_VALUES = {
    "data": {"root": "/elsewhere", "image_size": 64, "holdout": 3, "max_image_pixels": 10**6},
    "generator": {"arch": "resnet", "resnet_blocks": 6, "encoder_weights": "random", "imagenet_weights": "/vgg.h5",
                  "norm": "none", "upsample": "resize_conv"},
    "discriminator": {"output": "scalar", "norm": "none", "base_filters": 32},
    "loss": {"adversarial": "lsgan", "lambda_cycle": 5.0, "lambda_identity": 0.0},
    "optimizer": {"lr_generator": 1e-3, "lr_discriminator": 1e-3, "beta_1": 0.9, "schedule": "linear_decay", "decay_start": 0.3},
    "train": {"seed": 11, "batch_size": 2, "image_pool": 2, "mini_epochs": 7, "mini_epoch_fraction": 0.5,
              "steps_per_mini_epoch": 3, "checkpoint_every": 2, "keep_checkpoints": 2, "sample_images": 1,
              "precision": "mixed_float16"},
    "eval": {"every": 2, "images": 3, "quality_every": 1, "quality_train_images": 8, "inception_weights": "/inception.h5"},
}


def _with(config, section: str, key: str):
    """``config`` with one key changed (unvalidated: only the structure key reads it)."""
    part = getattr(config, section)
    value = getattr(part, key)
    other = (not value) if isinstance(value, bool) else OTHER_VALUES[section][key]
    assert other != value, f"{section}.{key}"
    return config.model_copy(update={section: part.model_copy(update={key: other})})


def test_exactly_the_run_loop_keys_and_the_seed_without_a_pool_may_differ(tiny_tree):
    config = _config(tiny_tree)
    base = structure_key(config)
    for section, keys in config.model_dump().items():
        for key in keys:
            changed = structure_key(_with(config, section, key))
            may_differ = key in RUN_LOOP_KEYS.get(section, ()) or (section, key) == ("train", "seed")
            assert (changed == base) == may_differ, f"{section}.{key}"
    pooled = _config(tiny_tree, image_pool=2)
    assert structure_key(_config(tiny_tree, image_pool=2, seed=11)) != structure_key(pooled)  # the pool's stream is keyed by it


def test_loading_values_refuses_variables_that_do_not_match():
    source = [tf.Variable(tf.zeros((2, 3)), name="a")]
    with pytest.raises(RuntimeError, match=r"a:0 \(2, 3\).* into b:0 \(3, 2\)"):
        load_values(source, [tf.Variable(tf.zeros((3, 2)), name="b")])
    with pytest.raises(RuntimeError, match="1 variables to load into 2"):
        load_values(source, [tf.Variable(tf.zeros((2, 3))), tf.Variable(tf.zeros((2, 3)))])


def test_a_run_on_a_kept_step_learns_what_a_run_built_from_scratch_learns(tiny_tree, tmp_path, monkeypatch):
    # The reused run differs from the kept one in its seed and in every run-loop key that training
    # reads (RUN_LOOP_KEYS less evaluation's quality keys, which need an Inception file and never reach
    # the step, and generator.imagenet_weights, which a random encoder does not read): its data folder
    # and pipeline, its length, a decaying learning rate, its checkpoints.
    # Random frozen encoders: the runs' encoders differ (drawn from each seed), so the kept networks'
    # frozen weights must be replaced too, and the rebuilt-encoder check of the run folder must pass.
    tiny_tree = copy.deepcopy(tiny_tree)
    tiny_tree["generator"]["encoder_weights"] = "random"
    other_data = shutil.copytree(tiny_tree["data"]["root"], tmp_path / "data")
    reused_tree = copy.deepcopy(tiny_tree)
    reused_tree["data"].update(root=str(other_data), flip=False, random_crop=True, holdout=3, max_image_pixels=10**6)
    reused_tree["optimizer"] = {"lr_generator": 1e-3, "lr_discriminator": 5e-4, "schedule": "linear_decay", "decay_start": 0.3}
    reused_tree["train"].update(seed=4, mini_epochs=3, steps_per_mini_epoch=1, mini_epoch_fraction=0.5, checkpoint_every=2,
                                keep_checkpoints=2, keep_final_checkpoint=True, sample_images=1)
    reused_tree["eval"] = {"every": 1, "images": 3}
    steps = StepCache()
    train(_config(tiny_tree, seed=3), tmp_path / "first", progress=False, steps=steps)
    reused = train(build_config(reused_tree), tmp_path / "reused", progress=False, steps=steps)
    assert (steps.traces, steps.reuses) == (1, 1)
    fresh = train(build_config(reused_tree), tmp_path / "fresh", progress=False, steps=StepCache())

    columns = list(STEP_METRICS)
    reused_history, fresh_history = reused.run_dir.read_history(), fresh.run_dir.read_history()
    assert len(reused_history) == 3 and reused_history["lr/generator"].iloc[-1] < 1e-3  # the decay reached the kept step
    # Equal to float rounding, as a resumed run equals a straight one (oneDNN's threaded sums).
    np.testing.assert_allclose(reused_history[columns], fresh_history[columns], rtol=1e-4)
    for name in ("eval/grid_score", "eval/edge_sigma", "eval/swd"):
        assert reused.final_metrics[name] == pytest.approx(fresh.final_metrics[name], rel=1e-3, nan_ok=True), name

    # The kept step's FLOPs are counted on the graph it was traced as: no second trace.
    reused_config = build_config(reused_tree)
    kept_step = steps.last.step
    traced = kept_step.experimental_get_tracing_count()
    gflop = steps.step_gflop(reused_config)
    assert gflop > 0 and kept_step.experimental_get_tracing_count() == traced
    import cyclegan.core.machine_speed

    counted, real_count = [], cyclegan.core.machine_speed.count_step_flops
    monkeypatch.setattr(cyclegan.core.machine_speed, "count_step_flops", lambda *a: counted.append(a) or real_count(*a))
    assert steps.step_gflop(reused_config) == gflop and counted == []  # counted once per trace

    # A changed structure (a loss weight: a constant of the graph; a run of one step, the cheapest) traces its own step.
    other_tree = copy.deepcopy(reused_tree)
    other_tree["loss"] = {"lambda_identity": 0.25}
    other_tree["train"].update(mini_epochs=1)
    other = build_config(other_tree)
    train(other, tmp_path / "other", progress=False, steps=steps)
    assert (steps.traces, steps.reuses) == (2, 1)
    assert steps.step_gflop(reused_config) is None and steps.step_gflop(other) == pytest.approx(gflop)
    assert len(counted) == 1  # the new trace's count


def test_the_loaded_state_includes_loss_scales_slots_and_frozen_weights(tiny_tree):
    from cyclegan.core.step import build_networks, build_optimizers, build_pools
    from cyclegan.core.step_reuse import state_variables

    config = _config(tiny_tree, precision="mixed_float16")
    networks = build_networks(config)
    optimizers = build_optimizers(config, networks, config.train.precision)
    paths = [getattr(v, "path", v.name) for v in state_variables(networks, optimizers, build_pools(config))]
    assert sum("dynamic_scale" in p for p in paths) == 2  # one loss scale per optimizer, inside its wrapper
    trainable = len(networks.gen_g.trainable_variables) + len(networks.gen_f.trainable_variables)
    assert sum(p.endswith("_momentum") for p in paths) >= trainable  # Adam's slots of every generator variable
    frozen = [v for v in networks.gen_g.variables if not v.trainable]
    assert frozen and all(getattr(v, "path", v.name) in paths for v in frozen)  # the encoder's weights


def test_a_cache_of_several_slots_keeps_the_most_recently_used_structures(tiny_config):
    """Stand-in parts (a variable each) and a stand-in step builder: which run a cache hands back, and
    which values it loads, without training. One slot is a process's; the suite's keep more."""
    from types import SimpleNamespace

    def parts(value: float, policy: str = "float32"):
        model = SimpleNamespace(variables=[tf.Variable(value)], dtype_policy=SimpleNamespace(name=policy))
        return (SimpleNamespace(gen_g=model, gen_f=model, disc_monet=model, disc_photo=model),
                SimpleNamespace(generators=SimpleNamespace(variables=[]), discriminators=SimpleNamespace(variables=[])),
                SimpleNamespace(variables=[]))

    def build_step(config, networks, optimizers, pools):
        return SimpleNamespace(experimental_get_tracing_count=lambda: 1)

    a, b, c = (tiny_config.model_copy(update={"loss": tiny_config.loss.model_copy(update={"lambda_cycle": w})}) for w in (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="slots=0"):
        StepCache(slots=0)
    cache = StepCache(slots=2)
    kept_a = cache.compiled(a, *parts(1.0), build_step)
    cache.compiled(b, *parts(2.0), build_step)
    again = cache.compiled(a, *parts(10.0), build_step)  # a is kept: its parts get this run's values
    assert again is kept_a and cache.last is kept_a and float(kept_a.networks.gen_g.variables[0]) == 10.0
    cache.compiled(c, *parts(3.0), build_step)  # a third structure: b, the least recently used, goes
    assert (cache.traces, cache.reuses) == (3, 1) and cache.kept_structures() == {structure_key(a), structure_key(c)}
    assert cache.compiled(a, *parts(1.0), build_step) is kept_a and cache.compiled(b, *parts(2.0), build_step) is not None
    assert (cache.traces, cache.reuses) == (4, 2)
    # The same config built under another dtype policy (``precision: auto`` on another device) is
    # another graph: traced anew, and it replaces the kept one.
    kept_a = cache.compiled(a, *parts(1.0), build_step)
    in_float16 = cache.compiled(a, *parts(1.0, "mixed_float16"), build_step)
    assert in_float16 is not kept_a and cache.compiled(a, *parts(5.0, "mixed_float16"), build_step) is in_float16
    assert (cache.traces, cache.reuses) == (5, 4) and cache.last is in_float16
    one = StepCache()
    one.compiled(a, *parts(1.0), build_step)
    one.compiled(b, *parts(2.0), build_step)
    assert one.compiled(a, *parts(1.0), build_step) is not kept_a and (one.traces, one.reuses) == (3, 0)


def test_runs_trained_without_a_cache_share_the_process_one(tiny_tree, tmp_path, monkeypatch):
    """A program that calls train() several times (a notebook, these tests) keeps one traced step."""
    import cyclegan.core.step_reuse

    process = StepCache()
    monkeypatch.setattr(cyclegan.core.step_reuse, "_PROCESS_STEPS", process)
    train(_config(tiny_tree, mini_epochs=1, steps_per_mini_epoch=1), tmp_path / "one", progress=False)
    train(_config(tiny_tree, mini_epochs=1, steps_per_mini_epoch=2, seed=5), tmp_path / "two", progress=False)
    assert (process.traces, process.reuses) == (1, 1)
    # The evaluation's and sample grids' generator functions came with the kept step: each traced
    # once for both runs (photo -> Monet: encoder and decoder apart; Monet -> photo: its decoder, on
    # the features of the sample paintings).
    forwards = list(process.last.forwards.values())
    assert len(forwards) == 2
    assert all(f.encode.experimental_get_tracing_count() == 1 == f.decode.experimental_get_tracing_count() for f in forwards)

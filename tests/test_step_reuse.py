"""A study process traces a train step once for the seeds of a cell: the next run of the same
structure trains on the kept step with its own fresh values, and learns exactly what a run built from
scratch learns; any other difference in the config traces anew."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf

from cyclegan.core.step_reuse import StepCache, load_values, structure_key
from cyclegan.core.trainer import train
from cyclegan.names import STEP_METRICS
from cyclegan.spec.config import build_config


def _config(tree: dict, **train_keys):
    tree = copy.deepcopy(tree)
    tree["train"].update(train_keys)
    return build_config(tree, source="tiny")


def test_only_the_seed_may_differ_and_only_without_an_image_pool(tiny_tree):
    base = structure_key(_config(tiny_tree))
    assert structure_key(_config(tiny_tree, seed=11)) == base
    assert structure_key(_config(tiny_tree, steps_per_mini_epoch=3)) != base
    changed = copy.deepcopy(tiny_tree)
    changed["loss"] = {"lambda_cycle": 5.0}  # a Python constant of the traced graph
    assert structure_key(build_config(changed, source="tiny")) != base
    pooled = _config(tiny_tree, image_pool=2)
    assert structure_key(_config(tiny_tree, image_pool=2, seed=11)) != structure_key(pooled)  # the pool's stream is keyed by it


def test_loading_values_refuses_variables_that_do_not_match():
    source = [tf.Variable(tf.zeros((2, 3)), name="a")]
    with pytest.raises(RuntimeError, match=r"a:0 \(2, 3\).* into b:0 \(3, 2\)"):
        load_values(source, [tf.Variable(tf.zeros((3, 2)), name="b")])
    with pytest.raises(RuntimeError, match="1 variables to load into 2"):
        load_values(source, [tf.Variable(tf.zeros((2, 3))), tf.Variable(tf.zeros((2, 3)))])


def test_a_run_on_a_kept_step_learns_what_a_run_built_from_scratch_learns(tiny_tree, tmp_path, monkeypatch):
    # Random frozen encoders: the runs' encoders differ (drawn from each seed), so the kept networks'
    # frozen weights must be replaced too, and the rebuilt-encoder check of the run folder must pass.
    tiny_tree = copy.deepcopy(tiny_tree)
    tiny_tree["generator"]["encoder_weights"] = "random"
    steps = StepCache()
    first = train(_config(tiny_tree, seed=3), tmp_path / "first", progress=False, steps=steps)
    reused = train(_config(tiny_tree, seed=4), tmp_path / "reused", progress=False, steps=steps)
    assert (steps.traces, steps.reuses) == (1, 1)
    fresh = train(_config(tiny_tree, seed=4), tmp_path / "fresh", progress=False)

    columns = list(STEP_METRICS)
    reused_history, fresh_history = reused.run_dir.read_history(), fresh.run_dir.read_history()
    # Equal to float rounding, as a resumed run equals a straight one (oneDNN's threaded sums).
    np.testing.assert_allclose(reused_history[columns], fresh_history[columns], rtol=1e-4)
    assert not np.allclose(first.run_dir.read_history()[columns], reused_history[columns], rtol=1e-2)  # the seed did matter
    for name in ("eval/grid_score", "eval/edge_sigma", "eval/swd"):
        assert reused.final_metrics[name] == pytest.approx(fresh.final_metrics[name], rel=1e-3, nan_ok=True), name

    # The kept step's FLOPs are counted on the graph it was traced as: no second trace.
    kept_step = steps._compiled.step
    traced = kept_step.experimental_get_tracing_count()
    gflop = steps.step_gflop(_config(tiny_tree, seed=4))
    assert gflop > 0 and kept_step.experimental_get_tracing_count() == traced
    import cyclegan.core.machine_speed

    counted, real_count = [], cyclegan.core.machine_speed.count_step_flops
    monkeypatch.setattr(cyclegan.core.machine_speed, "count_step_flops", lambda *a: counted.append(a) or real_count(*a))
    assert steps.step_gflop(_config(tiny_tree, seed=4)) == gflop and counted == []  # counted once per trace

    # A changed structure (here the steps per mini-epoch: a run of one step, the cheapest) traces its own step.
    other = _config(tiny_tree, seed=4, mini_epochs=1, steps_per_mini_epoch=1)
    train(other, tmp_path / "other", progress=False, steps=steps)
    assert (steps.traces, steps.reuses) == (2, 1)
    assert steps.step_gflop(_config(tiny_tree, seed=4)) is None and steps.step_gflop(other) == pytest.approx(gflop)
    assert len(counted) == 1  # the new trace's count


def test_the_loaded_state_includes_loss_scales_slots_and_frozen_weights(tiny_tree):
    from cyclegan.core.step import build_networks, build_optimizers, build_pools
    from cyclegan.core.step_reuse import state_variables

    config = _config(tiny_tree, precision="mixed_float16")
    networks = build_networks(config)
    optimizers = build_optimizers(config, networks)
    paths = [getattr(v, "path", v.name) for v in state_variables(networks, optimizers, build_pools(config))]
    assert sum("dynamic_scale" in p for p in paths) == 2  # one loss scale per optimizer, inside its wrapper
    trainable = len(networks.gen_g.trainable_variables) + len(networks.gen_f.trainable_variables)
    assert sum(p.endswith("_momentum") for p in paths) >= trainable  # Adam's slots of every generator variable
    frozen = [v for v in networks.gen_g.variables if not v.trainable]
    assert frozen and all(getattr(v, "path", v.name) in paths for v in frozen)  # the encoder's weights

"""Experiment files: the matrix expands into cells; every mistake names the file, key or value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cyclegan.names import EVAL_METRICS
from cyclegan.spec.config import ConfigError
from cyclegan.spec.extends import read_extended_yaml
from cyclegan.spec.study import load_study

HYPOTHESIS = {"name": "H2", "claim": "IN removes the grid", "factor": "generator.norm", "levels": ["instance", "none"],
              "metric": "eval/grid_score", "direction": "lower", "threshold": 1.0}
BOUND = {"name": "H2-removes", "claim": "no grid left", "factor": "generator.norm", "level": "instance",
         "metric": "eval/grid_score", "below": 1.0}


def _write(tmp_path: Path, spec: dict, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _spec(**changes) -> dict:
    spec = {
        "base": {"data": {"image_size": 32, "holdout": 4}, "generator": {"encoder_weights": "random"}},
        "factors": {"generator.norm": ["instance", "none"], "discriminator.output": ["patch", "scalar"]},
        "seeds": [0, 1],
        "hypotheses": [dict(HYPOTHESIS)],
    }
    spec.update(changes)
    return spec


def test_full_factorial_times_seeds(tmp_path):
    study = load_study(_write(tmp_path, _spec()))
    assert study.name == "study" and len(study.cells) == 8
    assert len({c.cell_id for c in study.cells}) == 8
    cell = next(c for c in study.cells if c.levels == {"generator.norm": "none", "discriminator.output": "scalar"} and c.seed == 1)
    assert cell.config.generator.norm == "none" and cell.config.discriminator.output == "scalar"
    assert cell.config.train.seed == 1 and cell.config.data.image_size == 32
    assert cell.cell_id.startswith("norm=none-output=scalar-seed=1-")


def test_base_change_makes_new_cell_ids_and_overrides_apply(tmp_path):
    path = _write(tmp_path, _spec())
    before = {c.cell_id for c in load_study(path).cells}
    after = load_study(path, ["train.mini_epochs=7"])
    assert all(c.config.train.mini_epochs == 7 for c in after.cells)
    assert not before & {c.cell_id for c in after.cells}
    with pytest.raises(ConfigError, match="would override a factor"):
        load_study(path, ["generator.norm=none"])
    with pytest.raises(ConfigError, match="train.seed=... is each cell's seed, taken from the study's seeds: list"):
        load_study(path, ["train.seed=99"])  # accepted and never used before: every cell takes its seed from seeds:
    with pytest.raises(ConfigError, match=r"seeds.1: Input should be greater than or equal to 0 \(got -1\)"):
        load_study(_write(tmp_path, _spec(seeds=[0, -1])))  # was reported as a level of a factor


def test_boolean_and_numeric_levels_are_typed(tmp_path):
    spec = _spec(factors={"generator.encoder_trainable": [True, False], "optimizer.lr_generator": ["1e-4", 2e-4]},
                 hypotheses=[{**HYPOTHESIS, "factor": "generator.encoder_trainable", "levels": [True, False]}])
    study = load_study(_write(tmp_path, spec))
    assert study.factors["generator.encoder_trainable"] == ("true", "false")
    trainable = {c.config.generator.encoder_trainable for c in study.cells}
    assert trainable == {True, False}
    assert {c.config.optimizer.lr_generator for c in study.cells} == {1e-4, 2e-4}
    assert study.hypotheses[0].levels == ("true", "false")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"factors": {}}, "empty matrix"),
        ({"factors": {"generator.nrom": ["instance"]}}, "factors.generator.nrom: not a config key; did you mean 'generator.norm'"),
        ({"factors": {"generator.norm": ["instance", "batch"]}}, "generator.norm: Input should be 'instance' or 'none'"),
        ({"factors": {"train.seed": [1, 2]}}, "seeds are replications"),
        ({"factors": {"generator.norm": ["none", "none"]}}, "repeated level"),
        ({"seeds": []}, "seeds"),
        ({"factorz": {}}, "factorz: unknown key. Did you mean 'factors'?"),
        ({"base": {"train": {"mini_epochs": 0}}}, "train.mini_epochs: Input should be greater than or equal to 1"),
        ({"base": {"train": {"steps_per_mini_epoch": -1}}}, "train.steps_per_mini_epoch"),
        ({"hypotheses": [{**HYPOTHESIS, "factor": "generator.upsample"}]}, "factor 'generator.upsample' is not a factor of this study"),
        ({"hypotheses": [{**HYPOTHESIS, "levels": ["instance", "batch"]}]}, "level 'batch' is not a level of generator.norm"),
        ({"hypotheses": [{**HYPOTHESIS, "metric": "eval/grid_scor"}]}, "hypotheses.0.metric: unknown metric 'eval/grid_scor'; did you mean 'eval/grid_score'"),
        ({"hypotheses": [{**HYPOTHESIS, "direction": "smaller"}]}, "hypotheses.0.direction"),
        ({"hypotheses": [{**HYPOTHESIS, "threshold": "ten"}]}, "percentage like '10%'"),
        ({"hypotheses": [{**HYPOTHESIS, "metrc": "x"}]}, "hypotheses.0.metrc: unknown key. Did you mean 'hypotheses.0.metric'?"),
        ({"hypotheses": [{**BOUND, "levels": ["instance", "none"]}]}, "a bound claim (level: instance) takes below: or above:, not levels"),
        ({"hypotheses": [{**BOUND, "above": 0.5}]}, "needs exactly one of below: or above: (got both)"),
        ({"hypotheses": [{k: v for k, v in BOUND.items() if k != "below"}]}, "needs exactly one of below: or above:"),
        ({"hypotheses": [{**BOUND, "level": "batch"}]}, "level: level 'batch' is not a level of generator.norm"),
        ({"hypotheses": [{**HYPOTHESIS, "below": 1.0}]}, "below bound one level: add level:"),
        ({"hypotheses": [{k: v for k, v in HYPOTHESIS.items() if k != "direction"}]}, "a comparison needs direction"),
        ({"hypotheses": [{**HYPOTHESIS, "where": {"generator.upsample": "transpose"}}]}, "where.generator.upsample: not a factor"),
        ({"hypotheses": [{**HYPOTHESIS, "where": {"discriminator.output": "pixel"}}]}, "where.discriminator.output: level 'pixel'"),
        ({"hypotheses": [{**HYPOTHESIS, "where": {"generator.norm": "none"}}]}, "where.generator.norm: restricts the hypothesis's own factor"),
    ],
)
def test_bad_study_files_name_the_problem(tmp_path, changes, fragment):
    path = _write(tmp_path, _spec(**changes), name="bad.yaml")
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert "bad.yaml" in str(err.value)
    assert fragment in str(err.value)


def test_bound_claim_where_and_settle_parse(tmp_path):
    spec = _spec(hypotheses=[BOUND, {**HYPOTHESIS, "where": {"discriminator.output": "patch"}, "settle": False}])
    bound, restricted = load_study(_write(tmp_path, spec)).hypotheses
    assert bound.is_bound and bound.below == 1.0 and bound.levels is None and bound.settle
    assert not restricted.is_bound and restricted.where == {"discriminator.output": "patch"} and not restricted.settle


def test_relative_threshold_and_shipped_experiments_parse(tmp_path):
    spec = _spec(hypotheses=[{**HYPOTHESIS, "metric": "eval/edge_sigma", "threshold": "10%"}])
    assert load_study(_write(tmp_path, spec)).hypotheses[0].threshold == "10%"
    shipped = sorted(Path(__file__).parents[1].joinpath("experiments").glob("*.yaml"))
    studies = [p for p in shipped if "factors" in read_extended_yaml(p)]
    assert {p.name for p in studies} >= {"quick.yaml", "monet.yaml", "upsample.yaml"}
    for path in studies:
        study = load_study(path)
        assert study.hypotheses, f"{path.name} declares no hypothesis"
        assert path.read_text().startswith("#"), f"{path.name} needs a header comment saying how to run it"


def test_eval_metric_names_match_score_batch():
    import numpy as np

    from cyclegan.metrics import score_batch

    images = np.random.default_rng(0).random((4, 32, 32, 3))
    keys = {f"eval/{k}" for k in score_batch(images, images, target=images)}
    assert keys == set(EVAL_METRICS)


def test_cell_ids_follow_content_not_paths(tmp_path, tiny_data, vgg_weights_file):
    import shutil

    spec = _spec(base={"data": {"root": str(tiny_data), "image_size": 32, "holdout": 4},
                       "generator": {"imagenet_weights": str(vgg_weights_file)}},
                 factors={"generator.encoder_weights": ["imagenet", "random"]},
                 hypotheses=[{**HYPOTHESIS, "factor": "generator.encoder_weights", "levels": ["imagenet", "random"]}])
    path = _write(tmp_path, spec)
    ids = [c.cell_id for c in load_study(path).cells]
    moved_weights = tmp_path / "elsewhere.weights.h5"
    shutil.copy(vgg_weights_file, moved_weights)
    moved_data = tmp_path / "data_copy"
    shutil.copytree(tiny_data, moved_data)
    same = load_study(path, [f"generator.imagenet_weights={moved_weights}", f"data.root={moved_data}",
                                   "train.jit_compile=true", "train.fused_instance_norm=false"])
    assert [c.cell_id for c in same.cells] == ids  # same content elsewhere, other kernels: the same cells
    other_weights = tmp_path / "other.weights.h5"
    other_weights.write_bytes(vgg_weights_file.read_bytes() + b"\x00")
    swapped = load_study(path, [f"generator.imagenet_weights={other_weights}"])
    for before, after in zip(load_study(path).cells, swapped.cells, strict=True):
        # Other ImageNet weights make new imagenet cells; the random-encoder cells do not use the file.
        assert (before.cell_id == after.cell_id) == (before.levels["generator.encoder_weights"] == "random")
    (moved_data / "data.csv").write_text((moved_data / "data.csv").read_text().rsplit("\n", 2)[0] + "\n")
    fewer = load_study(path, [f"data.root={moved_data}"])
    assert not set(c.cell_id for c in fewer.cells) & set(ids)  # other data: new cells


def test_cells_that_train_the_same_run_are_named_before_training(tmp_path):
    """The ResNet generator has no VGG16 encoder: crossing generator.arch with generator.encoder_weights
    gives ResNet cells that differ only in a key they do not use (issue 33's leftover)."""
    from cyclegan.spec.study import same_runs

    crossed = load_study(_write(tmp_path, _spec(
        factors={"generator.arch": ["vgg_unet", "resnet"], "generator.encoder_weights": ["random", "imagenet"]},
        seeds=[0], hypotheses=[])))
    (line,) = same_runs(crossed)
    resnet_cells = sorted(c.cell_id for c in crossed.cells if c.levels["generator.arch"] == "resnet")
    assert len(resnet_cells) == 2 and all(cell in line for cell in resnet_cells)
    assert "generator.encoder_weights" in line and "vgg_unet" not in line.split(":")[0]
    assert same_runs(load_study(_write(tmp_path, _spec(), "plain.yaml"))) == []


def test_a_child_file_removes_an_inherited_key_with_null(tmp_path):
    """A child's factors: only added to its parent's, and a null list of levels was refused: a file
    could not take a factor (or any key) away from what it extends."""
    from cyclegan.spec.extends import merge

    _write(tmp_path, _spec(base={**_spec()["base"], "train": {"mini_epochs": 7, "batch_size": 2}}), "parent.yaml")
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({
        "extends": "parent.yaml",
        "factors": {"discriminator.output": None, "generator.upsample": ["transpose", "resize_conv"]},
        "base": {"train": {"mini_epochs": None}},
    }))
    study = load_study(child)
    assert list(study.factors) == ["generator.norm", "generator.upsample"] and len(study.cells) == 8
    assert study.base.train.mini_epochs == 100 and study.base.train.batch_size == 2  # the default again; the rest kept
    # A null for a key nothing earlier set stays an explicit null, as before.
    assert merge({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"c": None}, "e": None}) == {"b": {"d": 3}, "e": None}


def test_null_levels_are_read_back_as_null(tmp_path):
    """``str(None)`` gave the level 'None', which the config got as that text and refused."""
    spec = _spec(factors={"train.steps_per_mini_epoch": [None, 2], "generator.norm": ["instance", "none"]},
                 hypotheses=[{**HYPOTHESIS, "factor": "train.steps_per_mini_epoch", "levels": [None, 2]},
                             {**BOUND, "where": {"train.steps_per_mini_epoch": None}}])
    study = load_study(_write(tmp_path, spec))
    assert study.factors["train.steps_per_mini_epoch"] == ("null", "2")
    assert {c.levels["train.steps_per_mini_epoch"]: c.config.train.steps_per_mini_epoch for c in study.cells} == {"null": None, "2": 2}
    assert {c.cell_id.split("-seed=")[0] for c in study.cells} >= {"steps_per_mini_epoch=null-norm=none", "steps_per_mini_epoch=2-norm=none"}
    assert study.hypotheses[0].levels == ("null", "2") and study.hypotheses[1].where == {"train.steps_per_mini_epoch": "null"}
    resnet = _spec(base={**_spec()["base"], "generator": {"arch": "resnet"}}, factors={"generator.resnet_blocks": [None, 9]}, hypotheses=[])
    assert [c.config.generator.resnet_blocks for c in load_study(_write(tmp_path, resnet, "resnet.yaml")).cells] == [None, None, 9, 9]


def test_long_levels_give_cell_ids_that_fit_a_folder_name(tmp_path):
    """Deep data.root levels made cell ids (folder names) over 255 bytes: every cell failed with
    ENAMETOOLONG once training started. Such ids are shortened; an id that fitted is kept exactly."""
    from cyclegan.spec.study import CELL_ID_MAX

    deep = "/".join(["shared_datasets_dir"] * 12)
    roots = [f"{deep}/monet2photo_a", f"{deep}/monet2photo_b"]  # absent: the same (missing) data, one identity
    spec = _spec(factors={"data.root": roots, "optimizer.lr_generator": [2e-4, 1e-4]}, hypotheses=[])
    ids = [c.cell_id for c in load_study(_write(tmp_path, spec)).cells]
    assert len(set(ids)) == len(ids) == 8
    for cell_id in ids:
        assert len(cell_id.encode()) <= 200, cell_id
        assert cell_id.startswith("root=shared_datasets_dir_") and "_monet2photo_" in cell_id and "-lr_generator=0.000" in cell_id
        (tmp_path / "cells" / cell_id).mkdir(parents=True)  # the folder can be made
    # An id just within the limit is the full text, as it was before ids were capped.
    fits = f"data/{'d' * (CELL_ID_MAX - len('root=data/-seed=0-12345678'))}"
    (near,) = {c.cell_id for c in load_study(_write(tmp_path, _spec(factors={"data.root": [fits]}, seeds=[0], hypotheses=[]), "fits.yaml")).cells}
    assert near.startswith(f"root={fits.replace('/', '_')}-seed=0-") and len(near) == CELL_ID_MAX

"""Every shipped experiment and tuning file trains: one cell of each (its first and its last, so
every level of every factor is built once across them), shrunk to a tiny size with ``--set``
overrides, on the tests' own data and stand-in weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cyclegan.spec.config import build_config
from cyclegan.spec.extends import read_extended_yaml, run_tree

pytestmark = pytest.mark.slow
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SHIPPED = sorted(p for p in EXPERIMENTS.glob("*.yaml"))


def _shrink(tiny_data: Path, weights: Path) -> tuple[str, ...]:
    return (f"data.root={tiny_data}", "data.image_size=32", "data.holdout=4", "train.batch_size=1",
            "train.mini_epochs=1", "train.steps_per_mini_epoch=1", "train.sample_images=2", "eval.images=4",
            "train.precision=float32", f"generator.imagenet_weights={weights}")


def test_every_shipped_file_is_covered():
    kinds = {p.name: ("factors" in (tree := read_extended_yaml(p))) or ("search_space" in tree) for p in SHIPPED}
    assert {"quick.yaml", "upsample.yaml", "monet.yaml", "tune.yaml"} <= set(kinds) and all(kinds.values()), kinds


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_a_shipped_experiment_trains_when_shrunk(path, tmp_path, tiny_data, vgg_weights_file):
    from cyclegan.core.trainer import train

    overrides = _shrink(tiny_data, vgg_weights_file)
    if "search_space" in read_extended_yaml(path):
        from cyclegan.spec.tune_space import load_tune_spec

        configs = [load_tune_spec(path, overrides).base]
    else:
        from cyclegan.spec.study import load_study

        cells = load_study(path, overrides).cells
        configs = [cells[0].config, cells[-1].config]
    for index, config in enumerate(configs):
        assert config.data.image_size == 32 and config.train.mini_epochs == 1
        result = train(config, tmp_path / str(index), progress=False)
        assert result.mini_epochs == 1 and result.steps == 1
        assert (tmp_path / str(index) / "history.csv").exists()
        assert all(v == v for k, v in result.final_metrics.items() if k.startswith("loss/")), result.final_metrics


@pytest.mark.parametrize("path", [p for p in SHIPPED if "factors" in read_extended_yaml(p)], ids=lambda p: p.stem)
def test_commands_that_take_a_run_or_an_experiment_file_read_the_base_with_its_extends(path):
    """`cyclegan bench experiments/quick.yaml` times the study's base: the merged one, not the file's
    own keys (a study that only extends shared files has no base of its own)."""
    base = run_tree(path)
    assert base == read_extended_yaml(path)["base"]
    build_config(base, source=str(path))


def test_a_run_file_is_its_own_run_tree(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"train": {"batch_size": 2}}))
    assert run_tree(path) == {"train": {"batch_size": 2}}

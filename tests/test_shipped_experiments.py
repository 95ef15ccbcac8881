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


def _planted_quick_runs(texture_collapsed_seeds: int) -> tuple:
    """The quick study's 16 finished runs with planted final values: nothing differs between the arms
    except that ``texture_collapsed_seeds`` of the scalar arm's 2 seeds per stratum (in every stratum)
    carry the real texture collapse's shared texture (0.23, issue 35), the others a healthy 0.015."""
    import numpy as np
    import pandas as pd

    from cyclegan.spec.study import load_study

    study = load_study(Path("experiments/quick.yaml"))
    rng = np.random.default_rng(0)
    rows = []
    for cell in study.cells:
        collapsed = cell.levels["discriminator.output"] == "scalar" and cell.seed < texture_collapsed_seeds
        rows.append({**cell.levels, "seed": cell.seed,
                     "eval/shared_texture": (0.23 if collapsed else 0.015) + 0.005 * rng.standard_normal(),
                     "eval/input_identifiability": 0.97 + 0.01 * rng.standard_normal(),  # the faint layout still follows
                     "eval/edge_sigma": 2.0 + 0.1 * rng.standard_normal(), "eval/grid_score": 0.5 + 0.1 * rng.standard_normal(),
                     "convergence/cycle_epochs_to_half": 4.0 + rng.integers(0, 2), "eval/kid": float("nan")})
    return study, pd.DataFrame(rows)


@pytest.mark.parametrize(("collapsed_seeds", "texture_verdict"), [(2, "confirmed"), (0, "refuted")])
def test_the_shipped_h3_is_confirmed_by_a_texture_collapse_alone(collapsed_seeds, texture_verdict):
    """Issue 35: the scalar arm's real collapse kept a faint layout (identifiability ~1) and shared its
    stripes; H3 must be able to see it. H3-texture confirms it (in the corrected family) while H3-layout
    does not, and with no collapse H3-texture is refuted."""
    from cyclegan.analysis.family import evaluate_family

    study, runs = _planted_quick_runs(collapsed_seeds)
    exploratory = [h.name for h in study.hypotheses if h.exploratory]
    verdicts = {v.name: v for v in evaluate_family(runs, study.hypotheses, list(study.factors), exploratory=exploratory)}
    assert verdicts["H3-texture"].verdict == texture_verdict, verdicts["H3-texture"].rule
    assert verdicts["H3-layout"].verdict != "confirmed"
    assert "Holm" in verdicts["H3-texture"].family and "H2-quality" in exploratory
    assert all(h.scope for h in study.hypotheses if h.name.startswith("H3-"))

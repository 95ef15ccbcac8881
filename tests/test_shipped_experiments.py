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


def _shrunk_configs(path: Path, overrides: tuple[str, ...]) -> dict[str, object]:
    """A study's first and last cell (between them every level of every factor), a tuning file's base."""
    if "search_space" in read_extended_yaml(path):
        from cyclegan.spec.tune_space import load_tune_spec

        return {"base": load_tune_spec(path, overrides).base}
    from cyclegan.spec.study import load_study

    cells = load_study(path, overrides).cells
    return {"first": cells[0].config, "last": cells[-1].config}


def _distinct(overrides: tuple[str, ...]) -> dict[str, str]:
    """``file-position`` -> identity of each shrunk config whose identity no earlier one has: quick's
    first cell is also the first of monet (up to checkpoint cadence, which a one-step run never
    reaches), reference and upsample, and the tuning file's base, so it trains once for all of them."""
    from cyclegan.spec.identity import identity_digest

    seen: dict[str, str] = {}
    for path in sorted(SHIPPED, key=lambda p: p.stem != "quick"):  # quick's names first: the study users run first
        for position, config in _shrunk_configs(path, overrides).items():
            digest = identity_digest(config)
            if digest not in seen.values():
                seen[f"{path.stem}-{position}"] = digest
    return seen


# Placeholders for the paths: the tests' data and weights exist only once fixtures run, and no identity depends on them.
DISTINCT = list(_distinct(_shrink(Path("/data-placeholder"), Path("/weights-placeholder.h5"))))


def test_every_shipped_config_is_trained_once_here(tiny_data, vgg_weights_file):
    """With the tests' real paths, the distinct identities are the ones the training test below covers."""
    distinct = _distinct(_shrink(tiny_data, vgg_weights_file))
    assert list(distinct) == DISTINCT and len(distinct) == len(set(distinct.values()))
    assert {"quick-first", "quick-last"} <= set(DISTINCT)


@pytest.mark.parametrize("which", DISTINCT)
def test_a_shipped_experiment_trains_when_shrunk(which, tmp_path, tiny_data, vgg_weights_file):
    from cyclegan.core.trainer import train

    stem, position = which.rsplit("-", 1)
    config = _shrunk_configs(EXPERIMENTS / f"{stem}.yaml", _shrink(tiny_data, vgg_weights_file))[position]
    assert config.data.image_size == 32 and config.train.mini_epochs == 1
    result = train(config, tmp_path / "run", progress=False)
    assert result.mini_epochs == 1 and result.steps == 1
    assert (tmp_path / "run" / "history.csv").exists()
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

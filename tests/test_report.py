"""The study report on a fabricated MLflow study (written through ``Tracker``, so the layout is the real
writer's): table values, verdicts, failures and missing cells, figures, HTML, errors, credentials.

No training: runs get planted final metrics, short curves, a tiny sample grid and eval outputs whose
input photos live in a temp data root.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml
from click.testing import CliRunner
from PIL import Image

from cyclegan.cli.main import main
from cyclegan.data.images import save_png
from cyclegan.masking import mask as scrub
from cyclegan.report.basis import ignored_runs_hint
from cyclegan.report.build import ReportError, make_report
from cyclegan.report.render import cell_table, collapse_kinds_text, terminal
from cyclegan.runs.reader import RunReader
from cyclegan.runs.tracking import Tracker
from cyclegan.spec.study import load_study

FACTORS = {"generator.norm": ["instance", "none"], "discriminator.output": ["patch", "scalar"],
           "generator.upsample": ["transpose", "resize_conv"]}
HYPOTHESES = [
    # planted: none has +3 nats of grid -> confirmed
    {"name": "H-strong", "claim": "instance norm removes the grid", "factor": "generator.norm",
     "levels": ["instance", "none"], "metric": "eval/grid_score", "direction": "lower", "threshold": 1.0},
    # planted: patch is 2 px BLURRIER, the claim says sharper -> refuted
    {"name": "H-reversed", "claim": "a patch discriminator gives sharper edges", "factor": "discriminator.output",
     "levels": ["patch", "scalar"], "metric": "eval/edge_sigma", "direction": "lower", "threshold": "10%"},
    # planted: +-5 seed noise, 0.3 effect, threshold 2 -> inconclusive
    {"name": "H-noise", "claim": "resize-convolutions improve the distribution distance", "factor": "generator.upsample",
     "levels": ["transpose", "resize_conv"], "metric": "eval/swd", "direction": "lower", "threshold": 2.0},
    # planted: instance-norm grid ~1.05 (rising 0.35, 0.7, 1.05 over the mini-epochs), bound 1.5 -> confirmed
    {"name": "H-removes", "claim": "with instance norm no grid is left", "factor": "generator.norm",
     "level": "instance", "metric": "eval/grid_score", "below": 1.5},
]
FAILED = {"generator.norm": "instance", "discriminator.output": "patch", "generator.upsample": "transpose", "seed": 1}
MISSING = {"generator.norm": "none", "discriminator.output": "scalar", "generator.upsample": "resize_conv", "seed": 1}
LOCAL_ONLY = {"generator.norm": "none", "discriminator.output": "patch", "generator.upsample": "transpose", "seed": 0}
FAIL_REASON = "ResourceExhaustedError: OOM while connecting to postgresql://bob:hunter2@db.example/queue"
SECRET_URI = "postgresql://alice:s3cr3tpw@db.example:5432/mlflow"
STEP_SECONDS = (10.0, 11.0, 12.0)
IMG = 32


def _matches(cell, spec) -> bool:
    return cell.seed == spec["seed"] and all(cell.levels[k] == spec[k] for k in FACTORS)


def planted(levels: dict, seed: int) -> dict[str, float]:
    """Final metrics of a cell, a pure function of its levels and seed (the test's ground truth)."""
    rng = np.random.default_rng(zlib.crc32(f"{sorted(levels.items())}{seed}".encode()))
    none, patch = levels.get("generator.norm") == "none", levels.get("discriminator.output") == "patch"
    resize = levels.get("generator.upsample") == "resize_conv"
    return {
        "eval/grid_score": 1.0 + 3.0 * none + 0.1 * seed + 0.02 * rng.standard_normal(),
        "eval/edge_sigma": 1.0 + 2.0 * patch + 0.1 * seed + 0.02 * rng.standard_normal(),
        "eval/swd": 100.0 + (5.0 if seed == 0 else -5.0) + 0.3 * resize + 0.5 * rng.standard_normal(),
        "eval/edge_f1": 0.6 + 0.01 * seed, "eval/highpass_cross_correlation": 0.1 + 0.3 * none,
        "eval/collapsed": float(none and not patch), "eval/black_fraction": 0.0,
        "eval/collapse_kind": float(none and not patch and seed == 0),  # layout collapse in one seed of a cell
        "time/outside_training_share": 0.05 + 0.01 * seed,
        "convergence/cycle_auc": 2.0 + 0.1 * seed, "convergence/cycle_epochs_to_10pct": 2.0,
        "eval/kid": 0.05 + 0.02 * none + 0.001 * seed,
    }


def _grid_image(lattice: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:IMG, :IMG] / IMG
    base = 0.5 + 0.2 * np.sin(6 * xx + 3 * yy + seed)[..., None] + 0.05 * rng.standard_normal((IMG, IMG, 3))
    if lattice:  # a period-4 checker: what a transposed convolution without normalization leaves
        base = base + 0.15 * (((np.arange(IMG)[:, None] // 2 + np.arange(IMG)[None, :] // 2) % 2) - 0.5)[..., None]
    return np.clip(base, 0, 1)


def _log_cell(tracker: Tracker, exp: str, parent: str, study, cell, stage: Path, status: str, *, mlflow_artifacts=True,
              runs_dir: Path | None = None, values: dict | None = None) -> str:
    tags = {**cell.levels, "seed": str(cell.seed)}
    run_id = tracker.child_run(exp, parent, study=study.name, cell=cell.cell_id, run_name=cell.cell_id,
                               tags=tags, config=cell.config)
    values = values or planted(cell.levels, cell.seed)
    steps = 1 if status == "FAILED" else 3
    local = (runs_dir / study.name / "cells" / cell.cell_id) if not mlflow_artifacts else stage / cell.cell_id
    for step in range(1, steps + 1):
        curve = {"loss/cycle": 1.0 / step + 0.01 * cell.seed, "eval/grid_score": values["eval/grid_score"] * step / 3,
                 "time/mini_epoch_seconds": STEP_SECONDS[step - 1],
                 # evaluated every mini-epoch like a real run, flat: the verdicts have settled
                 "eval/edge_sigma": values["eval/edge_sigma"], "eval/swd": values["eval/swd"],
                 **({"eval/kid": values["eval/kid"]} if "eval/kid" in values else {})}
        tracker.log_metrics(run_id, curve if step < steps or status == "FAILED" else {**curve, **values}, step=step)
        grid = np.concatenate([np.concatenate([_grid_image(False, i), _grid_image(True, i)], axis=1) for i in range(2)])
        path = local / "samples" / f"mini_epoch_{step:04d}.png"
        save_png(grid, path)
        if mlflow_artifacts:
            tracker.log_image(run_id, path, step=step)
            tracker.log_artifacts(run_id, [(path, "samples")])  # what CellTracker logs at the end: samples/mini_epoch_<k>.png
    if status == "FINISHED":
        outputs = local / "eval" / "photo2monet"
        for i in range(4):
            save_png(_grid_image(cell.levels["generator.norm"] == "none", 100 + i), outputs / f"photo_{i:02d}.png")
        if mlflow_artifacts:
            tracker.log_artifacts(run_id, [(outputs, "eval/photo2monet")])
    tracker.end_run(run_id, status, FAIL_REASON if status == "FAILED" else None)
    return run_id


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory):
    """A 2x2x2 x 2-seed study: one cell failed, one never ran, one with local-only artifacts, plus a run of
    an older version of the file; returns (study, runs_dir, tracker)."""
    tmp = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        data = tmp / "data"
        for i in range(4):
            save_png(_grid_image(False, 100 + i), data / "photo" / f"photo_{i:02d}.png")
        (data / "monet").mkdir()
        spec = {"name": "fab", "base": {
            "data": {"root": str(data), "image_size": IMG, "holdout": 4},
            "generator": {"imagenet_weights": str(tmp / "vgg16_standin_random.weights.h5")},
            "train": {"batch_size": 1, "mini_epochs": 3, "steps_per_mini_epoch": 2, "sample_images": 2},
            "eval": {"images": 4}}, "factors": FACTORS, "seeds": [0, 1], "hypotheses": HYPOTHESES}
        path = tmp / "fab.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        study = load_study(path)
        runs_dir = tmp / "runs"
        tracker = Tracker(runs_dir)
        exp = tracker.experiment_id(study.name)
        parent = tracker.parent_run(exp, study.name)
        stage = tmp / "stage"
        for cell in study.cells:
            if _matches(cell, MISSING):
                continue
            _log_cell(tracker, exp, parent, study, cell, stage, "FAILED" if _matches(cell, FAILED) else "FINISHED",
                      mlflow_artifacts=not _matches(cell, LOCAL_ONLY), runs_dir=runs_dir)
        # A run of an older version of the file (other config hash): wild values that must not count.
        old = study.cells[0]
        old = type(old)(cell_id=old.cell_id[:-8] + "00000000", levels=old.levels, seed=old.seed, config=old.config)
        _log_cell(tracker, exp, parent, study, old, stage, "FINISHED",
                  values={k: 999.0 for k in planted(old.levels, 0)})
        tracker.finish_parent(parent)
    return study, runs_dir, tracker


@pytest.fixture(scope="module")
def built(fabricated, tmp_path_factory):
    study, runs_dir, tracker = fabricated
    reader = RunReader(tracker.store)
    reader.uri = SECRET_URI  # what a report on a tracking server would show; the client stays on sqlite
    return make_report(study, runs_dir, out_dir=tmp_path_factory.mktemp("out") / "report", reader=reader,
                       machine="test machine")


def _row(cells, levels):
    mask = np.logical_and.reduce([cells[k] == v for k, v in levels.items()])
    assert mask.sum() == 1
    return cells[mask].iloc[0]


def test_table_has_planted_means_intervals_and_counts(built, fabricated):
    study = fabricated[0]
    cells = built.report.cells
    assert len(cells) == 8
    for combo in cells[list(FACTORS)].to_dict("records"):
        row = _row(cells, combo)
        ran = [c for c in study.cells if c.levels == combo and not _matches(c, MISSING) and not _matches(c, FAILED)]
        grid = np.array([planted(c.levels, c.seed)["eval/grid_score"] for c in ran])
        assert row["n_finished"] == len(ran)
        assert row["eval/grid_score_mean"] == pytest.approx(grid.mean(), rel=1e-9)
        if len(grid) >= 2:
            half = scipy.stats.t.ppf(0.975, len(grid) - 1) * grid.std(ddof=1) / math.sqrt(len(grid))
            assert row["eval/grid_score_ci_low"] == pytest.approx(grid.mean() - half, rel=1e-9)
            assert row["eval/grid_score_ci_high"] == pytest.approx(grid.mean() + half, rel=1e-9)
        else:
            assert math.isnan(row["eval/grid_score_ci_low"])
        assert row["time/run_seconds_mean"] == pytest.approx(sum(STEP_SECONDS))
        assert row["time/outside_training_share_mean"] == pytest.approx(np.mean([planted(c.levels, c.seed)["time/outside_training_share"] for c in ran]))
    shown = cell_table(built.report)["time outside training steps"].tolist()
    assert shown == [f"{share:.0%}" for share in cells["time/outside_training_share_mean"]] and "n/a" not in shown
    failed = _row(cells, {k: FAILED[k] for k in FACTORS})
    assert (failed["n_finished"], failed["n_failed"], failed["n_missing"]) == (1, 1, 0)
    missing = _row(cells, {k: MISSING[k] for k in FACTORS})
    assert (missing["n_finished"], missing["n_failed"], missing["n_missing"]) == (1, 0, 1)
    assert built.report.ignored_runs == 1
    assert cells["eval/swd_mean"].max() < 200  # the old version's 999 never enters


def test_quality_metrics_are_shown_where_runs_have_them(built, fabricated):
    """KID (eval.quality_every > 0) gets a table column and a learning-curve panel; a study without
    quality evaluation shows no empty KID column."""
    import copy

    study = fabricated[0]
    table = cell_table(built.report)
    cells = built.report.cells
    for combo in cells[list(FACTORS)].to_dict("records"):
        ran = [c for c in study.cells if c.levels == combo and not _matches(c, MISSING) and not _matches(c, FAILED)]
        kid = np.mean([planted(c.levels, c.seed)["eval/kid"] for c in ran])
        assert _row(cells, combo)["eval/kid_mean"] == pytest.approx(kid, rel=1e-9)
    assert "eval/kid" in table and "eval/fid" not in table  # FID was not logged: no empty column
    assert any("eval/kid" in h and h["eval/kid"].notna().any() for h in built.report.histories.values())
    without = copy.copy(built.report)
    without.cells = cells.assign(**{"eval/kid_mean": np.nan})
    assert "eval/kid" not in cell_table(without)


def test_a_mean_over_fewer_runs_than_finished_says_over_how_many(built):
    """A run whose value is not finite (no edge to measure, a diverged run) is left out of its cell's mean:
    the table says so rather than showing the mean as if over every finished run."""
    import copy

    cells = built.report.cells.copy()
    i = int(np.flatnonzero(cells["n_finished"].to_numpy() >= 2)[0])
    n = int(cells.loc[i, "n_finished"])
    cells.loc[i, "eval/grid_score_n"] = n - 1
    partial = copy.copy(built.report)
    partial.cells = cells
    full, compact = cell_table(partial), cell_table(partial, compact=True)
    assert full.loc[i, "eval/grid_score"].endswith(f" ({n - 1} of {n} runs)") and compact.loc[i, "grid"].endswith(f" ({n - 1}/{n})")
    others = full["eval/grid_score"].drop(index=i)
    assert not others.str.contains(" runs)", regex=False).any() and not cell_table(built.report)["eval/grid_score"].str.contains(" runs)", regex=False).any()


def test_collapse_kind_is_shown_as_counts_of_its_categories(built, fabricated):
    # A code is a category: one layout collapse and one none must not read as a mean of 0.5.
    study = fabricated[0]
    table = cell_table(built.report)
    for row in table.to_dict("records"):
        combo = {f: row[f.rsplit(".", 1)[-1]] for f in FACTORS}
        ran = [c for c in study.cells if c.levels == combo and not _matches(c, MISSING) and not _matches(c, FAILED)]
        kinds = sorted(int(planted(c.levels, c.seed)["eval/collapse_kind"]) for c in ran)
        expected = {(0,): "none x1", (1,): "layout x1", (0, 0): "none x2", (0, 1): "none x1, layout x1"}[tuple(kinds)]
        assert row["eval/collapse_kind"] == expected, (combo, row["eval/collapse_kind"])
    assert collapse_kinds_text([3, 2, 2, float("nan")]) == "texture x2, degenerate x1"
    assert collapse_kinds_text([]) == "n/a"


def test_verdicts_confirm_refute_and_leave_noise_inconclusive(built):
    verdicts = {v.name: v for v in built.report.verdicts}
    assert verdicts["H-strong"].verdict == "confirmed"
    assert verdicts["H-strong"].difference == pytest.approx(-3.0, abs=0.15)
    assert verdicts["H-strong"].p_value <= 0.05 and verdicts["H-strong"].exact
    assert verdicts["H-reversed"].verdict == "refuted"
    assert verdicts["H-reversed"].rule.startswith("opposite direction")
    noise = verdicts["H-noise"]
    assert noise.verdict == "inconclusive"
    assert isinstance(noise.seeds_needed, int) and noise.seeds_needed >= 2
    assert (verdicts["H-strong"].n_a, verdicts["H-strong"].n_b) == (7, 7)  # 8 per arm minus the failed / missing cell
    md = (built.out_dir / "report.md").read_text()
    for word in ("CONFIRMED", "REFUTED", "INCONCLUSIVE"):
        assert word in md
    assert f"roughly {noise.seeds_needed} seeds per cell" in md
    assert "Hedges' g" in md and "95% t interval" in md and "P(A>B) [95%]" in md
    out = terminal(built.report)
    assert "H-strong: CONFIRMED (by predicted direction)" in out and "H-noise: INCONCLUSIVE  " in out
    assert "H-reversed: REFUTED (by opposite direction)" in out
    assert "| decided by |" in md and "| opposite direction |" in md  # the verdict table says what decided it
    header = out.splitlines()[out.splitlines().index("") + 1]
    assert all(col in header for col in ("grid", "edge_sigma", "edge_f1", "contrast", "collapsed", "swd", "cycle_auc"))


def test_verdicts_over_training_settle_and_come_first(built):
    verdicts = {v.name: v for v in built.report.verdicts}
    strong = verdicts["H-strong"]
    assert [p.mini_epoch for p in strong.trajectory] == [1, 2, 3]
    assert [round(p.statistic, 1) for p in strong.trajectory] == [-1.0, -2.0, -3.0]  # planted: grid x step / 3
    assert strong.settled and strong.since in (1, 2) and "last max(2, ceil(25% of 3)) = 2" in strong.settle_rule
    bound = verdicts["H-removes"]
    assert bound.kind == "bound" and bound.verdict == "confirmed" and bound.since == 1, bound.rule
    assert bound.difference == pytest.approx(1.05, abs=0.05) and bound.ci_high < 1.5
    for name in ("report.md", "report.html"):
        text = (built.out_dir / name).read_text()
        first_effect, table = text.index("effect_H-strong.png"), text.index("Comparison table")
        assert text.index("Verdicts") < first_effect < text.index("evidence.png") < table
        assert text.index("H-removes") < table and "since" in text


def test_failures_missing_cells_and_basis_are_reported(built, fabricated):
    study = fabricated[0]
    missing = built.report.missing
    failed_id = next(c.cell_id for c in study.cells if _matches(c, FAILED))
    missing_id = next(c.cell_id for c in study.cells if _matches(c, MISSING))
    assert set(missing["cell"]) == {failed_id, missing_id}
    assert missing.set_index("cell").loc[failed_id, "state"] == "FAILED"
    assert missing.set_index("cell").loc[missing_id, "state"].startswith("no run")
    md = (built.out_dir / "report.md").read_text()
    html_text = (built.out_dir / "report.html").read_text()
    for text in (md, html_text):
        assert failed_id in text and missing_id in text
        assert "ResourceExhaustedError: OOM" in text
        assert "LOUD WARNING" in text and "vgg16_standin_random.weights.h5" in text
        assert "every &#x27;imagenet&#x27; encoder in this study is a random encoder" in text or \
            "every 'imagenet' encoder in this study is a random encoder" in text
        assert "3 mini-epochs x 2 steps = 6 steps, batch 1" in text
        assert str(fabricated[0].path) in text and "test machine" in text
        # Runs without the perf/* records (these are logged by hand): no machine-use figure, and why.
        assert "machine use" in text and "not stated: not recorded for 14 of 14 finished runs" in text
    assert len(built.report.interactions) == 3 * 3  # 3 pairs of two-level factors x 3 hypothesis metrics
    it = next(i for i in built.report.interactions if (i.factor_a, i.factor_b, i.metric) ==
              ("generator.norm", "discriminator.output", "eval/grid_score"))
    runs = built.report.finished
    sel = runs[(runs["generator.norm"] == "none") & (runs["discriminator.output"] == "scalar")]
    assert it.table.loc["none", "scalar"] == pytest.approx(sel["eval/grid_score"].mean())


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def test_a_hypothesis_no_run_measured_draws_its_panel_without_a_warning(fabricated, tmp_path, recwarn):
    # What the quick study's H2-quality is on a CPU (KID off): its evidence panel has no stratum to label
    # (these runs logged KID but no FID).
    study, runs_dir, tracker = fabricated
    spec = yaml.safe_load(study.path.read_text())
    spec["hypotheses"].append({"name": "H-unmeasured", "claim": "a metric no run logged", "factor": "generator.norm",
                               "levels": ["instance", "none"], "metric": "eval/fid", "direction": "lower", "threshold": 1.0})
    path = tmp_path / "fab.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = make_report(load_study(path), runs_dir, out_dir=tmp_path / "report", reader=RunReader(tracker.store),
                         machine="test machine")
    assert "evidence" in {figure.kind for figure in result.figures}
    assert not [w for w in recwarn if "No artists with labels" in str(w.message)]


def test_html_references_every_figure_and_every_figure_is_a_png(built):
    parser = _Refs()
    parser.feed((built.out_dir / "report.html").read_text())
    parser.close()
    assert "table" in parser.tags and "h1" in parser.tags
    on_disk = {p.relative_to(built.out_dir).as_posix() for p in built.out_dir.rglob("*.png")}
    assert set(parser.images) == on_disk
    kinds = {f.kind for f in built.figures}
    assert kinds == {"sample", "spectra", "curves", "evidence", "effect"}
    assert [f.file for f in built.figures if f.kind == "effect"] == [f"effect_{h['name']}.png" for h in HYPOTHESES]
    assert sum(f.kind == "sample" for f in built.figures) == 15  # 14 finished + the failed run's last grid
    for rel in parser.images:
        path = built.out_dir / rel
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            image.verify()
    local = next(f for f in built.figures if f.kind == "sample" and f.levels == {k: LOCAL_ONLY[k] for k in FACTORS}
                 and f.seed == 0)
    assert (built.out_dir / local.file).exists()  # found in the local run dir, not in MLflow
    assert "v-confirmed" in (built.out_dir / "report.html").read_text()


def test_credentials_never_appear(built):
    texts = [p.read_text() for p in (built.out_dir / "report.md", built.out_dir / "report.html", built.out_dir / "cells.csv")]
    texts.append(terminal(built.report))
    for text in texts:
        assert "s3cr3tpw" not in text and "hunter2" not in text
    assert "alice:***@db.example:5432" in texts[0] and "bob:***@db.example" in texts[0]


def test_scrub_masks_passwords_in_free_text():
    assert scrub("x postgresql://u:p4ss@h/db y") == "x postgresql://u:***@h/db y"
    assert scrub("http://host:5000/path") == "http://host:5000/path"  # a port is not a password
    assert scrub("'mysql+pymysql://root:pw@10.0.0.1:3306/x'") == "'mysql+pymysql://root:***@10.0.0.1:3306/x'"


def test_no_store_no_experiment_no_runs_are_clear_errors(tmp_path, fabricated, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study, runs_dir, _ = fabricated
    with pytest.raises(ReportError, match="no MLflow store"):
        make_report(study, tmp_path / "empty_runs")
    assert not (tmp_path / "empty_runs" / "mlflow.db").exists()
    other = tmp_path / "other.yaml"
    other.write_text(Path(study.path).read_text().replace("name: fab", "name: never_ran"))
    with pytest.raises(ReportError, match="no MLflow experiment named 'never_ran'"):
        make_report(load_study(other), runs_dir, out_dir=tmp_path / "r1")
    edited = tmp_path / "edited.yaml"  # same name, other base: every cell id changes
    edited.write_text(Path(study.path).read_text().replace("mini_epochs: 3", "mini_epochs: 4"))
    with pytest.raises(ReportError, match="has no run of this file's 16 cells"):
        make_report(load_study(edited), runs_dir, out_dir=tmp_path / "r2")


def test_cli_report_writes_files_and_fails_in_one_line(tmp_path, fabricated, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study, runs_dir, _ = fabricated
    runner = CliRunner()
    out = tmp_path / "cli_report"
    result = runner.invoke(main, ["report", str(study.path), "--runs-dir", str(runs_dir), "--format", "md", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").exists() and not (out / "report.html").exists()
    assert "H-strong: CONFIRMED" in result.output
    bad = runner.invoke(main, ["report", str(study.path), "--runs-dir", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "error: no MLflow store" in bad.output and "Traceback" not in bad.output
    wrong = runner.invoke(main, ["report", str(study.path), "--runs-dir", str(runs_dir), "--format", "pdf"])
    assert wrong.exit_code == 2 and "--format" in wrong.output


def test_study_whose_runs_all_failed_still_reports_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = {"name": "allfail", "base": {"data": {"root": str(tmp_path / "nodata"), "image_size": IMG, "holdout": 4},
                                        "train": {"sample_images": 2}},
            "factors": {"generator.norm": ["instance", "none"]}, "seeds": [0, 1], "hypotheses": HYPOTHESES[:1]}
    path = tmp_path / "allfail.yaml"
    path.write_text(yaml.safe_dump(spec))
    study = load_study(path)
    runs_dir = tmp_path / "runs"
    tracker = Tracker(runs_dir)
    exp = tracker.experiment_id(study.name)
    parent = tracker.parent_run(exp, study.name)
    for cell in study.cells:
        _log_cell(tracker, exp, parent, study, cell, tmp_path / "stage", "FAILED")
    result = make_report(study, runs_dir, machine="m")
    assert result.out_dir == runs_dir / "allfail" / "report"  # the default place
    assert [v.verdict for v in result.report.verdicts] == ["inconclusive"]
    assert "fewer than 2 runs in an arm" in result.report.verdicts[0].rule
    assert len(result.report.missing) == 4 and set(result.report.missing["state"]) == {"FAILED"}
    assert result.report.interactions == []  # one factor: no pair
    assert {f.kind for f in result.figures} == {"sample"}  # no finished run: no spectra, curves or evidence
    md = (result.out_dir / "report.md").read_text()
    assert md.count("ResourceExhaustedError: OOM") == 4 and "hunter2" not in md


def test_runs_trained_with_another_weights_file_are_explained(tmp_path, vgg_weights_file):
    path = tmp_path / "h.yaml"
    path.write_text(yaml.safe_dump({"name": "h", "base": {"data": {"root": str(tmp_path)}},
                                    "factors": {"generator.encoder_weights": ["imagenet", "random"]}, "seeds": [0]}))
    (tmp_path / "data.csv").write_text("domain,file\n")
    study = load_study(path)
    other = pd.DataFrame({"params.generator.imagenet_weights": [str(vgg_weights_file), str(vgg_weights_file)]})
    (hint,) = ignored_runs_hint(other, study)
    assert f"2 run(s) of this experiment were trained with generator.imagenet_weights = {vgg_weights_file}" in hint
    assert "CYCLEGAN_IMAGENET_WEIGHTS" in hint
    # Runs ignored for another reason (an older version of the file) get no such hint.
    assert ignored_runs_hint(pd.DataFrame({"params.generator.imagenet_weights": ["None"]}), study) == []
    assert ignored_runs_hint(pd.DataFrame(), study) == []
    # Another path to the same content is the same file for a cell's identity: no weights hint.
    same = tmp_path / "copy.weights.h5"
    same.write_bytes(vgg_weights_file.read_bytes())
    on_same = load_study(path, [f"generator.imagenet_weights={same}"])
    assert ignored_runs_hint(other, on_same) == []


def test_a_data_index_missing_from_here_is_named_not_the_weights(tmp_path, vgg_weights_file):
    # A relative data.root read from another directory finds no index; its content is part of the cells'
    # identity, so that, not the weights path, is why no run matched.
    path = tmp_path / "h.yaml"
    path.write_text(yaml.safe_dump({"name": "h", "base": {"data": {"root": str(tmp_path / "nowhere")},
                                                          "generator": {"imagenet_weights": str(vgg_weights_file)}},
                                    "factors": {"generator.encoder_weights": ["imagenet", "random"]}, "seeds": [0]}))
    study = load_study(path)
    (hint,) = ignored_runs_hint(pd.DataFrame({"params.generator.imagenet_weights": [str(vgg_weights_file)]}), study)
    assert f"data index {tmp_path / 'nowhere' / 'data.csv'} does not exist" in hint and "--set data.root=" in hint


@pytest.mark.slow
def test_cli_report_on_a_finished_study_does_not_load_tensorflow(tmp_path, fabricated, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study, runs_dir, _ = fabricated
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom cyclegan.cli.main import main\n"
             f"result = CliRunner().invoke(main, ['report', {str(study.path)!r}, '--runs-dir', {str(runs_dir)!r}, "
             f"'--format', 'md', '--out', {str(tmp_path / 'out')!r}])\n"
             "assert result.exit_code == 0, result.output\n"
             "print('loaded:', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = set(out.stdout.split("loaded:")[-1].split())
    assert "mlflow" in loaded and (tmp_path / "out" / "report.md").exists()  # it did read the study
    assert "tensorflow" not in loaded and "keras" not in loaded


def test_hypotheses_declared_or_changed_after_training_are_exploratory(fabricated, tmp_path):
    """The record made before training holds H-strong, H-removes and H-noise with threshold 5; the file now
    has H-reversed too (added later) and H-noise at threshold 2 (changed later)."""
    import dataclasses
    from urllib.parse import unquote, urlparse

    from cyclegan.analysis.family import holm
    from cyclegan.spec import preregistration

    study, runs_dir, tracker = fabricated
    before = dataclasses.replace(study, hypotheses=tuple(
        h.model_copy(update={"threshold": 5.0}) if h.name == "H-noise" else h for h in study.hypotheses if h.name != "H-reversed"))
    parent = tracker.find_runs(tracker.experiment_id(study.name), role="parent", study=study.name)[0]
    local = runs_dir / study.name / preregistration.RECORD_FILE
    assert tracker.record_hypotheses(parent.info.run_id, preregistration.record(before), local)
    assert not tracker.record_hypotheses(parent.info.run_id, preregistration.record(study), local)  # never replaced
    try:
        local.unlink()  # the parent run's copy is read first (a report made on another machine)
        report = make_report(study, runs_dir, out_dir=tmp_path / "r", reader=RunReader(tracker.store)).report
        v = {x.name: x for x in report.verdicts}
        assert v["H-reversed"].family == "exploratory (declared after training)" and v["H-reversed"].verdict == "refuted"
        assert math.isnan(v["H-reversed"].p_adjusted) and "declared after training" in v["H-reversed"].changed
        assert v["H-noise"].exploratory and v["H-noise"].changed == "changed after training: threshold: 5.0 -> 2.0"
        assert v["H-strong"].family == "confirmatory: Holm over 2 hypotheses" and v["H-strong"].verdict == "confirmed"
        assert v["H-strong"].p_adjusted == pytest.approx(holm([v["H-strong"].p_value, v["H-removes"].p_value])[0])
        md = (tmp_path / "r" / "report.md").read_text()
        assert "exploratory (declared after training)" in md and "threshold: 5.0 -> 2.0" in md and "| p adjusted |" in md
        assert "no record of the hypotheses" not in md
    finally:  # leave the shared fixture as it was: no record
        tracker.client.delete_tag(parent.info.run_id, preregistration.RECORD_TAG)
        (Path(unquote(urlparse(parent.info.artifact_uri).path)) / preregistration.RECORD_FILE).unlink()


def test_a_bound_rows_interval_says_it_is_one_sided_and_p_a_beats_b_gives_the_pairs_won():
    """Review s17, finding 7: a bound's interval (two one-sided 95% bounds: a 90% interval) was printed under
    'estimate [95% CI]' as if a 95% CI. And P(A>B)'s empirical count is kept in words beside the model's value."""
    from types import SimpleNamespace

    from cyclegan.analysis.verdict import evaluate
    from cyclegan.report.render import _verdict_facts, verdict_rows

    bound = evaluate(pd.DataFrame(dict(f="instance", m=[1.10, 1.25, 1.40, 1.55])),
                     dict(name="H2-removes", claim="", factor="f", level="instance", metric="m", below=1.0), [])
    t = scipy.stats.t.ppf(0.95, 3) * np.std([1.10, 1.25, 1.40, 1.55], ddof=1) / 2
    assert bound.ci_high == pytest.approx(1.325 + t)  # one-sided 95% bounds: a two-sided 90% interval
    compare = evaluate(pd.DataFrame(dict(f=["a"] * 3 + ["b"] * 3, m=[0.0, 0.1, 0.2, 1.0, 1.2, 1.1])),
                       dict(name="H", claim="", factor="f", levels=["a", "b"], metric="m", direction="lower",
                            threshold=0.1), [])
    rows = verdict_rows(SimpleNamespace(verdicts=[bound, compare]))
    cells = rows["estimate [95% CI]"].tolist()
    assert cells[0].endswith("] one-sided 95% bounds") and cells[1].endswith("]"), cells  # the bound row said nothing
    facts = dict(_verdict_facts(compare, ["f"]))
    assert "a beat b in 0 of 9 run pairs within strata" in facts["P(a > b)"]


def test_a_run_without_a_value_is_explained_by_what_the_metric_is():
    """A convergence time not reached is censored (train longer), a quality metric with quality off is
    not computed, any other was undefined at the last evaluation: the quick study said "an all-black
    output" of its convergence times and of KID."""
    from cyclegan.report.basis import why_no_value

    assert "not computed" in why_no_value("eval/kid", computed=False)
    assert "eval.quality_every is 0" in why_no_value("eval/kid", computed=False)
    assert "censored" in why_no_value("convergence/cycle_epochs_to_half", computed=True)
    assert "all-black output" in why_no_value("eval/edge_sigma", computed=True)

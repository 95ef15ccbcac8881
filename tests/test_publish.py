"""The parent run holds the answer, and the report names differing code versions: a fabricated
two-level study written through ``Tracker`` (no training), two of its cells 'trained' by other code."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cyclegan import names
from cyclegan.cli.main import main
from cyclegan.data.images import save_png
from cyclegan.report.build import make_report
from cyclegan.report.publish import publish_report
from cyclegan.runs import provenance
from cyclegan.runs.reader import RunReader
from cyclegan.runs.tracking import Tracker
from cyclegan.spec.study import load_study

HYPOTHESIS = {"name": "H-norm", "claim": "instance norm lowers the grid score", "factor": "generator.norm",
              "levels": ["instance", "none"], "metric": "eval/grid_score", "direction": "lower", "threshold": 0.1}
OTHER_CODE = {names.VERSION_TAG: "0.0.9", names.CODE_TAG: "0123456789abcdef"}


@pytest.fixture()
def study_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = {"name": "pub", "base": {"data": {"root": str(tmp_path / "data"), "image_size": 32, "holdout": 2},
                                    "train": {"mini_epochs": 1, "steps_per_mini_epoch": 1, "sample_images": 2}, "eval": {"images": 2}},
            "factors": {"generator.norm": ["instance", "none"]}, "seeds": [0, 1, 2], "hypotheses": [HYPOTHESIS]}
    path = tmp_path / "pub.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    study = load_study(path)
    runs_dir = tmp_path / "runs"
    tracker = Tracker(runs_dir)
    exp = tracker.experiment_id(study.name)
    parent = tracker.parent_run(exp, study.name)
    for i, cell in enumerate(study.cells):
        run_id = tracker.child_run(exp, parent, study=study.name, cell=cell.cell_id, run_name=cell.cell_id,
                                   tags={**cell.levels, "seed": str(cell.seed)}, config=cell.config)
        if i in (1, 4):
            tracker.set_tags(run_id, OTHER_CODE)
        score = (1.0 if cell.levels["generator.norm"] == "instance" else 3.0) + 0.01 * cell.seed
        tracker.log_metrics(run_id, {"loss/cycle": 1.0, "eval/grid_score": score}, step=1)
        grid = tmp_path / "stage" / cell.cell_id / names.sample_grid_name(1)
        save_png(np.full((32, 32, 3), 0.2 * (i + 1) % 1.0, np.float32), grid)
        tracker.log_artifacts(run_id, [(grid, names.SAMPLES_ARTIFACT)])
        tracker.end_run(run_id, "FINISHED")
    tracker.finish_parent(parent)
    return study, runs_dir, tracker, parent


def test_report_names_every_code_version_and_its_cells(study_runs, tmp_path):
    study, runs_dir, tracker, _ = study_runs
    built = make_report(study, runs_dir, out_dir=tmp_path / "out", reader=RunReader(tracker.store), machine="m")
    [warning] = [w for w in built.report.warnings if "code versions" in w]
    ours = provenance.code_version(provenance.run_tags())
    assert "2 different code versions" in warning
    assert ours in warning and "0.0.9 (code 0123456789abcdef)" in warning
    assert study.cells[1].cell_id in warning and study.cells[4].cell_id in warning
    assert built.report.basis["code"] == f"{ours} (4 runs); 0.0.9 (code 0123456789abcdef) (2 runs)"
    assert "0.0.9" in (tmp_path / "out" / "report.md").read_text()
    assert sum(f.kind == "sample" for f in built.figures) == 6  # grids read back from samples/, the project's names


def test_one_code_version_gives_no_warning(study_runs, tmp_path):
    study, runs_dir, tracker, _ = study_runs
    for run in tracker.find_runs(tracker.experiment_id(study.name), role="cell"):
        tracker.set_tags(run.info.run_id, provenance.run_tags())
    built = make_report(study, runs_dir, out_dir=tmp_path / "out", reader=RunReader(tracker.store), machine="m")
    assert not [w for w in built.report.warnings if "code versions" in w]


def test_report_is_logged_to_the_parent_run_with_stable_verdict_names(study_runs, tmp_path):
    study, runs_dir, tracker, parent = study_runs
    client = tracker.client
    client.set_tag(parent, "verdict.H-renamed", "confirmed")  # a hypothesis the file no longer declares
    built = make_report(study, runs_dir, out_dir=tmp_path / "out", reader=RunReader(tracker.store), machine="m")
    assert publish_report(tracker.store, built) == parent
    run = client.get_run(parent)
    assert run.data.tags["verdict.H-norm"] == built.report.verdicts[0].verdict in ("confirmed", "refuted", "inconclusive")
    assert "verdict.H-renamed" not in run.data.tags
    assert run.data.metrics["verdict.H-norm.difference"] == pytest.approx(built.report.verdicts[0].difference)
    assert {f"verdict.H-norm.{f}" for f in names.VERDICT_FIELDS} <= set(run.data.metrics)
    logged = {a.path for a in client.list_artifacts(parent, names.REPORT_ARTIFACT)}
    assert {"report/report.md", "report/report.html", "report/cells.csv", "report/samples"} <= logged, logged
    samples = client.list_artifacts(parent, "report/samples")
    assert len(samples) == 6
    assert run.info.status == "FINISHED"  # publishing does not reopen the parent


def test_a_figure_undefined_now_replaces_what_an_earlier_report_logged(study_runs):
    from cyclegan.runs.publish import publish

    study, _, tracker, parent = study_runs
    publish(tracker.store, study.name, [], {}, {"verdict.H-norm.p": 0.01, "verdict.H-norm.hedges_g": 2.0})
    publish(tracker.store, study.name, [], {}, {"verdict.H-norm.p": float("nan"), "verdict.H-norm.hedges_g": float("inf")})
    metrics = tracker.client.get_run(parent).data.metrics
    assert np.isnan(metrics["verdict.H-norm.p"]) and np.isnan(metrics["verdict.H-norm.hedges_g"])


def test_cli_report_says_where_it_logged(study_runs, tmp_path):
    study, runs_dir, _, parent = study_runs
    result = CliRunner().invoke(main, ["report", str(study.path), "--runs-dir", str(runs_dir), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert f"logged to the study's MLflow parent run {parent}" in result.output

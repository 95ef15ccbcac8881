"""The collapse indicators on real runs labelled by eye (tests/data/collapse/README.md).

Planted cases (tests/test_metrics_collapse.py) pin the indicators' mechanics; these pin their limits
to what real training produced: where the two disagree, the real run wins (docs/metrics.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cyclegan.cli.main import main
from cyclegan.data.images import save_png
from cyclegan.metrics.collapse import (
    DEGENERATE_OUTPUT,
    LAYOUT_ALPHA,
    LAYOUT_COLLAPSE,
    NOT_COLLAPSED,
    SHARED_TEXTURE_LIMIT,
    TEXTURE_COLLAPSE,
    collapse_scores,
)

FIXTURES = Path(__file__).with_name("data") / "collapse"
LABELS = list(csv.DictReader((FIXTURES / "labels.csv").open()))
KIND_OF_LABEL = {"healthy": NOT_COLLAPSED, "washed_out": NOT_COLLAPSED, "texture_collapse": TEXTURE_COLLAPSE,
                 "layout_collapse": LAYOUT_COLLAPSE, "total_collapse": DEGENERATE_OUTPUT}


def _tiles(path: Path) -> np.ndarray:
    """An 8 x 8 tiled PNG -> (64, H, W, 3) float32 in [0, 1], row-major."""
    picture = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    side = 8
    h, w = picture.shape[0] // side, picture.shape[1] // side
    return picture.reshape(side, h, side, w, 3).transpose(0, 2, 1, 3, 4).reshape(side * side, h, w, 3)


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return _tiles(FIXTURES / "inputs.png")


def test_the_set_has_real_runs_of_both_arms_and_their_labels_are_known():
    assert len(LABELS) >= 5
    assert {row["label"] for row in LABELS} <= set(KIND_OF_LABEL)
    # Both sides of every limit from real runs: no real layout collapse (outputs that differ but follow
    # nothing) has been seen, so that label has none (README.md here).
    assert {"healthy", "washed_out", "texture_collapse", "total_collapse"} <= {row["label"] for row in LABELS}
    assert {row["discriminator"] for row in LABELS if row["label"].endswith("collapse")} == {"scalar", "patch"}
    for row in LABELS:
        assert (FIXTURES / f"{row['name']}.png").is_file(), row["name"]
        assert row["why"].strip(), f"{row['name']} has no reason for its label"


@pytest.mark.parametrize("row", LABELS, ids=[row["name"] for row in LABELS])
def test_each_labelled_real_run_is_called_what_a_person_saw(row, inputs):
    outputs = _tiles(FIXTURES / f"{row['name']}.png")
    assert outputs.shape == inputs.shape
    scores = collapse_scores(outputs, inputs)
    expected = KIND_OF_LABEL[row["label"]]
    assert scores["collapse_kind"] == expected, f"{row['name']} ({row['label']}): {scores}"
    assert bool(scores["collapsed"]) == (expected != NOT_COLLAPSED)
    if expected == NOT_COLLAPSED:
        # Both faces clear, each with room: the layout test far beyond its level, the shared texture
        # under half the limit. Inside the frame these runs read 0.0002-0.068 (the highest: a grey,
        # strongly gridded scalar run without norm, scalarNone-s6-00300); with the frame they read up
        # to 0.136 (scalarNone-s4-00200: the band padding leaves along every border).
        assert scores["identifiability_p"] < LAYOUT_ALPHA / 100, scores
        assert scores["shared_texture"] < SHARED_TEXTURE_LIMIT / 2, scores


def test_the_washed_out_gridded_run_follows_its_inputs_far_beyond_chance(inputs):
    """Issue 35's second finding, on this project's own run: grey, gridded and low in contrast, but
    most of its 64 outputs pick out their own input (chance 1/64), so it is not collapsed."""
    washed = [row for row in LABELS if row["label"] == "washed_out" and row["norm"] == "none"]
    scores = {row["name"]: collapse_scores(_tiles(FIXTURES / f"{row['name']}.png"), inputs) for row in washed}
    # Low contrast is one way to be washed out (a colour cast on every output, under a grid that keeps
    # the contrast up, is another): the set must hold at least one as grey as issue 35's run ...
    assert min((s["contrast_ratio"] for s in scores.values()), default=1.0) < 0.6, scores
    for name, score in scores.items():  # ... and every washed-out run still follows its inputs
        assert score["input_identifiability"] > 0.5, (name, score)
        assert not score["collapsed"], name


@pytest.mark.parametrize(("name", "collapsed", "kind"), [("scalarNone-gan-s1-00150", "yes", "2 (texture)"),
                                                          ("scalarIN-gan-s1-00350", "no", "0 (none)")])
def test_cyclegan_metrics_calls_a_real_texture_collapse_collapsed_and_a_washed_out_run_not(name, collapsed, kind, inputs, tmp_path):
    # What a user runs on a folder of outputs: the 64 tiles as files, paired with their inputs by name.
    outputs = _tiles(FIXTURES / f"{name}.png")
    for folder, images in (("outputs", outputs), ("inputs", inputs)):
        for i, image in enumerate(images):
            save_png(image, tmp_path / folder / f"{i:02d}.png")
    result = CliRunner().invoke(main, ["metrics", "--outputs", str(tmp_path / "outputs"), "--inputs", str(tmp_path / "inputs")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: " ".join(line.split()[1:]) for line in result.output.splitlines()[2:]}
    assert rows["collapsed"] == collapsed and rows["collapse_kind"] == kind, result.output


def test_on_real_runs_instance_norm_reads_no_grid_and_every_run_without_it_reads_one(inputs):
    """The grid score on the same real snapshots (64 px): the instance-norm runs' spectra have a flat
    ridge along the frequency axes and no spike on a lattice point; the score read that ridge as grid
    (0.87-2.00 nats, above the 1-nat threshold) until the axes got a reference of their own. Every
    run without norm, healthy or not, reads its grid (lowest 1.42, a washed-out one)."""
    from cyclegan.metrics.grid import grid_scores

    scores = {row["name"]: grid_scores(_tiles(FIXTURES / f"{row['name']}.png"), inputs)["grid_score"] for row in LABELS}
    with_norm = [row["name"] for row in LABELS if row["norm"] == "instance"]
    assert len(with_norm) >= 3 and max(scores[name] for name in with_norm) < 0.5, scores
    assert min(scores[name] for name in scores if name not in with_norm) > 1.2, scores

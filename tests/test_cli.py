"""The command line: exit codes, one-line errors, and the commands that wrap the core."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from cyclegan import names
from cyclegan.cli.main import main


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_data_commands(tmp_path):
    root = tmp_path / "d"
    result = _run("data", "synth", root, "--photos", "3", "--paintings", "2", "--size", "32")
    assert result.exit_code == 0 and "wrote 3 photos and 2 paintings" in result.output
    assert _run("data", "check", root, "--image-size", "32").exit_code == 0
    (root / "photo" / "synth_photo_0001.jpg").write_bytes(b"")
    result = _run("data", "check", root, "--image-size", "32")
    assert result.exit_code == 1
    assert "photo/synth_photo_0001.jpg: empty file" in result.output
    (root / "data.csv").unlink()
    assert _run("data", "index", root).exit_code == 0
    assert (root / "data.csv").read_text().startswith(",name,path")


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("generator:\n  nrom: none\n")
    result = CliRunner().invoke(main, ["train", str(path)])
    assert result.exit_code == 2
    assert "generator.nrom: unknown key" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["train", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "missing.yaml: no such file" in result.output
    result = CliRunner().invoke(main, ["train", str(path), "--set", "nonsense"])
    assert result.exit_code == 2 and "key=value" in result.output


def test_a_standin_weights_name_keras_cannot_write_is_refused_before_anything_is_built(tmp_path):
    for model in ("vgg16", "inception"):
        result = CliRunner().invoke(main, ["standin-weights", "--model", model, str(tmp_path / "vgg.h5")])
        assert result.exit_code == 2, result.output
        assert "'" + str(tmp_path / "vgg.h5") + "' must end in .weights.h5" in result.output
        assert str(tmp_path / "vgg.weights.h5") in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_metrics_json_has_the_documented_keys(tmp_path):
    rng = np.random.default_rng(0)
    for folder in ("out", "in", "target"):
        (tmp_path / folder).mkdir()
    for i in range(4):
        image = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
        Image.fromarray(image).save(tmp_path / "in" / f"img{i}.jpg")
        Image.fromarray(255 - image).save(tmp_path / "out" / f"img{i}.png")
        Image.fromarray(image[::-1]).save(tmp_path / "target" / f"t{i}.png")
    result = _run("metrics", "--outputs", tmp_path / "out", "--inputs", tmp_path / "in", "--target", tmp_path / "target", "--json")
    assert result.exit_code == 0
    scores = json.loads(result.stdout)  # stderr carries the "quality metrics not computed" note
    for key in ("grid_score", "grid_delta_p2", "grid_delta_p4", "grid_delta_p8", "grid_delta_p16", "edge_sigma",
                "edge_f1", "black_fraction", "collapsed", "swd", "n_images"):
        assert key in scores, key
    assert scores["n_images"] == 4
    (tmp_path / "in" / "img3.jpg").unlink()
    result = CliRunner().invoke(main, ["metrics", "--outputs", str(tmp_path / "out"), "--inputs", str(tmp_path / "in")])
    assert result.exit_code == 2 and "img3" in result.output


@pytest.mark.slow
def test_train_then_translate_writes_one_png_per_input(tmp_path, tiny_tree):
    tiny_tree["train"]["mini_epochs"] = 1
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_tree))
    run_dir = tmp_path / "run"
    result = _run("train", config, "--run-dir", run_dir, "--no-progress", "--set", "train.steps_per_mini_epoch=1")
    assert result.exit_code == 0, result.output
    assert "1 mini-epochs, 1 steps" in result.output
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i, size in enumerate((32, 50, 20)):  # other sizes are resized to the generator's
        Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)).save(inputs / f"p{i}.jpg")
    (inputs / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = _run("translate", "--generator", run_dir, "--input", inputs, "--output", out)  # from what the run stores
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    assert written == ["p0.png", "p1.png", "p2.png"]
    assert Image.open(out / "p1.png").size == (32, 32)
    # The exported self-contained file translates the same images to the same pixels.
    exported = tmp_path / "elsewhere" / "g.keras"
    result = _run("export", run_dir, exported)
    assert result.exit_code == 0 and exported.is_file(), result.output
    result = _run("translate", "--generator", exported, "--input", inputs, "--output", tmp_path / "out2")
    assert result.exit_code == 0, result.output
    for name in written:
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(tmp_path / "out2" / name)))
    result = _run("export", run_dir, tmp_path / "g.h5")
    assert result.exit_code == 2 and "must end in .keras" in result.output
    # Resuming the finished run with a different config is refused, naming the key.
    result = CliRunner().invoke(main, ["train", str(config), "--run-dir", str(run_dir), "--set", "generator.norm=none"])
    assert result.exit_code == 2 and "generator.norm" in result.output and "refusing to resume" in result.output
    # A damaged input image, a file that is not a model, another network's weights in the run folder: one
    # line naming the file (a traceback each before, and Keras' warning per skipped layer for the last).
    broken = tmp_path / "broken-inputs"
    broken.mkdir()
    (broken / "broken.jpg").write_bytes(b"not a JPEG")
    result = _run("translate", "--generator", run_dir, "--input", broken, "--output", tmp_path / "out3")
    assert result.exit_code == 2 and f"cannot read image {broken / 'broken.jpg'}" in result.output, result.output
    assert not (tmp_path / "out3").exists()
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a model")
    result = _run("translate", "--generator", junk, "--input", inputs, "--output", tmp_path / "out4")
    assert result.exit_code == 2 and f"{junk}: not a generator file that loads" in result.output, result.output
    assert not (tmp_path / "out4").exists()  # no empty output folder left behind
    weights = run_dir / names.MODELS_DIR / f"{names.GENERATORS[0]}{names.GENERATOR_WEIGHTS_SUFFIX}"
    shutil.copyfile(tiny_tree["generator"]["encoder_weights"], weights)  # a VGG16 file where the generator's was
    result = _run("translate", "--generator", run_dir, "--input", inputs, "--output", tmp_path / "out5")
    assert result.exit_code == 2 and f"{weights}: not the weights of this run's generator" in result.output, result.output
    assert "saving_lib.py" not in result.output and result.output.count("\n") == 1, result.output  # no warning line per layer


@pytest.mark.parametrize("generator", ["runs:/0123456789abcdef/gen_photo2monet", "models:/m-0123456789abcdef"])
def test_translate_from_a_store_that_is_not_there_names_the_folder_and_creates_nothing(tmp_path, monkeypatch, generator):
    """`translate --generator runs:/...` opened the store of --runs-dir and so created ./runs/mlflow.db in
    whatever folder the user was in, then said the run was "not found": it reads only, as `report` does."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    for runs_dir in (None, "typo-runs"):
        options = [] if runs_dir is None else ["--runs-dir", runs_dir]
        result = CliRunner().invoke(main, ["translate", "--generator", generator, "--input", "in", "--output", "out", *options])
        folder = runs_dir or "runs"
        assert result.exit_code == 2, result.output
        assert f"no MLflow store at {tmp_path / folder / 'mlflow.db'}: nothing has been run with --runs-dir {folder}" in result.output
        assert generator in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no runs folder, no store, no output folder

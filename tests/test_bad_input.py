"""The bad-input corpus: every case is refused with a message naming the file, key or value, a
non-zero exit, and nothing written. (Listed in docs/development.md under "What is checked".)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from cyclegan.cli.main import main
from cyclegan.data.synth import make_synthetic_dataset


def _cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def data_root(tmp_path) -> Path:
    root = tmp_path / "data"
    make_synthetic_dataset(root, photos=8, paintings=8, size=40, seed=2)
    return root


def _add(root: Path, domain: str, name: str, writer) -> None:
    writer(root / domain / name)
    frame = (root / "data.csv").read_text().rstrip("\n").splitlines()
    frame.append(f"{len(frame) - 1},{name},{domain}")
    (root / "data.csv").write_text("\n".join(frame) + "\n")


def _jpeg_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


IMAGE_CASES = {
    "zero-byte": ("photo", "zero.jpg", lambda p: p.write_bytes(b""), "empty file"),
    "truncated": ("photo", "cut.jpg", lambda p: p.write_bytes(_jpeg_bytes()[:300]), "truncated"),
    "corrupt": ("photo", "noise.jpg", lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4), "cannot identify|corrupt|truncated|not an image"),
    "text named .jpg": ("monet", "readme.jpg", lambda p: p.write_text("hello"), "not an image"),
    "huge image": ("monet", "huge.png", lambda p: Image.new("RGB", (7000, 7000)).save(p), "too large"),
    "missing": ("photo", "ghost.jpg", lambda p: None, "missing"),
    "outside the folder": ("photo", "../../escape.jpg", lambda p: None, "outside data folder"),
}


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_bad_image_is_refused_by_check_and_train(case, data_root, tiny_tree, tmp_path):
    domain, name, writer, expected = IMAGE_CASES[case]
    _add(data_root, domain, name, writer)
    before = _snapshot(data_root)
    code, output = _cli("data", "check", data_root, "--image-size", 32, "--max-pixels", 30_000_000)
    assert code == 1
    assert Path(name).name in output
    import re

    assert re.search(expected, output), output
    tiny_tree["data"].update(root=str(data_root), max_image_pixels=30_000_000)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_tree))
    run_dir = tmp_path / "run"
    code, output = _cli("train", config, "--run-dir", run_dir, "--no-progress")
    assert code == 2 and Path(name).name in output and "unusable" in output
    assert not run_dir.exists()  # nothing written
    assert _snapshot(data_root) == before  # nothing changed or lost


def test_duplicated_name_and_empty_domain(data_root, tmp_path):
    lines = (data_root / "data.csv").read_text().splitlines()
    (data_root / "data.csv").write_text("\n".join(lines + [f"99,{lines[1].split(',')[1]},monet"]) + "\n")
    code, output = _cli("data", "check", data_root, "--image-size", 32)
    assert code == 1 and "duplicate" in output
    for image in (data_root / "photo").iterdir():
        image.unlink()
    (data_root / "data.csv").unlink()
    assert _cli("data", "index", data_root)[0] == 0
    code, output = _cli("data", "check", data_root, "--image-size", 32)
    assert code == 1 and "photo/: empty domain" in output


def test_convertible_images_are_accepted(data_root):
    _add(data_root, "photo", "cmyk.jpg", lambda p: Image.new("CMYK", (40, 40), (10, 20, 30, 0)).save(p))
    _add(data_root, "photo", "deep.png", lambda p: Image.fromarray(np.full((40, 40), 40000, np.uint16)).save(p))
    _add(data_root, "photo", "png_inside.jpg", lambda p: Image.new("RGB", (40, 40)).save(p, format="PNG"))
    code, output = _cli("data", "check", data_root, "--image-size", 32)
    assert code == 0, output
    # A 16-bit grayscale PNG is written and opened as mode "I;16" by recent Pillow (13 here), as "I" by 10.0, the floor.
    assert "CMYK->RGB" in output and ("I;16->RGB" in output or "I->RGB" in output) and "format mismatch" in output


STUDY_CASES = {
    "syntax error": ("factors: [unclosed\n", r"line \d+, column \d+: YAML syntax error"),
    "unknown key": ({"factorz": {}}, "factorz: unknown key"),
    "wrong type": ({"base": {"train": {"batch_size": "four"}}}, "train.batch_size"),
    "unknown level": ({"factors": {"generator.norm": ["batch"]}}, "generator.norm: Input should be 'instance' or 'none'"),
    "empty matrix": ({"factors": {}}, "empty matrix"),
    "factor not a config key": ({"factors": {"model.depth": [1, 2]}}, "factors.model.depth: not a config key"),
    "hypothesis unknown factor": ({"hypotheses": [{"factor": "loss.adversarial"}]}, "is not a factor of this study"),
    "hypothesis unknown level": ({"hypotheses": [{"levels": ["instance", "group"]}]}, "level 'group' is not a level"),
    "hypothesis unknown metric": ({"hypotheses": [{"metric": "eval/sharpness"}]}, "unknown metric 'eval/sharpness'"),
    "zero steps": ({"base": {"train": {"steps_per_mini_epoch": 0}}}, "train.steps_per_mini_epoch"),
    "negative mini-epochs": ({"base": {"train": {"mini_epochs": -1}}}, "train.mini_epochs"),
    "batch larger than data": ({"base": {"train": {"batch_size": 64}}}, "train.batch_size=64 is larger than"),
    "hypotheses not a list": ({"hypotheses": 1}, r"hypotheses: Input should be a valid list \(got 1\)"),  # was a TypeError
}


def _merge(spec: dict, change: dict) -> dict:
    out = dict(spec)
    for key, value in change.items():
        if key == "hypotheses" and isinstance(value, list):
            out["hypotheses"] = [{**spec["hypotheses"][0], **value[0]}]
        elif isinstance(value, dict) and value and isinstance(spec.get(key), dict):
            out[key] = _merge(spec[key], value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("case", sorted(STUDY_CASES))
def test_bad_study_file_is_refused_before_anything_runs(case, tiny_tree, tmp_path):
    change, expected = STUDY_CASES[case]
    spec = {"name": "bad", "base": tiny_tree, "factors": {"generator.norm": ["instance", "none"]}, "seeds": [0],
            "hypotheses": [{"name": "H2", "claim": "c", "factor": "generator.norm", "levels": ["instance", "none"],
                            "metric": "eval/grid_score", "direction": "lower", "threshold": 1.0}]}
    path = tmp_path / "bad.yaml"
    path.write_text(change if isinstance(change, str) else yaml.safe_dump(_merge(spec, change)))
    runs = tmp_path / "runs"
    code, output = _cli("ablate", path, "--runs-dir", runs, "--no-progress")
    assert code == 2, output
    assert "bad.yaml" in output or "batch_size=64" in output
    import re

    assert re.search(expected, output), output
    assert not (runs / "bad").exists()  # no cell was started


@pytest.mark.parametrize("command", ["train", "ablate", "report", "launch"])
def test_a_set_value_that_is_not_yaml_is_a_bad_input_error(command, tiny_tree, tmp_path):
    """``--set data.root=@shared/data`` (YAML cannot start a value with '@') ended in a traceback, exit 1."""
    path = tmp_path / "s.yaml"
    tree = tiny_tree if command == "train" else {"name": "s", "base": tiny_tree, "factors": {"generator.norm": ["instance", "none"]}, "seeds": [0]}
    path.write_text(yaml.safe_dump(tree))
    args = ["launch", "slurm"] if command == "launch" else [command]
    code, output = _cli(*args, path, "--set", "data.root=@shared/data", "--runs-dir" if command != "train" else "--run-dir", tmp_path / "runs")
    assert code == 2, output
    assert "--set data.root: '@shared/data' is not a YAML value" in output and "Traceback" not in output, output
    assert not (tmp_path / "runs").exists()


def test_an_image_cut_short_in_its_header_is_named_by_translate_and_metrics(tmp_path):
    """Pillow's error for it ("Truncated File Read") names no file: it ended in a traceback (exit 1)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "cut.jpg").write_bytes(_jpeg_bytes()[:120])
    (tmp_path / "g.keras").write_bytes(b"checked after the inputs")
    for args in (["translate", "--generator", tmp_path / "g.keras", "--input", inputs, "--output", tmp_path / "out"],
                 ["metrics", "--outputs", inputs, "--inputs", inputs]):
        code, output = _cli(*args)
        assert code == 2 and f"cannot read image {inputs / 'cut.jpg'}" in output and "Traceback" not in output, (args, output)
    assert not (tmp_path / "out").exists()


def test_missing_files_on_the_command_line(tmp_path):
    for args in (["train", tmp_path / "none.yaml"], ["ablate", tmp_path / "none.yaml"], ["report", tmp_path / "none.yaml"],
                 ["translate", "--generator", tmp_path / "g.keras", "--input", tmp_path, "--output", tmp_path / "o"]):
        code, output = _cli(*args)
        assert code == 2 and ("none.yaml" in output or "g.keras: no such generator file" in output), (args, output)

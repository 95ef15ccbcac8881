"""`data check` finds every kind of bad file and names it; the index round-trips; synth is deterministic."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cyclegan.data.dataset import DataError, check_dataset, read_index, split_holdout, usable_files, write_index
from cyclegan.data.synth import make_synthetic_dataset


def _image(seed: int, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


@pytest.fixture()
def good_root(tmp_path) -> Path:
    root = tmp_path / "data"
    for domain in ("monet", "photo"):
        (root / domain).mkdir(parents=True)
        for i in range(3):
            _image(i).save(root / domain / f"{domain}{i}.jpg", quality=90)
    write_index(root)
    return root


def _add_rows(root: Path, rows: list[tuple[str, str]]) -> None:
    frame = read_index(root)
    extra = pd.DataFrame(rows, columns=["name", "path"])
    pd.concat([frame, extra], ignore_index=True).to_csv(root / "data.csv")


def test_index_uses_original_format(good_root):
    text = (good_root / "data.csv").read_text().splitlines()
    assert text[0] == ",name,path"
    assert text[1] == "0,monet0.jpg,monet"
    report = check_dataset(good_root, image_size=40, max_image_pixels=10**6)
    assert not report.problems
    assert [p.name for p in report.files["photo"]] == ["photo0.jpg", "photo1.jpg", "photo2.jpg"]


def test_check_finds_every_kind_of_bad_file(good_root):
    photo = good_root / "photo"
    (photo / "empty.jpg").write_bytes(b"")
    data = (photo / "photo0.jpg").read_bytes()
    (photo / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (photo / "corrupt.jpg").write_bytes(data[:200] + b"\x00" * 50 + data[250:300])
    (photo / "text.jpg").write_text("this is not an image\n")
    (photo / "notes.txt").write_text("stray file\n")
    _image(5).save(photo / "png_named.jpg", format="PNG")
    _image(6, size=3000).save(photo / "huge.png")
    _add_rows(good_root, [
        ("empty.jpg", "photo"), ("truncated.jpg", "photo"), ("corrupt.jpg", "photo"), ("text.jpg", "photo"),
        ("png_named.jpg", "photo"), ("huge.png", "photo"), ("gone.jpg", "photo"), ("photo1.jpg", "photo"),
        ("../monet/monet0.jpg", "photo"), ("/etc/passwd", "photo"), ("notes.txt", "photo"), ("x.jpg", "sketch"),
    ])
    report = check_dataset(good_root, image_size=40, max_image_pixels=4_000_000)
    kinds = {(Path(p.path).name, p.kind) for p in report.problems}
    expected = {
        ("empty.jpg", "empty file"), ("truncated.jpg", "truncated"), ("text.jpg", "not an image"),
        ("gone.jpg", "missing"), ("photo1.jpg", "duplicate"), ("monet0.jpg", "outside data folder"),
        ("passwd", "outside data folder"), ("notes.txt", "not an image file"), ("huge.png", "too large"),
        ("png_named.jpg", "format mismatch"),
    }
    assert expected <= kinds, expected - kinds
    assert any(Path(p.path).name == "corrupt.jpg" and p.fatal for p in report.problems)
    assert any(p.kind == "unknown domain" for p in report.problems)
    fatal_names = {Path(p.path).name for p in report.fatal}
    assert "png_named.jpg" not in fatal_names  # decoded by content: a warning, still used
    assert "png_named.jpg" in {p.name for p in report.files["photo"]}
    summary = report.summary()
    assert "1 x truncated (error)" in summary and "photo/gone.jpg: missing" in summary
    with pytest.raises(DataError, match="unusable file") as err:
        usable_files(report)
    assert "truncated.jpg" in str(err.value) and "gone.jpg" in str(err.value)


def test_unindexed_files_are_counted_not_used(good_root):
    _image(9).save(good_root / "monet" / "extra.jpg")
    report = check_dataset(good_root, image_size=40, max_image_pixels=10**6)
    assert [p.kind for p in report.problems] == ["not indexed"]
    assert not report.fatal
    assert "extra.jpg" not in {p.name for p in report.files["monet"]}


def test_conversions_are_counted(good_root):
    monet = good_root / "monet"
    _image(1).convert("L").save(monet / "gray.png")
    _image(2).convert("RGBA").save(monet / "rgba.png")
    _image(3).convert("CMYK").save(monet / "cmyk.jpg")
    Image.fromarray(np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40).save(monet / "deep.png")
    _image(4, size=64).save(monet / "big.jpg")
    write_index(good_root)
    report = check_dataset(good_root, image_size=40, max_image_pixels=10**6)
    assert not report.fatal
    assert report.conversions["L->RGB"] == 1 and report.conversions["RGBA->RGB"] == 1
    assert report.conversions["CMYK->RGB"] == 1 and report.conversions["resize"] == 1
    # A 16-bit grayscale PNG is written and opened as mode "I;16" by recent Pillow (13 here), as "I" by 10.0, the floor.
    assert report.conversions["I;16->RGB"] + report.conversions["I->RGB"] == 1


def test_empty_domain_and_missing_index(good_root):
    shutil.rmtree(good_root / "monet")
    (good_root / "monet").mkdir()
    write_index(good_root)
    report = check_dataset(good_root, image_size=40, max_image_pixels=10**6)
    assert any(p.kind == "empty domain" and p.path == "monet/" for p in report.fatal)
    (good_root / "data.csv").unlink()
    with pytest.raises(DataError, match="cyclegan data index"):
        check_dataset(good_root, image_size=40, max_image_pixels=10**6)
    # A data.root that does not exist is named as such: indexing it (the advice above) would fail too.
    with pytest.raises(DataError, match=r"nowhere: no such data folder \(data.root\); it holds monet/ and photo/"):
        read_index(good_root / "nowhere")


def test_holdout_split_is_stable_and_seed_free(tmp_path):
    files = [tmp_path / f"img{i}.jpg" for i in range(20)]
    train, held = split_holdout(files, 5)
    assert len(held) == 5 and len(train) == 15 and not set(train) & set(held)
    train2, held2 = split_holdout(list(reversed(files)) + [tmp_path / "new.jpg"], 5)
    assert set(held2) - {tmp_path / "new.jpg"} <= set(held)  # a new file displaces at most one


def test_synth_is_deterministic_and_valid(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", photos=3, paintings=2, size=32, seed=5).parent
    b = make_synthetic_dataset(tmp_path / "b", photos=3, paintings=2, size=32, seed=5).parent
    c = make_synthetic_dataset(tmp_path / "c", photos=3, paintings=2, size=32, seed=6).parent
    for domain, name in (("photo", "synth_photo_0002.jpg"), ("monet", "synth_monet_0001.jpg")):
        assert (a / domain / name).read_bytes() == (b / domain / name).read_bytes()
        assert (a / domain / name).read_bytes() != (c / domain / name).read_bytes()
    report = check_dataset(a, image_size=32, max_image_pixels=10**6)
    assert not report.problems
    assert len(report.files["photo"]) == 3 and len(report.files["monet"]) == 2

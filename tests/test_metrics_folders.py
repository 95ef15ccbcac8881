"""score_batch end to end, and scoring image folders on disk (pairing, loading, tables)."""

import json
import math

import numpy as np
import pytest
from metrics_images import add_grid, gaussian_blur, photo_crops, to_uint8
from PIL import Image

from cyclegan.metrics import BatchScorer, score_batch
from cyclegan.metrics.folders import format_table, load_folder, read_image, score_folders

BASE_KEYS = {
    "grid_score", "grid_delta_p2", "grid_delta_p4", "grid_delta_p8", "grid_delta_p16",
    "edge_sigma", "edge_f1", "mean_luma", "black_fraction", "luma_std_median",
    "inter_image_diff", "input_correlation", "contrast_ratio", "input_luma_std_median",
    "input_inter_image_diff", "input_identifiability", "identifiability_p", "shared_texture", "collapse_kind", "collapsed", "n_images",
}
TARGET_KEYS = {"swd", "lab_w_l", "lab_w_a", "lab_w_b"}


def save(folder, name, image, **options):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image)).save(folder / name, **options)


# --- score_batch ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
def test_score_batch_keys_types_and_values(size):
    photos = photo_crops(64, size, seed=size).astype(np.float32)
    outputs = gaussian_blur(add_grid(photos, 4, 0.05), 0.5).astype(np.float32)
    scores = score_batch(outputs, photos)
    assert set(scores) == BASE_KEYS
    assert type(scores["collapsed"]) is bool and scores["collapsed"] is False
    assert type(scores["n_images"]) is int and scores["n_images"] == 64
    assert type(scores["collapse_kind"]) is int and scores["collapse_kind"] == 0
    floats = {k: v for k, v in scores.items() if k not in ("collapsed", "collapse_kind", "n_images")}
    assert all(type(v) is float and math.isfinite(v) for v in floats.values()), floats
    assert scores["grid_score"] == scores["grid_delta_p4"] > 2.0
    json.dumps(scores, allow_nan=False)


def test_score_batch_with_target_adds_distribution_keys():
    photos = photo_crops(48, 32, seed=1)
    scores = score_batch(photos[:24], photos[:24], photos[24:], seed=2)
    assert set(scores) == BASE_KEYS | TARGET_KEYS
    assert scores["swd"] > 0 and scores["lab_w_l"] >= 0
    assert score_batch(photos[:24], photos[:24], photos[24:], seed=2) == scores


def test_a_batch_scorer_scores_each_batch_as_score_batch():
    # The trainer's evaluation: one scorer for the run's eval photos and paintings, one call per mini-epoch.
    photos = photo_crops(48, 32, seed=1)
    inputs, target = photos[:24], photos[24:]
    scorer = BatchScorer(inputs, target, seed=2)
    for outputs in (inputs, gaussian_blur(inputs, 1.0), np.zeros_like(inputs), inputs):
        # json: NaN (no edges in black outputs) compares equal to NaN, any other difference shows
        assert json.dumps(scorer(outputs), sort_keys=True) == json.dumps(score_batch(outputs, inputs, target, seed=2), sort_keys=True)
    with pytest.raises(ValueError, match="outputs"):
        scorer(inputs[:23])


def test_score_batch_flags_black_outputs():
    photos = photo_crops(8, 32, seed=3)
    scores = score_batch(np.zeros_like(photos), photos)
    assert scores["collapsed"] is True and scores["black_fraction"] == 1.0


def test_score_batch_rejects_a_target_of_another_size():
    photos = photo_crops(4, 32)
    with pytest.raises(ValueError, match="target"):
        score_batch(photos, photos, photo_crops(4, 64))


def test_score_batch_rejects_uint8():
    photos = to_uint8(photo_crops(2, 32))
    with pytest.raises(ValueError, match="outputs must be a float array"):
        score_batch(photos, photos)


# --- folders -------------------------------------------------------------------------------


@pytest.fixture()
def paired_dirs(tmp_path):
    photos = photo_crops(6, 32, seed=4)
    names = ["a", "b", "c", "d", "e", "f"]
    for name, photo in zip(names, photos, strict=True):
        save(tmp_path / "inputs", f"{name}.jpg", photo, quality=95)
    # Only every other input has an output: index-based pairing would pair b with a, etc.
    for name, photo in list(zip(names, photos, strict=True))[1::2]:
        save(tmp_path / "outputs", f"{name}.png", photo)
    return tmp_path / "outputs", tmp_path / "inputs"


def test_score_folders_pairs_by_stem_and_returns_json(paired_dirs):
    outputs, inputs = paired_dirs
    scores = score_folders(outputs, inputs)
    assert scores["n_images"] == 3
    # Correct pairing: each output is its input up to JPEG loss (wrong pairs correlate ~0).
    assert scores["input_correlation"] > 0.97
    assert scores["edge_f1"] > 0.9
    assert json.loads(json.dumps(scores)).keys() == scores.keys()


def test_missing_partner_names_the_file(paired_dirs):
    outputs, inputs = paired_dirs
    save(outputs, "zebra.png", np.zeros((32, 32, 3)))
    with pytest.raises(ValueError, match="zebra.png"):
        score_folders(outputs, inputs)


def test_inputs_are_resized_to_the_outputs_size(tmp_path):
    photos = photo_crops(4, 64, seed=5)
    for i, photo in enumerate(photos):
        save(tmp_path / "in", f"{i}.png", photo)
        save(tmp_path / "out", f"{i}.png", photo[::2, ::2])
        save(tmp_path / "target", f"t{i}.png", photo)
    scores = score_folders(tmp_path / "out", tmp_path / "in", tmp_path / "target")
    assert scores["n_images"] == 4
    assert scores["input_correlation"] > 0.9
    assert TARGET_KEYS <= set(scores)


def test_load_folder_converts_modes_and_bit_depths(tmp_path):
    folder = tmp_path / "modes"
    folder.mkdir()
    Image.fromarray(np.full((8, 8), 128, np.uint8), mode="L").save(folder / "gray.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10
    Image.fromarray(rgba, mode="RGBA").save(folder / "rgba.png")
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(folder / "sixteen.png")
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    (folder / "notes.txt").write_text("not an image")
    names, images = load_folder(folder)
    assert names == ["gray.png", "palette.png", "rgba.png", "sixteen.png"]
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.float32
    np.testing.assert_allclose(images[0], 128 / 255, atol=1e-6)
    np.testing.assert_allclose(images[1], 200 / 255, atol=1e-6)
    np.testing.assert_allclose(images[2], np.broadcast_to([1.0, 0.0, 0.0], (8, 8, 3)))
    np.testing.assert_allclose(images[3], 32768 / 65535, atol=1e-6)


def test_load_folder_resizes_on_request_and_names_odd_sizes(tmp_path):
    save(tmp_path, "big.png", np.full((64, 48, 3), 0.5))
    save(tmp_path, "small.png", np.full((32, 32, 3), 0.5))
    with pytest.raises(ValueError, match="small.png"):
        load_folder(tmp_path)
    _, images = load_folder(tmp_path, size=16)
    assert images.shape == (2, 16, 16, 3)
    assert read_image(tmp_path / "big.png", size=(10, 20)).shape == (10, 20, 3)


def test_unreadable_file_is_named(tmp_path):
    save(tmp_path, "good.png", np.zeros((8, 8, 3)))
    (tmp_path / "broken.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        load_folder(tmp_path)


def test_empty_folder_and_duplicate_stems_raise(tmp_path):
    with pytest.raises(ValueError, match="no PNG or JPEG"):
        load_folder(tmp_path)
    save(tmp_path, "x.png", np.zeros((8, 8, 3)))
    save(tmp_path, "x.jpg", np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="stem 'x'"):
        load_folder(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        load_folder(tmp_path / "missing")


def test_format_table_is_aligned_and_readable():
    table = format_table({"grid_score": 1.234567, "collapsed": True, "n_images": 64, "edge_sigma": float("nan")})
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "value"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split() == ["grid_score", "1.235"]
    assert lines[3].split() == ["collapsed", "yes"]
    assert lines[4].split() == ["n_images", "64"]
    assert lines[5].split() == ["edge_sigma", "n/a"]
    assert len({len(line) for line in lines}) == 1

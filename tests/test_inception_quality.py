"""InceptionV3 features from a local weights file (a random stand-in made here, never downloaded),
their resize path, and the quality measures on images: blur raises KID and FID, copies of training
images are flagged, and ``cyclegan metrics`` reports them and says the file is a stand-in."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage

from cyclegan.cli.main import main
from cyclegan.core.inception import InceptionFeatures, InceptionWeightsError, file_sha256, write_standin_weights
from cyclegan.core.quality_eval import QualityEvaluator
from cyclegan.data.images import save_png


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    return write_standin_weights(tmp_path_factory.mktemp("inception") / "inception-standin.weights.h5", seed=0)


@pytest.fixture(scope="module")
def features(inception_file):
    return InceptionFeatures(str(inception_file))


def _textures(n: int, seed: int, size: int = 48) -> np.ndarray:
    """Images of one distribution: smoothed colour noise at a random scale, floats in [0, 1]."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        noise = rng.normal(size=(size, size, 3))
        image = ndimage.gaussian_filter(noise, sigma=(rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5), 0))
        images.append(np.clip(0.5 + 0.5 * image / image.std(), 0, 1))
    return np.stack(images).astype(np.float32)


def test_features_of_a_local_file_with_its_fingerprint(features, inception_file):
    images = _textures(3, seed=0)
    got = features(images)
    assert got.shape == (3, 2048) and got.dtype == np.float64 and np.all(np.isfinite(got))
    # Floats are quantised as a saved PNG is: the uint8 file and the float array give the same features.
    as_saved = np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_allclose(features(as_saved), got, rtol=1e-5, atol=1e-5)
    assert features.fingerprint == file_sha256(inception_file) and len(features.fingerprint) == 64
    assert features.standin is True


def test_a_missing_or_wrong_weights_file_is_one_clear_error(tmp_path):
    with pytest.raises(InceptionWeightsError, match="no-such.h5: no such file"):
        InceptionFeatures(str(tmp_path / "no-such.h5"))
    wrong = tmp_path / "wrong.weights.h5"
    wrong.write_bytes(b"not an h5 file")
    with pytest.raises(InceptionWeightsError, match="wrong.weights.h5: not an InceptionV3"):
        InceptionFeatures(str(wrong))


def test_blur_raises_kid_and_fid_and_copies_of_training_images_are_flagged(features):
    real, same = _textures(12, seed=1), _textures(12, seed=2)
    evaluator = QualityEvaluator(real, train=real, features=features)
    blurred = [ndimage.gaussian_filter(same, sigma=(0, s, s, 0)) for s in (1.0, 2.5)]
    scores = [evaluator(images) for images in (same, *blurred)]
    kids, fids = [s["kid"] for s in scores], [s["fid"] for s in scores]
    assert kids[0] < kids[1] < kids[2], kids
    assert fids[0] < fids[1] < fids[2], fids
    assert scores[0]["fid_n"] == 12
    copied = evaluator(real)  # a generator returning the training paintings
    assert copied["memorisation_distance"] == pytest.approx(0.0, abs=1e-6)
    assert scores[0]["memorisation_distance"] > 10 * max(copied["memorisation_distance"], 1e-9)


def test_cli_metrics_reports_quality_and_says_the_file_is_a_stand_in(tmp_path, inception_file):
    for name, images in (("in", _textures(8, 3)), ("out", _textures(8, 4)), ("target", _textures(8, 5)), ("train", _textures(8, 6))):
        for i, image in enumerate(images):
            save_png(image, tmp_path / name / f"{i:02d}.png")
    folders = ["--outputs", tmp_path / "out", "--inputs", tmp_path / "in", "--target", tmp_path / "target"]
    runner = CliRunner()
    result = runner.invoke(main, ["metrics", *map(str, folders), "--train", str(tmp_path / "train"),
                                  "--inception-weights", str(inception_file), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    for key in ("kid", "kid_std", "fid", "fid_n", "precision", "recall", "density", "coverage", "memorisation_distance"):
        assert isinstance(scores[key], (int, float)), key
    assert scores["fid_n"] == 8 and scores["inception_standin"] is True
    assert scores["inception_sha256"] == file_sha256(inception_file)
    assert "STAND-IN" in result.stderr
    # Without a weights file the quality metrics are not computed, and the log says so.
    plain = runner.invoke(main, ["metrics", *map(str, folders), "--json"])
    assert plain.exit_code == 0 and "kid" not in json.loads(plain.stdout)
    assert "not computed: no Inception weights file" in plain.stderr


@pytest.mark.slow
def test_a_tiny_study_logs_quality_per_mini_epoch_with_the_inception_fingerprint(tmp_path, tiny_tree, inception_file, monkeypatch):
    import yaml
    from mlflow.tracking import MlflowClient

    from cyclegan import names
    from cyclegan.runs.ablation import StudyPaths, run_worker
    from cyclegan.runs.queue import CellQueue, QueueSettings, open_storage
    from cyclegan.spec.study import load_study

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # 6 held-out images: density/coverage need more than k = 5 (below, they are NaN and not logged).
    base = {**tiny_tree, "data": {**tiny_tree["data"], "holdout": 6},
            "eval": {"images": 6, "quality_every": 1, "inception_weights": str(inception_file)}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"name": "tiny", "base": base, "factors": {"discriminator.output": ["patch"]}, "seeds": [0]}))
    study = load_study(path)
    paths = StudyPaths.default(tmp_path / "runs", None)
    settings = QueueSettings(heartbeat_seconds=1, grace_seconds=4, poll_seconds=0.5)
    CellQueue(study, open_storage(paths.storage_url, settings)).enqueue_missing()
    assert run_worker(study, paths, settings=settings, progress=False) == 1

    client = MlflowClient(names.sqlite_url(paths.runs_dir / names.MLFLOW_DB))
    cell = next(r for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id]) if r.data.tags["role"] == "cell")
    kid_steps = [m.step for m in client.get_metric_history(cell.info.run_id, names.KID)]
    assert sorted(kid_steps) == [1, 2]  # every mini-epoch of the tiny run
    for key in names.QUALITY_METRICS:
        assert key in cell.data.metrics, key
    assert cell.data.metrics["eval/fid_n"] == 6  # the held-out images
    assert names.KID_EPOCHS_TO_MARGIN in cell.data.metrics
    assert cell.data.tags[names.INCEPTION_SHA256_TAG] == file_sha256(inception_file)
    assert cell.data.tags[names.INCEPTION_STANDIN_TAG] == "true"

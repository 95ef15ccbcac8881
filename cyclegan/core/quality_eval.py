"""Quality of a generator's outputs in Inception features (:mod:`cyclegan.metrics.quality`): in
training, against the target domain's held-out images whose features are computed once per run;
and for folders of saved images (``cyclegan metrics``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from cyclegan.atomic import atomic_write_text
from cyclegan.core.inception import InceptionFeatures
from cyclegan.metrics.quality import FidSampleSizeWarning, quality_scores
from cyclegan.names import INCEPTION_RECORD

# Keys of quality_scores that are not measures of the outputs but conventions (logged once, not per mini-epoch).
CONVENTION_KEYS = ("kid_subset_size", "fid_n")


class QualityEvaluator:
    """Outputs (N, H, W, 3) -> quality scores against fixed real images, their features (and the
    training images' for memorisation) computed at construction, once per run.

    Args:
        real: the target domain's held-out images, floats in [0, 1] or uint8.
        train: the target domain's training images for the memorisation distance, or None.
        weights: InceptionV3 weights file, or None (see :class:`InceptionFeatures`).
        seed: seeds KID's subsets.
    """

    def __init__(self, real: np.ndarray, train: np.ndarray | None = None, *, weights: str | None = None, seed: int = 0,
                 features: InceptionFeatures | None = None):
        self.features = features or InceptionFeatures(weights)
        self.seed = seed
        self.real = self.features(real)
        self.train = None if train is None else self.features(train)

    def __call__(self, outputs: np.ndarray) -> dict[str, float | int]:
        with warnings.catch_warnings():
            # The size is reported (fid_n) and docs/metrics.md says why; one warning per mini-epoch would bury the log.
            warnings.simplefilter("ignore", FidSampleSizeWarning)
            return quality_scores(self.real, self.features(outputs), self.train, seed=self.seed)


def score_quality_folders(outputs_dir: Path, target_dir: Path, train_dir: Path | None = None, *,
                          weights: str | None = None, seed: int = 0) -> dict[str, float | int | str | bool]:
    """The quality measures of the images in ``outputs_dir`` against those in ``target_dir`` (each
    folder read at its own size; Inception's resize makes them comparable), memorisation against
    ``train_dir`` when given; plus the Inception file's name, SHA-256 and whether it is a stand-in."""
    from cyclegan.metrics.folders import load_folder

    evaluator = QualityEvaluator(load_folder(target_dir)[1], None if train_dir is None else load_folder(train_dir)[1],
                                 weights=weights, seed=seed)
    outputs = load_folder(outputs_dir)[1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FidSampleSizeWarning)
        scores: dict[str, float | int | str | bool] = dict(quality_scores(evaluator.real, evaluator.features(outputs),
                                                                          evaluator.train, seed=seed))
    if caught:
        scores["fid_warning"] = str(caught[0].message)
    scores.update(evaluator.features.describe())
    return scores


def training_quality(config, run, heldout_paintings: np.ndarray, train_painting_files) -> QualityEvaluator | None:
    """The trainer's quality evaluator for ``config.eval.quality_every`` > 0 (else None): real features
    of the held-out paintings (the same images as the distribution distances use) and of the first
    ``eval.quality_train_images`` training paintings, computed here, once per run. The Inception
    file's name, SHA-256 and stand-in flag are written to the run folder (names.INCEPTION_RECORD)."""
    if not config.eval.quality_every:
        return None
    from cyclegan.core.pipeline import load_images

    features = InceptionFeatures(config.eval.inception_weights)
    atomic_write_text(run.root / INCEPTION_RECORD, json.dumps(features.describe(), indent=1, sort_keys=True))
    train_files = list(train_painting_files)[:config.eval.quality_train_images]
    train = load_images(train_files, config.data.image_size) if len(train_files) >= 2 else None
    return QualityEvaluator(heldout_paintings, train, features=features, seed=config.train.seed)

"""InceptionV3 pool features (2048-d) of images as saved, for the quality measures of
:mod:`cyclegan.metrics.quality` (KID, FID, precision/recall, density/coverage, memorisation).

Weights, like the VGG16 encoder's (:func:`cyclegan.core.models.build_vgg16`): a local file given by
``--inception-weights`` / ``eval.inception_weights`` / ``$CYCLEGAN_INCEPTION_WEIGHTS`` (Keras'
``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`` or a ``.weights.h5``), else Keras'
ImageNet download cache. Offline, ``cyclegan standin-weights --model inception FILE`` writes RANDOM
weights for tests and smoke runs: numbers computed with them are not comparable to any paper, and
the file's SHA-256 travels with every figure (:attr:`InceptionFeatures.fingerprint`).

Not VGG16 features: the generator's encoder is VGG16, so they would favour H1's pretrained arm.

Resize (clean-fid's lesson: the resize alone moves FID by points): images are quantised to uint8
as saved (PNG/JPEG), then resized to 299 x 299 by ``tf.image.resize(..., "bicubic",
antialias=True)`` in float32 on 0..255 values, clipped to 0..255, then scaled to [-1, 1] as
InceptionV3 expects. Generated and real images take exactly this path.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cyclegan.core.weights_files import first_line, load_weights_strictly
from cyclegan.data.images import to_uint8
from cyclegan.errors import CycleganError
from cyclegan.spec.config import INCEPTION_WEIGHTS_ENV

INCEPTION_SIZE = 299
FEATURE_DIM = 2048
IMAGENET = "imagenet"  # the fingerprint-less name of Keras' cached download
_STANDIN_NAME = re.compile(r"standin|stand-in|random", re.IGNORECASE)
STANDIN_MARK = "cyclegan-inception-standin"  # stored in a stand-in file's name by `standin-weights`


class InceptionWeightsError(CycleganError, RuntimeError):
    """The InceptionV3 weights cannot be had (no file, not an InceptionV3 file, offline without cache)."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _network() -> keras.Model:
    return keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                          input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))


def resolve_weights(weights: str | None) -> str | None:
    """The weights file to use: ``weights``, else ``$CYCLEGAN_INCEPTION_WEIGHTS``, else None (Keras' cache)."""
    return weights or os.environ.get(INCEPTION_WEIGHTS_ENV) or None


def is_standin(path: str | None) -> bool:
    """Whether a weights file is (by its name) a random stand-in: such figures are marked in output and report."""
    return path is not None and bool(_STANDIN_NAME.search(Path(path).name))


class InceptionFeatures:
    """images -> InceptionV3 pool features. ``weights``: a file (see the module docstring) or None
    for ``$CYCLEGAN_INCEPTION_WEIGHTS`` / Keras' ImageNet cache.

    Attributes: ``source`` (the file or ``imagenet``), ``fingerprint`` (the file's SHA-256, or
    ``keras-imagenet`` for Keras' own download), ``standin`` (True for a random stand-in file).
    """

    def __init__(self, weights: str | None = None, *, batch_size: int = 16):
        path = resolve_weights(weights)
        self.batch_size = batch_size
        if path is None:
            try:
                self.model = keras.applications.InceptionV3(include_top=False, weights="imagenet", pooling="avg",
                                                            input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
            except Exception as err:  # offline: Keras' download fails with URL/OS errors of several kinds
                raise InceptionWeightsError(
                    "the InceptionV3 ImageNet weights are not in the Keras cache and cannot be downloaded "
                    f"({type(err).__name__}). On a machine with internet Keras fetches "
                    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5; copy it here and pass "
                    f"--inception-weights (or eval.inception_weights, or ${INCEPTION_WEIGHTS_ENV}). For an offline smoke "
                    "run only: `cyclegan standin-weights --model inception FILE` writes RANDOM weights (figures not comparable)."
                ) from None
            self.source, self.fingerprint, self.standin = IMAGENET, "keras-imagenet", False
        else:
            file = Path(path).expanduser()
            if not file.is_file():
                raise InceptionWeightsError(f"inception weights {path}: no such file")
            self.model = _network()
            try:
                load_weights_strictly(self.model, file)
            except Exception as err:  # h5py/Keras raise many types for a wrong file
                raise InceptionWeightsError(f"inception weights {path}: not an InceptionV3 no-top weights file "
                                            f"({first_line(err)})") from None
            self.source, self.fingerprint, self.standin = str(file), file_sha256(file), is_standin(str(file))
        self._features = tf.function(self._forward, input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])

    def _forward(self, images: tf.Tensor) -> tf.Tensor:
        resized = tf.image.resize(tf.cast(images, tf.float32), (INCEPTION_SIZE, INCEPTION_SIZE), method="bicubic", antialias=True)
        scaled = tf.clip_by_value(resized, 0.0, 255.0) / 127.5 - 1.0  # keras.applications.inception_v3.preprocess_input
        return self.model(scaled, training=False)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8, or floats in [0, 1] (quantised to uint8 first, as a saved PNG is)
        -> float64 (N, 2048)."""
        images = as_saved_uint8(images)
        batches = [self._features(tf.constant(images[i:i + self.batch_size])).numpy()
                   for i in range(0, len(images), self.batch_size)]
        return np.concatenate(batches).astype(np.float64) if batches else np.zeros((0, FEATURE_DIM))

    def describe(self) -> dict[str, str | bool]:
        return {"inception_weights": self.source, "inception_sha256": self.fingerprint, "inception_standin": self.standin}


def as_saved_uint8(images: np.ndarray) -> np.ndarray:
    """Images as a PNG would store them: uint8 unchanged; floats in [0, 1] rounded to 0..255 by
    :func:`cyclegan.data.images.to_uint8`, as ``save_png`` does, so in-training scores equal scores of saved files."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3), got shape {images.shape}")
    if images.dtype == np.uint8:
        return images
    return to_uint8(images)


def write_standin_weights(output: Path, seed: int) -> Path:
    """An InceptionV3 no-top weights file with RANDOM weights (Glorot draws from ``seed``): it exercises
    the quality code path offline. Its figures compare with nothing published. The file name must end
    in ``.weights.h5`` (Keras 3) and should say it is a stand-in (``is_standin`` reads the name)."""
    output = Path(output)
    if not output.name.endswith(".weights.h5"):
        raise ValueError(f"{output}: the stand-in file's name must end in .weights.h5")
    keras.utils.set_random_seed(seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    _network().save_weights(str(output))
    return output

"""Inference: translate arrays in batches, or a folder of images into PNGs (the original's predict script)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from cyclegan.core.models import frozen_encoder_parts
from cyclegan.core.pipeline import load_images
from cyclegan.core.runfolder.generators import load_generator
from cyclegan.data.images import open_image, save_png
from cyclegan.names import IMAGE_SUFFIXES
from cyclegan.places import writable_folder


class _OneTracePerTranslator(logging.Filter):
    """TensorFlow counts traces by a function's code, not per graph function: every new generator's
    single trace (a study worker traces one per kept network, MLflow's model check two more) adds to
    one count, and after five it warns of "excessive retracing" that is not happening (each
    function's signature is fixed). Only that warning, for these methods, is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message
                    and any(f"GeneratorForward.{name}" in message for name in ("_whole", "_encoder", "_decoder")))


tf.get_logger().addFilter(_OneTracePerTranslator())


class GeneratorForward:
    """One generator's inference as graph functions, each traced at its first call and then kept:
    the whole generator, and for a U-Net with a frozen encoder its encoder and decoder apart (see
    :class:`FixedImagesTranslator`). The batch dimension is left open, so every batch size reuses
    one trace. Weights are read at each call, so training shows.

    Made once per generator and shared by its translators: a run's three fixed-image translators
    and, on a kept step (:class:`cyclegan.core.step_reuse.Compiled`), the next run's. Each trace
    took about 0.2 s; a run's own six cost about 1 s (32x32, one process, bfloat16 machine kind;
    benchmarks/PERFORMANCE.md 2026-12-06, night)."""

    def __init__(self, generator: keras.Model):
        self.generator = generator
        size = int(generator.input_shape[1])
        images = tf.TensorSpec((None, size, size, 3), tf.float32)
        self.whole = tf.function(self._whole, input_signature=[images])
        self.parts = frozen_encoder_parts(generator)  # (encoder, decoder), or None: no frozen encoder
        self.encode = self.decode = None
        if self.parts is not None:
            skips = [tf.TensorSpec((None, *spec.shape[1:]), spec.dtype) for spec in self.parts[1].inputs]
            self.encode = tf.function(self._encoder, input_signature=[images])
            self.decode = tf.function(self._decoder, input_signature=[skips])

    def _whole(self, images: tf.Tensor) -> tf.Tensor:
        return self.generator(images, training=False)

    def _encoder(self, images: tf.Tensor) -> list[tf.Tensor]:
        return self.parts[0](images, training=False)

    def _decoder(self, skips: list[tf.Tensor]) -> tf.Tensor:
        return self.parts[1](skips, training=False)


def _forward_of(generator: keras.Model, forward: GeneratorForward | None) -> GeneratorForward:
    """``forward`` when it is this generator's (a kept one), else new traced functions; another
    generator's would translate with the wrong weights, silently."""
    if forward is None:
        return GeneratorForward(generator)
    if forward.generator is not generator:
        raise ValueError(f"the traced functions given are {forward.generator.name!r}'s, not {generator.name!r}'s")
    return forward


class Translator:
    """Batched inference with one generator: float32 (N, S, S, 3) in [0, 1] -> same shape.

    A graph function traced once per generator (:class:`GeneratorForward`; the last, smaller batch
    and the sample grid reuse it): 64 eval photos at 64x64 took 2.23 s against 2.90 s eagerly on a
    2-core CPU, measured in one process; graph outputs equal eager ones to float32 rounding (largest
    difference 1.2e-7)."""

    def __init__(self, generator: keras.Model, batch_size: int = 16, *, forward: GeneratorForward | None = None):
        self.generator = generator
        self.batch_size = batch_size
        self._call = _forward_of(generator, forward).whole

    @property
    def image_size(self) -> int:
        return int(self.generator.input_shape[1])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if len(images) == 0:
            return np.zeros_like(images)
        images = np.asarray(images, dtype=np.float32)  # the traced signature is float32
        batches = [self._call(tf.constant(images[i:i + self.batch_size])).numpy() for i in range(0, len(images), self.batch_size)]
        return np.concatenate(batches).astype(np.float32)


# The most a FixedImagesTranslator keeps of encoder features (64 held-out photos at 64x64 hold
# 128 MiB in float32; at 128x128 it would be 512 MiB, at 256x256 2 GiB, where the encoder is a
# smaller share of a mini-epoch and recomputing it is the better use of memory).
FEATURE_CACHE_BYTES = 256 * 2**20


class FixedImagesTranslator:
    """One generator's translation of the same images, again and again: the held-out photos at every
    evaluation, the sample grid's rows at every mini-epoch.

    The VGG16 encoder of a U-Net generator is frozen (:func:`cyclegan.core.models.frozen_encoder_parts`),
    so its features of fixed images never change during training: they are computed at the first
    call and kept, and each call after it runs only the decoder. Measured in one process on a 2-core
    AVX2 CPU, 64 held-out photos at 64x64: 2.0-2.3 s with the encoder, 0.84-0.95 s for the decoder
    alone, outputs equal to the bit. A ResNet generator, a trainable encoder, or features above
    ``cache_bytes`` are translated whole each time (:class:`Translator`).

    Args:
        generator: the generator (weights read at each call, so training shows).
        images: float32 (N, S, S, 3) in [0, 1], N >= 1, fixed for this translator's life.
        batch_size: images per forward pass.
        cache_bytes: the most the kept features may hold.
        forward: the generator's traced functions, when another translator or run made them.
    """

    def __init__(self, generator: keras.Model, images: np.ndarray, *, batch_size: int = 16,
                 cache_bytes: int = FEATURE_CACHE_BYTES, forward: GeneratorForward | None = None):
        self.images = np.asarray(images, dtype=np.float32)
        self.batch_size = batch_size
        self._features: list[list[tf.Tensor]] | None = None
        self.forward = _forward_of(generator, forward)
        parts = self.forward.parts
        self.caches_features = parts is not None and _feature_bytes(parts[0], len(self.images)) <= cache_bytes
        if not self.caches_features:
            self._whole = Translator(generator, batch_size, forward=self.forward)

    def __call__(self) -> np.ndarray:
        """The generator's outputs for the images: float32 (N, S, S, 3) in [0, 1]."""
        if not self.caches_features:
            return self._whole(self.images)
        if self._features is None:
            self._features = [list(self.forward.encode(tf.constant(self.images[i:i + self.batch_size])))
                              for i in range(0, len(self.images), self.batch_size)]
        return np.concatenate([self.forward.decode(skips).numpy() for skips in self._features]).astype(np.float32)


def _feature_bytes(encoder: keras.Model, n_images: int) -> int:
    """What the encoder's outputs for ``n_images`` images hold, in bytes."""
    per_image = sum(int(np.prod(out.shape[1:])) * tf.as_dtype(out.dtype).size for out in encoder.outputs)  # bfloat16 too
    return per_image * n_images


def translate_folder(generator: str | Path | keras.Model, input_dir: str | Path, output_dir: str | Path, *, batch_size: int = 16,
                     progress: bool = True, name: str | None = None) -> list[Path]:
    """Translate every JPEG/PNG in ``input_dir`` (resized to the generator's size) into
    ``output_dir/<stem>.png`` with ``generator``: a loaded model, or a file or run folder as in
    :func:`load_generator`. Returns the written paths."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not isinstance(generator, keras.Model) and not Path(generator).exists():
        raise FileNotFoundError(f"{generator}: no such generator file or run folder")
    if not input_dir.is_dir():
        raise FileNotFoundError(f"{input_dir}: no such input folder")
    files = sorted(p for p in input_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{input_dir}: no .jpg/.jpeg/.png images to translate")
    stems = [p.stem for p in files]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise ValueError(f"{input_dir}: several inputs would write the same output name: {', '.join(duplicates)}")
    # Before any work: an image over the size guard or not an image, or a place that cannot be
    # written, would otherwise be found after translating everything before it (the images first:
    # a bad input leaves no output folder behind).
    for path in files:
        with open_image(path):  # the header only; the same guard as training and `data check`
            pass
    made = not output_dir.exists()
    writable_folder(output_dir, "translated images")
    try:
        model = generator if isinstance(generator, keras.Model) else load_generator(generator, name)
    except Exception:
        if made:  # a generator that does not load leaves no empty output folder behind
            with contextlib.suppress(OSError):
                output_dir.rmdir()
        raise
    translator = Translator(model, batch_size=batch_size)
    written = []
    with tqdm(total=len(files), desc="translate", unit="img", disable=not progress) as bar:
        for start in range(0, len(files), batch_size):
            chunk = files[start:start + batch_size]
            outputs = translator(load_images(chunk, translator.image_size, batch_size=batch_size))
            for path, image in zip(chunk, outputs, strict=True):
                target = output_dir / f"{path.stem}.png"
                save_png(image, target)
                written.append(target)
            bar.update(len(chunk))
    return written

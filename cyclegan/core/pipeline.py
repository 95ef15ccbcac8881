"""``tf.data`` input pipeline: unpaired, seeded, resumable at any step.

Each domain is an infinite stream of sample indices ``i = 0, 1, 2, ...``; sample ``i`` is the file
at position ``index_shuffle(i mod n, seed=(seed, domain, epoch))`` of that domain's file list, and
its augmentation is seeded by ``(seed, i)``. Everything is a stateless function of ``i``, so a run
resumed at step ``k`` starts the stream at ``i = k * batch`` and sees exactly the batches an
uninterrupted run would have seen, without decoding the skipped ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from cyclegan.data.dataset import DOMAINS, check_dataset, split_holdout, usable_files
from cyclegan.data.images import read_image, read_images
from cyclegan.spec.config import DataConfig, TrainConfig

# Crop jitter of the CycleGAN paper: 286 -> 256.
_JITTER_SCALE = 286 / 256

# Batches decoded ahead of the train step. A fixed depth, not tf.data.AUTOTUNE: autotuning runs a
# model thread that backs off up to a minute between rounds, and destroying the iterator waits for
# it to wake. py-spy found quick-study cells waiting 4-35 s there after their last mini-epoch
# (RootDataset::Iterator's destructor). Two batches keep a GPU fed: one decodes while one waits.
PREFETCH_BATCHES = 2


@dataclass(frozen=True)
class DataSplit:
    """Training and held-out files per domain (``monet``, ``photo``)."""

    train: dict[str, tuple[Path, ...]]
    holdout: dict[str, tuple[Path, ...]]

    def epoch_steps(self, batch_size: int) -> int:
        """Steps in one epoch: the larger domain's training images, as the original counted."""
        return max(len(files) for files in self.train.values()) // batch_size


def prepare_split(data: DataConfig, batch_size: int) -> DataSplit:
    """Check the dataset (refusing unusable files, naming them) and split off the held-out images."""
    report = check_dataset(data.root, image_size=data.image_size, max_image_pixels=data.max_image_pixels)
    files = usable_files(report)
    train, holdout = {}, {}
    for domain in DOMAINS:
        if len(files[domain]) <= data.holdout:
            raise ValueError(
                f"{data.root}/{domain}: {len(files[domain])} usable images, but data.holdout={data.holdout} "
                "must leave some for training"
            )
        train_files, held = split_holdout(files[domain], data.holdout)
        if len(train_files) < batch_size:
            raise ValueError(
                f"train.batch_size={batch_size} is larger than the {len(train_files)} training images "
                f"of {data.root}/{domain} (after data.holdout={data.holdout})"
            )
        train[domain], holdout[domain] = tuple(train_files), tuple(held)
    return DataSplit(train=train, holdout=holdout)


def steps_per_mini_epoch(split: DataSplit, train: TrainConfig) -> int:
    if train.steps_per_mini_epoch is not None:
        return train.steps_per_mini_epoch
    return max(1, round(split.epoch_steps(train.batch_size) * train.mini_epoch_fraction))


def decode_image(path: tf.Tensor, size: int) -> tf.Tensor:
    """File -> float32 (size, size, 3) in [0, 1] inside ``tf.data``: the project's one decoder
    (:func:`cyclegan.data.images.read_image`: JPEG/PNG by content; grayscale, RGBA, CMYK and 16-bit
    inputs as RGB; other sizes resized with antialiasing), so training sees a file exactly as the
    metrics and the report do."""
    image = tf.numpy_function(lambda p: read_image(_as_path(p), size), [path], tf.float32, stateful=False)
    return tf.ensure_shape(image, [size, size, 3])


def _as_path(value) -> str:
    """A path as ``tf.numpy_function`` hands it over: bytes in a graph, a NumPy string when eager."""
    value = value.item() if isinstance(value, np.ndarray) else value
    return value.decode() if isinstance(value, bytes) else str(value)


# Each random op of a sample draws from its own key, folded from the sample's: keys made by adding
# to the sample's ([s, i] + 1) were another domain's or seed's keys ([s + 1, i + 1]: the next sample
# of the other domain), and the shuffle's key ([s, epoch]) was sample ``epoch``'s.
_CROP_KEY, _FLIP_KEY = 1, 2


def _augment(image: tf.Tensor, seed: tf.Tensor, data: DataConfig) -> tf.Tensor:
    size = data.image_size
    if data.random_crop:
        big = int(round(size * _JITTER_SCALE))
        image = tf.image.resize(image, [big, big], method="nearest")
        image = tf.image.stateless_random_crop(image, [size, size, 3], seed=tf.random.experimental.stateless_fold_in(seed, _CROP_KEY))
    if data.flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=tf.random.experimental.stateless_fold_in(seed, _FLIP_KEY))
    return image


def domain_stream(files: Sequence[Path], data: DataConfig, *, seed: int, domain_id: int, start: int) -> tf.data.Dataset:
    """Infinite stream of augmented images of one domain, starting at sample index ``start``."""
    paths = tf.constant([str(p) for p in files])
    count = tf.constant(len(files), tf.int64)
    stream_seed = tf.constant(seed * len(DOMAINS) + domain_id, tf.int64)

    def pick(i: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        epoch, position = i // count, i % count
        index = tf.random.experimental.index_shuffle(position, seed=tf.stack([stream_seed, epoch]), max_index=count - 1)
        return tf.gather(paths, index), i

    def load(path: tf.Tensor, i: tf.Tensor) -> tf.Tensor:
        return _augment(decode_image(path, data.image_size), tf.stack([stream_seed, i]), data)

    return (
        tf.data.Dataset.counter(start, dtype=tf.int64)
        .map(pick)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    )


def training_dataset(split: DataSplit, data: DataConfig, train: TrainConfig, *, start_step: int) -> tf.data.Dataset:
    """Batches ``(photo, monet)`` of float32 (batch, size, size, 3) in [0, 1], unpaired, from ``start_step``."""
    start = start_step * train.batch_size
    photo = domain_stream(split.train["photo"], data, seed=train.seed, domain_id=DOMAINS.index("photo"), start=start)
    monet = domain_stream(split.train["monet"], data, seed=train.seed, domain_id=DOMAINS.index("monet"), start=start)
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False  # no model thread (see PREFETCH_BATCHES); AUTOTUNE map parallelism = the cores
    return (
        tf.data.Dataset.zip(photo, monet)
        .batch(train.batch_size, drop_remainder=True)
        .prefetch(PREFETCH_BATCHES)
        .with_options(options)
    )


def load_images(files: Sequence[Path], size: int, *, batch_size: int = 64) -> np.ndarray:
    """Fixed images as float32 (N, size, size, 3) in [0, 1] (held-out and sample sets, translate).
    ``batch_size`` is accepted for the callers that stream in chunks; decoding is per file."""
    del batch_size
    return read_images(list(files), size)

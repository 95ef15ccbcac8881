"""The image pool: discriminators learn from a history of generated images (Shrivastava et al.
2017; the reference CycleGAN keeps 50 per domain).

Per image, in batch order: while the pool is not full, the image is stored and returned; once full,
with probability 0.5 a uniformly chosen stored image is returned and the new one takes its place,
else the new image itself is returned. The pool is TensorFlow state (images, fill count, images
seen) and its randomness is stateless, keyed by (seed, domain, images seen): every draw is a pure
function of how far training has come, it runs inside the compiled step without a host sync, and a
checkpoint of the pool's variables resumes it exactly.
"""

from __future__ import annotations

import tensorflow as tf

MONET, PHOTO = 0, 1  # domain keys of the two pools' random streams


class ImagePool(tf.Module):
    """A pool of ``capacity`` images of shape (S, S, 3); ``capacity`` 0 returns its input unchanged."""

    def __init__(self, capacity: int, image_size: int, seed: int, domain: int, name: str | None = None):
        super().__init__(name=name)
        if capacity < 0:
            raise ValueError(f"train.image_pool must be >= 0, got {capacity}")
        self.capacity = capacity
        self._key = tf.constant([seed, domain], tf.int64)
        self.images = tf.Variable(tf.zeros((capacity, image_size, image_size, 3), tf.float32), trainable=False, name="images")
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False, name="count")
        self.seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="seen")

    def __call__(self, batch: tf.Tensor) -> tf.Tensor:
        """(B, S, S, 3) generated images -> (B, S, S, 3) images to show the discriminator (float32)."""
        if self.capacity == 0:
            return batch
        if batch.shape[0] is None:
            raise ValueError("ImagePool needs a static batch size (the training pipeline drops the remainder)")
        batch = tf.cast(batch, tf.float32)
        # A Python loop over the (static) batch: each image's draw sees the pool its predecessors left.
        return tf.stack([self._one(image) for image in tf.unstack(batch, num=batch.shape[0])])

    def _one(self, image: tf.Tensor) -> tf.Tensor:
        key = tf.random.experimental.stateless_fold_in(self._key, self.seen.read_value())
        coin = tf.random.stateless_uniform([], key)
        pick = tf.random.stateless_uniform([], tf.random.experimental.stateless_fold_in(key, 1),
                                           minval=0, maxval=self.capacity, dtype=tf.int64)
        full = self.count >= self.capacity
        swap = tf.logical_and(full, coin < 0.5)
        slot = tf.where(full, pick, self.count)
        stored = self.images[slot]
        # Write the new image unless the pool is full and kept its images (then write back what was there).
        self.images[slot].assign(tf.where(tf.logical_or(tf.logical_not(full), swap), image, stored))
        self.count.assign_add(tf.cast(tf.logical_not(full), tf.int64))
        self.seen.assign_add(1)
        return tf.where(swap, stored, image)


class ImagePools(tf.Module):
    """The two pools of a run: generated paintings (for D_monet) and generated photos (for D_photo)."""

    def __init__(self, capacity: int, image_size: int, seed: int):
        super().__init__(name="image_pools")
        self.capacity = capacity
        self.monet = ImagePool(capacity, image_size, seed, MONET, name="monet_pool")
        self.photo = ImagePool(capacity, image_size, seed, PHOTO, name="photo_pool")

"""CycleGAN losses as pure functions of tensors (no model, no state).

Logits are float32 of any shape (B, 1) or (B, h, w, 1); images are float32 (B, H, W, 3) in [0, 1].
Every loss is a scalar mean over its input.
"""

from __future__ import annotations

import tensorflow as tf


def _bce(labels_value: float, logits: tf.Tensor) -> tf.Tensor:
    labels = tf.fill(tf.shape(logits), tf.constant(labels_value, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def _squared(target: float, outputs: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.square(outputs - target))


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor, kind: str) -> tf.Tensor:
    """0.5 x (loss on real labelled 1 + loss on fake labelled 0), halved as in the original so D
    learns at half G's rate. ``bce``: cross-entropy from logits; ``lsgan``: least squares."""
    if kind == "bce":
        return 0.5 * (_bce(1.0, real_logits) + _bce(0.0, fake_logits))
    if kind == "lsgan":
        return 0.5 * (_squared(1.0, real_logits) + _squared(0.0, fake_logits))
    raise ValueError(f"loss.adversarial={kind!r}; expected 'bce' or 'lsgan'")


def generator_adversarial_loss(fake_logits: tf.Tensor, kind: str) -> tf.Tensor:
    """The generator wants its fakes labelled real (non-saturating form for ``bce``)."""
    if kind == "bce":
        return _bce(1.0, fake_logits)
    if kind == "lsgan":
        return _squared(1.0, fake_logits)
    raise ValueError(f"loss.adversarial={kind!r}; expected 'bce' or 'lsgan'")


def l1(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference: the cycle-consistency and identity losses."""
    return tf.reduce_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


def real_accuracy(real_logits: tf.Tensor, kind: str) -> tf.Tensor:
    """Share of real patches the discriminator calls real (logit > 0, or output > 0.5 for lsgan)."""
    return tf.reduce_mean(tf.cast(real_logits > _decision_boundary(kind), tf.float32))


def fake_accuracy(fake_logits: tf.Tensor, kind: str) -> tf.Tensor:
    """Share of generated patches the discriminator calls fake."""
    return tf.reduce_mean(tf.cast(fake_logits <= _decision_boundary(kind), tf.float32))


def _decision_boundary(kind: str) -> float:
    return 0.0 if kind == "bce" else 0.5

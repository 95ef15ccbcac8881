"""Losses are pure functions with known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from cyclegan.core import losses


def test_bce_losses_at_known_logits():
    zero = tf.zeros((2, 4, 4, 1))
    # At logit 0 the BCE is ln 2 for either label; D's loss is half the sum.
    assert float(losses.discriminator_loss(zero, zero, "bce")) == pytest.approx(math.log(2), rel=1e-6)
    assert float(losses.generator_adversarial_loss(zero, "bce")) == pytest.approx(math.log(2), rel=1e-6)
    confident = tf.fill((2, 1), 20.0)
    assert float(losses.discriminator_loss(confident, -confident, "bce")) < 1e-6
    assert float(losses.generator_adversarial_loss(-confident, "bce")) == pytest.approx(20.0, rel=1e-3)


def test_lsgan_losses():
    real, fake = tf.constant([[1.0], [0.5]]), tf.constant([[0.0], [1.0]])
    assert float(losses.discriminator_loss(real, fake, "lsgan")) == pytest.approx(0.5 * (0.125 + 0.5))
    assert float(losses.generator_adversarial_loss(fake, "lsgan")) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="loss.adversarial='hinge'"):
        losses.discriminator_loss(real, fake, "hinge")


def test_l1_and_accuracies():
    a = np.zeros((1, 2, 2, 3), np.float32)
    b = np.full((1, 2, 2, 3), 0.25, np.float32)
    assert float(losses.l1(a, b)) == pytest.approx(0.25)
    logits = tf.constant([[2.0], [-1.0], [0.5], [-3.0]])
    assert float(losses.real_accuracy(logits, "bce")) == pytest.approx(0.5)
    assert float(losses.fake_accuracy(logits, "bce")) == pytest.approx(0.5)
    assert float(losses.real_accuracy(tf.constant([[0.6], [0.4]]), "lsgan")) == pytest.approx(0.5)

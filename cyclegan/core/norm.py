"""Instance normalization, the one normalization layer the generators and discriminators share.

Its own module below ``models.py`` and ``resnet.py`` so that both import it at the top (it was
``models.py``'s, which made the two modules import each other)."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


def gan_init(seed: int | None = None) -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02, seed=seed)


def instance_norm(name: str, fused: bool = True) -> layers.Layer:
    """Instance normalization as Keras 3 ships it: one group per channel. Gamma starts at N(0, 0.02)
    as in the original (and keras-io's CycleGAN), which it inherited from tensorflow-addons.

    ``fused`` computes the same layer with TensorFlow's fused batch-norm kernel
    (:class:`InstanceNormalization`); ``False`` keeps Keras' own arithmetic, as the original ran."""
    layer_class = InstanceNormalization if fused else layers.GroupNormalization
    return layer_class(groups=-1, gamma_initializer=gan_init(), name=name)


@keras.saving.register_keras_serializable(package="cyclegan")
class InstanceNormalization(layers.GroupNormalization):
    """``GroupNormalization(groups=-1)``: the same weights, config and maths, on a faster kernel.

    Keras' GroupNormalization takes moments and applies them with separate element-wise ops, in
    float32 even under mixed precision, and its gradient is a chain of broadcasts; in a bfloat16
    step at 256x256 on a CPU those took about 15% of all op time. Instance norm of an image is batch
    norm in training mode over that image alone, so each image of the batch goes through the fused
    batch-norm kernel (oneDNN on CPUs, cuDNN on GPUs), which keeps its statistics in float32, takes
    bfloat16 and float16 tensors directly and has a fused gradient. Moving statistics are not
    kept: instance norm uses the image's own statistics in training and inference alike."""

    def __init__(self, groups: int = -1, **kwargs):
        if groups != -1:
            raise ValueError(f"InstanceNormalization has one group per channel (groups=-1), got groups={groups}")
        super().__init__(groups=-1, **kwargs)

    def get_config(self) -> dict:
        # build() replaces groups=-1 by the channel count; the layer is defined by "one per channel".
        return {**super().get_config(), "groups": -1}

    def call(self, inputs):
        if len(inputs.shape) != 4 or self.axis not in (-1, 3) or not (self.center and self.scale):
            return super().call(inputs)  # not the layout the fused kernel serves: Keras' own arithmetic
        # Like GroupNormalization, the layer does not autocast (gamma and beta stay float32) and
        # returns its compute dtype; the kernel takes that dtype directly.
        inputs = tf.cast(inputs, self.compute_dtype)
        gamma, beta = tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32)
        batch = inputs.shape[0]
        if batch is None:
            return self._call_dynamic_batch(inputs, gamma, beta)
        if batch == 1:
            return self._normalize(inputs, gamma, beta)
        return tf.concat([self._normalize(image, gamma, beta) for image in tf.split(inputs, batch)], 0)

    def _normalize(self, image, gamma, beta):
        normalized, _, _ = tf.compat.v1.nn.fused_batch_norm(image, gamma, beta, epsilon=self.epsilon, is_training=True)
        return normalized

    def _call_dynamic_batch(self, inputs, gamma, beta):
        """An unknown batch size: lay the images side by side as channels of one image."""
        shape = tf.shape(inputs)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        side_by_side = tf.reshape(tf.transpose(inputs, [1, 2, 0, 3]), [1, height, width, batch * channels])
        normalized = self._normalize(side_by_side, tf.tile(gamma, [batch]), tf.tile(beta, [batch]))
        return tf.transpose(tf.reshape(normalized, [height, width, batch, channels]), [2, 0, 1, 3])

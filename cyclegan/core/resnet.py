"""The reference CycleGAN's ResNet generator (Zhu et al. 2017, after Johnson et al. 2016) in Keras 3.

c7s1-64, d128, d256, R256 x blocks, u128, u64, c7s1-3: 7x7 convolutions with reflection padding at
both ends, two stride-2 3x3 downsamplings, residual blocks of two reflection-padded 3x3
convolutions, two x2 upsamplings. Instance norm after every convolution but the last (or none,
``generator.norm``); ``generator.upsample`` picks transposed convolutions (the reference) or
resize-convolutions. tanh output mapped to this project's [0, 1] images. Weights start at
N(0, 0.02) as in the reference; biases are kept, as the reference keeps them with instance norm.
About 11.4 M parameters with 9 blocks (tests pin the exact count).
"""

from __future__ import annotations

import keras
from keras import layers

from cyclegan.core.norm import instance_norm
from cyclegan.spec.config import GeneratorConfig

BASE_FILTERS = 64
_DOWNSAMPLINGS = 2


@keras.saving.register_keras_serializable(package="cyclegan")
class ReflectionPadding2D(layers.Layer):
    """Pads height and width by ``padding`` pixels on each side, mirroring the border (no edge
    repeated), as PyTorch's ReflectionPad2d: no zero border for the 7x7 and 3x3 kernels to see."""

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return keras.ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        grow = 2 * self.padding
        return batch, None if height is None else height + grow, None if width is None else width + grow, channels

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding}


def _init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def build_resnet_generator(config: GeneratorConfig, image_size: int, name: str, fused_norm: bool = True) -> keras.Model:
    """[0, 1] images (B, S, S, 3) -> translated images (B, S, S, 3) in [0, 1] (float32 under mixed
    precision). S must be a multiple of 4 (two stride-2 levels); the config's 32 guarantees it."""

    def norm(x, label: str):
        return instance_norm(f"{label}_norm", fused_norm)(x) if config.norm == "instance" else x

    def conv(x, filters: int, kernel: int, label: str, *, strides: int = 1, reflect: int = 0):
        if reflect:
            x = ReflectionPadding2D(reflect, name=f"{label}_pad")(x)
        padding = "valid" if reflect else "same"
        return layers.Conv2D(filters, kernel, strides=strides, padding=padding, kernel_initializer=_init(), name=label)(x)

    inputs = keras.Input((image_size, image_size, 3), name="image")
    # The reference's input range is [-1, 1].
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inputs)
    x = layers.ReLU(name="c7s1_relu")(norm(conv(x, BASE_FILTERS, 7, "c7s1", reflect=3), "c7s1"))
    filters = BASE_FILTERS
    for _ in range(_DOWNSAMPLINGS):
        filters *= 2
        x = layers.ReLU(name=f"d{filters}_relu")(norm(conv(x, filters, 3, f"d{filters}", strides=2), f"d{filters}"))
    for block in range(config.residual_blocks(image_size)):
        label = f"res{block}"
        y = layers.ReLU(name=f"{label}_relu")(norm(conv(x, filters, 3, f"{label}_conv_a", reflect=1), f"{label}_a"))
        y = norm(conv(y, filters, 3, f"{label}_conv_b", reflect=1), f"{label}_b")
        x = layers.Add(name=f"{label}_add")([x, y])
    for _ in range(_DOWNSAMPLINGS):
        filters //= 2
        x = layers.ReLU(name=f"u{filters}_relu")(norm(_upsample(x, filters, config.upsample, f"u{filters}"), f"u{filters}"))
    x = conv(x, 3, 7, "c7s1_3", reflect=3)
    # tanh and the map to [0, 1] in float32: under mixed precision the output and its L1 losses stay exact.
    x = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    outputs = layers.Rescaling(0.5, offset=0.5, dtype="float32", name="image_out")(x)
    return keras.Model(inputs, outputs, name=name)


def _upsample(x, filters: int, mode: str, label: str):
    """x2: the reference's 3x3 stride-2 transposed convolution, or nearest resize then a 3x3 convolution."""
    if mode == "transpose":
        return layers.Conv2DTranspose(filters, 3, strides=2, padding="same", kernel_initializer=_init(), name=label)(x)
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{label}_resize")(x)
    return layers.Conv2D(filters, 3, padding="same", kernel_initializer=_init(), name=label)(x)

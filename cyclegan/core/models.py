"""The original networks (docs/DESIGN.md section 1) in Keras 3, with the ablation switches as arguments.

Generator: a U-Net whose encoder is VGG16's convolutional stack (frozen by default) and whose
decoder walks block5_conv3 -> block1_conv2. Discriminator: four strided 4x4 convolutions and a
3x3 head; ``patch`` keeps the (size/16)^2 map; ``scalar`` replaces the head by a classifier (flatten the
last feature map, one logit per image), as the original's first try; ``patch_weighted`` weights the
patch logits into one.
Images go in and come out in [0, 1].
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import keras
import numpy as np
from keras import layers

from cyclegan.core.norm import InstanceNormalization, gan_init, instance_norm  # noqa: F401  (InstanceNormalization: re-exported)
from cyclegan.core.resnet import build_resnet_generator
from cyclegan.core.weights_files import first_line, load_weights_strictly
from cyclegan.errors import CycleganError
from cyclegan.spec.config import DiscriminatorConfig, GeneratorConfig

# Decoder levels, deepest first: the VGG16 layer whose output is the skip, and the filters of the
# level's 3x3 convolution. About 4.4 M trainable parameters in all (the original's count).
SKIP_LAYERS = ("block5_conv3", "block4_conv3", "block3_conv3", "block2_conv2", "block1_conv2")
DECODER_FILTERS = (256, 256, 128, 64, 32)
DISCRIMINATOR_DEPTH = 4  # strided convolutions: a 256 px input gives the original's 16x16 patch map

# ImageNet channel means of VGG16's "caffe" preprocessing, in BGR order.
_VGG_BGR_MEANS = (103.939, 116.779, 123.68)


class EncoderWeightsError(CycleganError, RuntimeError):
    """The configured VGG16 weights cannot be had; raised before any training starts."""


@keras.saving.register_keras_serializable(package="cyclegan")
class VGGPreprocess(layers.Layer):
    """[0, 1] RGB -> VGG16's input: 0-255 BGR minus the ImageNet means (Keras' "caffe" mode).

    A layer rather than a Lambda so saved generators load in Keras safe mode."""

    def call(self, inputs):
        bgr = keras.ops.flip(inputs * 255.0, axis=-1)
        return bgr - keras.ops.convert_to_tensor(_VGG_BGR_MEANS, dtype=bgr.dtype)


def build_vgg16(weights: str, image_size: int, imagenet_file: str | None = None, seed: int | None = None) -> keras.Model:
    """VGG16 without its top, with ``weights``: ``imagenet`` (from ``imagenet_file`` when given,
    else through Keras' download cache), ``random`` (drawn from ``seed`` by :func:`seeded_random_vgg16`
    when given, else from Keras' global generator) or a weights file. Fails with
    :class:`EncoderWeightsError` naming the fix."""
    shape = (image_size, image_size, 3)
    if weights == "imagenet" and imagenet_file is not None:
        return _load_vgg16_file(imagenet_file, shape, key="generator.imagenet_weights")
    if weights == "imagenet":
        try:
            return keras.applications.VGG16(include_top=False, weights="imagenet", input_shape=shape)
        except Exception as err:  # Keras raises a bare Exception for a failed download
            raise EncoderWeightsError(
                "generator.encoder_weights=imagenet: the VGG16 ImageNet weights are not in the Keras cache "
                f"(~/.keras/models/ or $KERAS_HOME/models/) and could not be downloaded ({err}). Either run once "
                "on a machine with internet access (Keras downloads "
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 to that cache), copy that file there, or "
                "set generator.imagenet_weights (or CYCLEGAN_IMAGENET_WEIGHTS) to a local copy of it (.h5 or .weights.h5). "
                "For an offline smoke run only: `cyclegan standin-weights FILE` writes RANDOM VGG16 weights to use there "
                "(not ImageNet: no H1 conclusion holds with it)."
            ) from None
    if weights == "random":
        vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
        return vgg if seed is None else seeded_random_vgg16(vgg, seed)
    return _load_vgg16_file(weights, shape, key="generator.encoder_weights")


def _load_vgg16_file(weights: str, shape: tuple[int, int, int], key: str) -> keras.Model:
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise EncoderWeightsError(f"{key}={weights}: no such file")
    try:
        # A partial load would keep some layers random: for an ablation of pretrained vs random weights an error.
        load_weights_strictly(vgg, path)
    except Exception as err:
        raise EncoderWeightsError(f"{key}={weights}: not a VGG16 no-top weights file ({first_line(err)})") from None
    return vgg


def seeded_random_vgg16(vgg: keras.Model, seed: int) -> keras.Model:
    """``vgg`` with every convolution re-drawn from ``seed``: Glorot-uniform kernels and zero biases,
    the distribution Keras' VGG16 itself starts from. Drawn with NumPy's PCG64 on the host, so the
    same seed gives the same bits on any device and TensorFlow version: a frozen random encoder is
    then rebuilt from its seed instead of being stored (59 MB per generator)."""
    rng = np.random.default_rng(seed)
    for layer in vgg.layers:
        if isinstance(layer, layers.Conv2D):
            kernel, bias = layer.get_weights()
            receptive = kernel.shape[0] * kernel.shape[1]
            limit = np.sqrt(6.0 / (receptive * (kernel.shape[2] + kernel.shape[3])))
            layer.set_weights([rng.uniform(-limit, limit, kernel.shape).astype(np.float32), np.zeros_like(bias)])
    return vgg


def random_encoder_seed(train_seed: int, generator: str) -> int:
    """The seed of a generator's random VGG16 encoder: a pure function of the run's seed and the
    generator's name (G and F get different encoders, as two independent draws would)."""
    digest = hashlib.sha256(f"cyclegan random encoder/{train_seed}/{generator}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def weights_fingerprint(model: keras.Model) -> str:
    """SHA-256 of a model's weights (float32 bytes, in layer order): what proves a rebuilt
    encoder is the one a run trained with."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight, dtype=np.float32).tobytes())
    return digest.hexdigest()


def build_encoder(config: GeneratorConfig, image_size: int, name: str = "encoder", seed: int | None = None) -> keras.Model:
    """[0, 1] images (B, S, S, 3) -> the five skip tensors, deepest first:
    (B, S/16, S/16, 512), (B, S/8, S/8, 512), (B, S/4, S/4, 256), (B, S/2, S/2, 128), (B, S, S, 64).
    ``seed`` draws ``encoder_weights=random`` reproducibly (:func:`seeded_random_vgg16`)."""
    vgg = build_vgg16(config.encoder_weights, image_size, config.imagenet_weights, seed=seed)
    vgg.trainable = config.encoder_trainable
    features = keras.Model(vgg.input, [vgg.get_layer(n).output for n in SKIP_LAYERS], name="vgg16_features")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    return keras.Model(inputs, features(VGGPreprocess(name="vgg_preprocess")(inputs)), name=name)


def build_decoder(config: GeneratorConfig, image_size: int, name: str = "decoder", fused_norm: bool = True) -> keras.Model:
    """The five skip tensors (deepest first) -> image (B, S, S, 3) in [0, 1] (float32 under mixed precision)."""
    skip_shapes = [(image_size // 16, 512), (image_size // 8, 512), (image_size // 4, 256), (image_size // 2, 128), (image_size, 64)]
    # The skips arrive in the compute dtype (bfloat16 under mixed precision); float32 inputs would
    # make the model cast every skip up at its entrance and each layer cast it back down.
    feature_dtype = keras.config.dtype_policy().compute_dtype
    skips = [
        keras.Input((side, side, channels), dtype=feature_dtype, name=f"skip_{layer}")
        for (side, channels), layer in zip(skip_shapes, SKIP_LAYERS, strict=True)
    ]
    x = None
    last_level = len(SKIP_LAYERS) - 1
    for level, (skip, filters) in enumerate(zip(skips, DECODER_FILTERS, strict=True)):
        x = skip if x is None else layers.Concatenate(name=f"concat_{level}")([skip, x])
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{level}")(x)
        if config.norm == "instance":
            x = instance_norm(f"norm_{level}", fused_norm)(x)
        if level < last_level:
            x = _upsample(x, filters // 2, config.upsample, name=f"up_{level}")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="head_conv16")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="head_conv8")(x)
    x = layers.Conv2D(3, 2, padding="same", name="head_conv3")(x)
    # Sigmoid in float32: under mixed precision the output (and the L1 losses on it) stay exact.
    outputs = layers.Activation("sigmoid", dtype="float32", name="image_out")(x)
    return keras.Model(skips, outputs, name=name)


def _upsample(x, filters: int, mode: str, name: str):
    """x2 upsampling. ``transpose``: the original's 4x4 stride-2 transposed convolution, whose uneven
    kernel overlap is the textbook cause of checkerboards; ``resize_conv``: nearest-neighbour resize
    then a 3x3 convolution (Odena et al. 2016), which cannot produce that overlap pattern."""
    if mode == "transpose":
        return layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu", name=name)(x)
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_resize")(x)
    return layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)


def build_generator(
    config: GeneratorConfig, image_size: int, name: str, encoder: keras.Model | None = None, fused_norm: bool = True,
    seed: int | None = None,
) -> keras.Model:
    """[0, 1] images (B, S, S, 3) -> translated images (B, S, S, 3) in [0, 1].

    Pass ``encoder`` to share one (frozen) encoder between generators; ``fused_norm`` as in
    :func:`instance_norm`; ``seed`` (the run's ``train.seed``) draws a random encoder from
    :func:`random_encoder_seed` so that it can be rebuilt rather than stored."""
    if config.arch == "resnet":  # no encoder to share: the reference's ResNet generator (cyclegan.core.resnet)

        return build_resnet_generator(config, image_size, name, fused_norm)
    if encoder is None:
        encoder_seed = None if seed is None else random_encoder_seed(seed, name)
        encoder = build_encoder(config, image_size, name=f"{name}_encoder", seed=encoder_seed)
    decoder = build_decoder(config, image_size, name=f"{name}_decoder", fused_norm=fused_norm)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    return keras.Model(inputs, decoder(encoder(inputs)), name=name)


def encoder_is_shareable(config: GeneratorConfig) -> bool:
    """Both generators may use one encoder when it is frozen and its weights are not random draws
    (only the VGG16 U-Net has an encoder)."""
    return config.arch == "vgg_unet" and not config.encoder_trainable and config.encoder_weights != "random"


def encoder_is_rebuildable(config: GeneratorConfig) -> bool:
    """A frozen VGG16 encoder need not be stored: it is rebuilt from its weights file (fingerprinted
    in the run's identity) or, when random, from its seed (fingerprinted by
    :mod:`cyclegan.core.runfolder.random_encoders`)."""
    return config.arch == "vgg_unet" and not config.encoder_trainable


def encoder_of(generator: keras.Model) -> keras.Model | None:
    """The VGG16 encoder inside a U-Net generator (its own or the shared one); None for the ResNet."""
    return next((layer for layer in generator.layers if layer.name.endswith("_encoder")), None)


def frozen_encoder_parts(generator: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """(encoder, decoder) of a U-Net generator whose encoder has no trainable weights, when the
    generator is exactly ``decoder(encoder(image))`` (as :func:`build_generator` makes it); None for
    the ResNet, a trainable encoder, or any other structure. Its encoder's features of fixed images
    are then fixed too (:class:`cyclegan.core.translate.FixedImagesTranslator`)."""
    encoder = encoder_of(generator)
    decoder = next((layer for layer in generator.layers if layer.name.endswith("_decoder")), None)
    if encoder is None or decoder is None or encoder.trainable_weights:
        return None
    # decoder(encoder(image)) and nothing else: the input, the encoder, the decoder, in that order.
    if [layer.name for layer in generator.layers[1:]] != [encoder.name, decoder.name]:
        return None
    return encoder, decoder


def build_generators(config: GeneratorConfig, image_size: int, fused_norm: bool = True,
                     seed: int | None = None) -> tuple[keras.Model, keras.Model]:
    """(G: photo -> monet, F: monet -> photo), sharing the encoder when :func:`encoder_is_shareable`;
    ``seed`` as in :func:`build_generator`; ``generator.arch=resnet``: the reference's ResNet
    generators (cyclegan.core.resnet)."""
    if config.arch == "resnet":

        return (build_resnet_generator(config, image_size, "gen_photo2monet", fused_norm),
                build_resnet_generator(config, image_size, "gen_monet2photo", fused_norm))
    shared = build_encoder(config, image_size, name="shared_encoder") if encoder_is_shareable(config) else None
    return (
        build_generator(config, image_size, "gen_photo2monet", encoder=shared, fused_norm=fused_norm, seed=seed),
        build_generator(config, image_size, "gen_monet2photo", encoder=shared, fused_norm=fused_norm, seed=seed),
    )


def build_discriminator(config: DiscriminatorConfig, image_size: int, name: str, fused_norm: bool = True) -> keras.Model:
    """[0, 1] images (B, S, S, 3) -> logits: (B, S/16, S/16, 1) for ``patch``, (B, 1) for ``scalar``
    and ``patch_weighted`` (float32 under mixed precision)."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    for level in range(DISCRIMINATOR_DEPTH):
        x = layers.Conv2D(config.base_filters * 2**level, 4, strides=2, padding="same", kernel_initializer=gan_init(), name=f"conv_{level}")(x)
        if config.norm == "instance":
            x = instance_norm(f"norm_{level}", fused_norm)(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{level}")(x)
    if config.output == "scalar":
        # The original project's first discriminator: a classifier head that judges the whole image at
        # once from every channel of the last feature map (flatten, one logit). Its gradient carries no
        # per-location signal, which is what let the generator collapse (issue 35).
        x = layers.Dense(1, name="scalar_logit")(layers.Flatten(name="flatten")(x))
    else:
        x = layers.Conv2D(1, 3, padding="same", kernel_initializer=gan_init(), name="patch_logits")(x)
        if config.output == "patch_weighted":
            # One logit as a learned weighting of the patch logits: still nearly the patch map's local
            # signal, so it is not the original's scalar discriminator; kept as a level to compare.
            x = layers.Dense(1, name="scalar_logit")(layers.Flatten(name="flatten")(x))
    outputs = layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def write_standin_weights(output: Path, seed: int) -> None:
    """A VGG16 no-top weights file with RANDOM weights (``cyclegan standin-weights``): it exercises
    the pretrained code path offline; it is not ImageNet."""
    keras.utils.set_random_seed(seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    keras.applications.VGG16(include_top=False, weights=None).save_weights(output)

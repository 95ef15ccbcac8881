"""Networks: shapes for every option, instance norm's formula, weights loading and its errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclegan.core.models import (
    EncoderWeightsError,
    InstanceNormalization,
    build_discriminator,
    build_generator,
    build_generators,
    build_vgg16,
    instance_norm,
)
from cyclegan.spec.config import DiscriminatorConfig, GeneratorConfig


@pytest.mark.parametrize("norm", ["instance", "none"])
@pytest.mark.parametrize("upsample", ["transpose", "resize_conv"])
def test_generator_shape_range_and_size(norm, upsample):
    model = build_generator(GeneratorConfig(encoder_weights="random", norm=norm, upsample=upsample), 64, "g")
    out = model(np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)).numpy()
    assert out.shape == (2, 64, 64, 3) and out.min() >= 0 and out.max() <= 1
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    if norm == "instance" and upsample == "transpose":
        assert 4.3e6 < trainable < 4.5e6  # the original's "about 4.4 M"
    assert not any(w.path.startswith("g_encoder") for w in model.trainable_weights)  # frozen encoder


@pytest.mark.parametrize(("output", "size", "shape"), [("patch", 256, (1, 16, 16, 1)), ("patch", 64, (1, 4, 4, 1)), ("scalar", 64, (1, 1)),
                                                    ("patch_weighted", 64, (1, 1))])
def test_discriminator_output(output, size, shape):
    model = build_discriminator(DiscriminatorConfig(output=output), size, "d")
    assert tuple(model(np.zeros((1, size, size, 3), np.float32)).shape) == shape


def test_scalar_discriminator_is_a_classifier_head_on_the_last_feature_map():
    # The original's first discriminator (issue 35): one logit from every channel of the last
    # feature map (4 x 4 x 384 at 64 px), not a weighting of the one-channel patch-logit map.
    scalar = build_discriminator(DiscriminatorConfig(output="scalar"), 64, "d")
    names = [layer.name for layer in scalar.layers]
    assert "patch_logits" not in names
    assert scalar.get_layer("scalar_logit").kernel.shape == (4 * 4 * 48 * 8, 1)
    weighted = build_discriminator(DiscriminatorConfig(output="patch_weighted"), 64, "d")
    assert "patch_logits" in [layer.name for layer in weighted.layers]
    assert weighted.get_layer("scalar_logit").kernel.shape == (4 * 4, 1)


@pytest.mark.parametrize("fused", [True, False], ids=["fused-kernel", "keras"])
def test_instance_norm_matches_its_formula(fused):
    layer = instance_norm("n", fused)
    x = np.random.default_rng(1).normal(2.0, 3.0, (2, 5, 6, 4)).astype(np.float32)
    layer.build(x.shape)
    layer.gamma.assign(np.ones(4, np.float32))
    layer.beta.assign(np.zeros(4, np.float32))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + layer.epsilon)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-4)
    # Per sample: another image in the batch does not change this one's output.
    np.testing.assert_allclose(layer(x[:1]).numpy(), expected[:1], atol=1e-4)


def _norm_and_gradients(layer, x: np.ndarray, batch_known: bool):
    """Output and gradients (input, gamma, beta) of sum(y * w), in a compiled function whose batch
    dimension is static or unknown; the random weight w makes every gradient non-trivial."""
    w = tf.constant(np.random.default_rng(3).normal(size=x.shape).astype(np.float32))
    spec = tf.TensorSpec((x.shape[0] if batch_known else None, *x.shape[1:]), tf.float32)

    @tf.function(input_signature=[spec])
    def run(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = tf.cast(layer(inputs), tf.float32)
            loss = tf.reduce_sum(y * w[: tf.shape(inputs)[0]])
        return y, tape.gradient(loss, [inputs, layer.gamma, layer.beta])

    y, grads = run(tf.constant(x))
    return y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize(("batch", "batch_known"), [(1, True), (3, True), (3, False)], ids=["one", "split", "unknown-batch"])
def test_fused_instance_norm_equals_keras_group_norm(batch, batch_known):
    """The fused kernel is a faster way to compute GroupNormalization(groups=-1): same outputs and
    same gradients for the input, gamma and beta, on each of its three code paths."""
    rng = np.random.default_rng(2)
    x = rng.normal(1.5, 2.0, (batch, 6, 7, 5)).astype(np.float32)
    keras_layer, fused_layer = instance_norm("k", fused=False), instance_norm("f", fused=True)
    assert isinstance(fused_layer, InstanceNormalization) and not isinstance(keras_layer, InstanceNormalization)
    for layer in (keras_layer, fused_layer):
        layer.build(x.shape)
    keras_layer.gamma.assign(rng.normal(1.0, 0.5, 5).astype(np.float32))
    keras_layer.beta.assign(rng.normal(0.0, 0.5, 5).astype(np.float32))
    fused_layer.set_weights(keras_layer.get_weights())
    expected_y, expected_grads = _norm_and_gradients(keras_layer, x, batch_known)
    got_y, got_grads = _norm_and_gradients(fused_layer, x, batch_known)
    np.testing.assert_allclose(got_y, expected_y, rtol=1e-5, atol=1e-5)
    for name, got, expected in zip(("input", "gamma", "beta"), got_grads, expected_grads, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=name)


def test_fused_instance_norm_in_bfloat16_and_its_config():
    x = np.random.default_rng(4).normal(3.0, 2.0, (2, 16, 16, 8)).astype(np.float32)
    reference = instance_norm("r", fused=False)
    reference.build(x.shape)
    mixed = InstanceNormalization(dtype="mixed_bfloat16", name="m")
    mixed.build(x.shape)
    mixed.set_weights(reference.get_weights())
    y = mixed(x)
    assert y.dtype == tf.bfloat16
    # Statistics in float32 inside the kernel: only the bfloat16 rounding of input and output remains.
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), reference(x).numpy(), atol=0.03)
    clone = InstanceNormalization.from_config(mixed.get_config())
    assert clone.groups == -1 and clone.epsilon == mixed.epsilon
    with pytest.raises(ValueError, match="groups=2"):
        InstanceNormalization(groups=2)


def test_encoder_weights_from_file_and_sharing(vgg_weights_file):
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    reference.load_weights(vgg_weights_file)
    loaded = build_vgg16(str(vgg_weights_file), 32)
    for a, b in zip(reference.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    gen_g, gen_f = build_generators(GeneratorConfig(encoder_weights=str(vgg_weights_file)), 32)
    assert gen_g.get_layer("shared_encoder") is gen_f.get_layer("shared_encoder")
    gen_g, gen_f = build_generators(GeneratorConfig(encoder_weights="random"), 32)
    assert gen_g.get_layer("gen_photo2monet_encoder") is not gen_f.get_layer("gen_monet2photo_encoder")


def test_legacy_h5_weights_file_loads(tmp_path):
    # The file Keras caches for `imagenet` is a legacy HDF5 weights file; a user may point at it directly.
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    loaded = build_vgg16(str(path), 32)
    np.testing.assert_array_equal(loaded.get_layer("block5_conv3").kernel.numpy(), model.get_layer("block5_conv3").kernel.numpy())


def test_missing_or_wrong_weights_file(tmp_path):
    with pytest.raises(EncoderWeightsError, match="no such file"):
        build_vgg16(str(tmp_path / "absent.weights.h5"), 32)
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(EncoderWeightsError, match="not a VGG16 no-top weights file"):
        build_vgg16(str(path), 32)


def test_imagenet_unavailable_fails_before_training_with_instructions(monkeypatch):
    real_vgg16 = keras.applications.VGG16

    def offline_vgg16(*args, weights="imagenet", **kwargs):
        if weights == "imagenet":
            raise Exception("URL fetch failure on https://storage.googleapis.com/...: [Errno -2] Name or service not known")
        return real_vgg16(*args, weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG16", offline_vgg16)
    with pytest.raises(EncoderWeightsError) as err:
        build_vgg16("imagenet", 32)
    message = str(err.value)
    assert "generator.encoder_weights" in message and "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "Name or service not known" in message

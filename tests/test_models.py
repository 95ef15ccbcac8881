"""Networks: shapes for every option, instance norm's formula, weights loading and its errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cyclegan.config import DiscriminatorConfig, GeneratorConfig
from cyclegan.models import (
    EncoderWeightsError,
    build_discriminator,
    build_generator,
    build_generators,
    build_vgg16,
    instance_norm,
)


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


@pytest.mark.parametrize(("output", "size", "shape"), [("patch", 256, (1, 16, 16, 1)), ("patch", 64, (1, 4, 4, 1)), ("scalar", 64, (1, 1))])
def test_discriminator_output(output, size, shape):
    model = build_discriminator(DiscriminatorConfig(output=output), size, "d")
    assert tuple(model(np.zeros((1, size, size, 3), np.float32)).shape) == shape


def test_instance_norm_matches_its_formula():
    layer = instance_norm("n")
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
    from keras.src.legacy.saving import legacy_h5_format
    import h5py

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

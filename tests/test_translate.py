"""The batched translator: one trace per translator, every batch size through it, and no false
"excessive retracing" warning when a process makes many translators (a study worker does)."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclegan.core.translate import FixedImagesTranslator, GeneratorForward, Translator


def _generator():
    inputs = keras.Input((16, 16, 3))
    return keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inputs))


def test_many_translators_trace_once_each_without_a_retracing_warning(caplog):
    generator = _generator()
    images = np.random.default_rng(0).random((19, 16, 16, 3), dtype=np.float32)
    expected = generator(images, training=False).numpy()
    with caplog.at_level(logging.WARNING):
        for _ in range(8):  # TensorFlow warns after 5 traces of the same code
            translator = Translator(generator, batch_size=8)  # batches of 8, 8 and 3: one trace
            np.testing.assert_allclose(translator(images), expected, atol=1e-6)
            assert translator._call.experimental_get_tracing_count() == 1
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    tf.get_logger().warning("5 out of the last 5 calls to <function f> triggered tf.function retracing.")
    assert any("retracing" in r.getMessage() for r in caplog.records)  # another function's warning still shows


def test_a_translator_refuses_the_traced_functions_of_another_generator():
    one, other = _generator(), _generator()
    images = np.zeros((2, 16, 16, 3), np.float32)
    for make in (lambda forward: Translator(one, forward=forward), lambda forward: FixedImagesTranslator(one, images, forward=forward)):
        with pytest.raises(ValueError, match=f"{other.name}.*not.*{one.name}"):
            make(GeneratorForward(other))
        make(GeneratorForward(one))  # its own are taken


def _generators(tiny_config, **generator):
    from cyclegan.core.models import build_generators

    config = tiny_config.generator.model_copy(update=generator)
    return build_generators(config, tiny_config.data.image_size, seed=tiny_config.train.seed)


@pytest.mark.parametrize("encoder_weights", ["file", "random"])
def test_fixed_images_translator_keeps_a_frozen_encoders_features_and_reads_the_decoder_each_call(tiny_config, encoder_weights):
    from cyclegan.core.models import frozen_encoder_parts

    update = {} if encoder_weights == "file" else {"encoder_weights": "random"}
    generator, _ = _generators(tiny_config, **update)
    images = np.random.default_rng(1).random((19, 32, 32, 3), dtype=np.float32)
    fixed = FixedImagesTranslator(generator, images, batch_size=8)  # batches of 8, 8 and 3
    assert fixed.caches_features
    np.testing.assert_allclose(fixed(), Translator(generator)(images), atol=1e-6)
    encoder, decoder = frozen_encoder_parts(generator)
    # Training changes the decoder: the next call shows it, and still equals the whole generator.
    decoder.set_weights([w + 0.01 for w in decoder.get_weights()])
    after_training = Translator(generator)(images)
    assert np.abs(after_training - fixed()).max() < 1e-6 < np.abs(after_training - fixed.images).max()
    # The encoder's features were kept, not recomputed: a changed encoder (which training never
    # makes) does not show in the fixed translator, and does in the whole generator.
    encoder.set_weights([w * 0.5 for w in encoder.get_weights()])
    assert np.abs(fixed() - after_training).max() < 1e-6 < np.abs(Translator(generator)(images) - after_training).max()
    assert fixed.forward.encode.experimental_get_tracing_count() == 1 and fixed.forward.decode.experimental_get_tracing_count() == 1
    # Another translator of the same generator on its functions traces nothing more.
    other = FixedImagesTranslator(generator, images[:3], forward=fixed.forward)
    np.testing.assert_allclose(other(), Translator(generator)(images[:3]), atol=1e-6)
    assert fixed.forward.encode.experimental_get_tracing_count() == 1 and fixed.forward.decode.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("case", ["trainable encoder", "resnet", "over the memory cap"])
def test_fixed_images_translator_translates_whole_when_features_cannot_or_should_not_be_kept(tiny_config, case):
    update = {"trainable encoder": {"encoder_trainable": True}, "resnet": {"arch": "resnet", "encoder_weights": "imagenet"}}.get(case, {})
    generator, _ = _generators(tiny_config, **update)
    images = np.random.default_rng(2).random((5, 32, 32, 3), dtype=np.float32)
    cap = {"cache_bytes": 5 * 32 * 32 * 64 * 4} if case == "over the memory cap" else {}  # the largest skip alone: all five hold more
    fixed = FixedImagesTranslator(generator, images, **cap)
    assert not fixed.caches_features
    np.testing.assert_allclose(fixed(), Translator(generator)(images), atol=1e-6)
    if case == "trainable encoder":
        from cyclegan.core.models import encoder_of

        encoder = encoder_of(generator)
        encoder.set_weights([w * 0.5 for w in encoder.get_weights()])  # training would: it shows at once
        np.testing.assert_allclose(fixed(), Translator(generator)(images), atol=1e-6)

"""The batched translator: one trace per translator, every batch size through it, and no false
"excessive retracing" warning when a process makes many translators (a study worker does)."""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from cyclegan.core.translate import Translator


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

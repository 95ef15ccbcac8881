"""Loading a weights file into a built network: all of it or an error, never a partial load.

Keras only warns when part of a file does not match the network (one ``UserWarning`` per layer,
dozens for a file of another network) and leaves those layers as they were: a generator, encoder or
InceptionV3 that is half random. Here every such warning is an error, and the error's text is cut
to its first line (Keras lists every layer it skipped) for the caller's one-line message.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras


def load_weights_strictly(model: keras.Model, path: str | Path) -> None:
    """``model.load_weights(path)``, with Keras' warnings of a mismatch (``UserWarning``) raised as an
    error; other warnings (a deprecation) stay warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.load_weights(str(path))


def first_line(err: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (at most ``limit`` characters)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:limit]}" if text else type(err).__name__

"""Whether a run folder stores its generators' frozen encoders, and the proof that one rebuilt
from its seed is the one the run trained with.

A frozen encoder is never stored when it can be rebuilt: from its weights file (ImageNet or a
file, fingerprinted in the run's identity) or, for ``generator.encoder_weights=random``, from the
run's seed (:func:`cyclegan.core.models.random_encoder_seed`). For the random case the run folder
records each generator's encoder fingerprint in ``random_encoders.json`` when the run starts;
resuming or loading compares the rebuilt encoder with it and refuses a difference (a different
NumPy would draw other numbers), so a decoder is never paired with an encoder it was not trained on.

Run folders of earlier versions stored random encoders with their decoders and have no such file:
they keep that layout (read and written whole) to the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import keras

from cyclegan.atomic import atomic_write_text
from cyclegan.core.models import encoder_is_rebuildable, encoder_of, weights_fingerprint
from cyclegan.core.runfolder.layout import RunDir
from cyclegan.errors import CycleganError
from cyclegan.spec.config import RunConfig


class RandomEncoderMismatchError(CycleganError, RuntimeError):
    """A random encoder rebuilt from its seed differs from the one the run trained with."""


def fingerprints(generators: Sequence[keras.Model]) -> dict[str, str]:
    """{generator name: SHA-256 of its encoder's weights} (U-Net generators only)."""
    return {g.name: weights_fingerprint(encoder) for g in generators if (encoder := encoder_of(g)) is not None}


def encoder_left_out(run: RunDir, config: RunConfig, generators: Sequence[keras.Model], *, starting: bool) -> bool:
    """Whether ``run``'s checkpoints and generator files hold the generators without their frozen
    encoder. ``starting``: called by the trainer before its first save, which records the random
    encoders' fingerprints in a run folder that has not trained yet."""
    if not encoder_is_rebuildable(config.generator):
        return False
    if config.generator.encoder_weights != "random":
        return True
    record = run.random_encoders_file
    rebuilt = fingerprints(generators)
    if record.is_file():
        try:
            recorded = json.loads(record.read_text())
        except ValueError as err:
            raise RandomEncoderMismatchError(f"{record}: unreadable ({err}); without it the run's random encoders cannot be checked") from None
        wrong = sorted(name for name, value in rebuilt.items() if recorded.get(name) != value)
        if wrong:
            raise RandomEncoderMismatchError(
                f"{record}: the random encoder(s) of {', '.join(wrong)} rebuilt from train.seed={config.train.seed} "
                "differ from the ones this run trained with (another NumPy version draws other numbers?). "
                "Rebuild with the NumPy the run was trained with, or train the run again (--restart)."
            )
        return True
    if starting and not run.has_trained():
        atomic_write_text(record, json.dumps(rebuilt, indent=1, sort_keys=True))
        return True
    return False  # an earlier version's run folder: its random encoders are stored with their decoders

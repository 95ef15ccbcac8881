"""The learning rate of each mini-epoch: constant, or the reference CycleGAN's linear decay.

Pure Python (no TensorFlow): the trainer assigns the value to both Adams at the start of every
mini-epoch, so the rate is a function of the mini-epoch alone and a resumed run continues on it.
"""

from __future__ import annotations

import math

from cyclegan.spec.config import OptimizerConfig


def lr_factor(mini_epoch: int, mini_epochs: int, schedule: str, decay_start: float) -> float:
    """Multiplier of the base learning rate in ``mini_epoch`` (1-based, 1..mini_epochs), in (0, 1].

    ``constant``: 1. ``linear_decay``: 1 for the first ``floor(decay_start x mini_epochs)``
    mini-epochs (K), then ``1 - (m - K) / (mini_epochs - K + 1)``: a straight line that would reach
    0 one mini-epoch after the last, as in Zhu et al.'s code (``1 - max(0, epoch - n_epochs) /
    (n_epochs_decay + 1)``), so no mini-epoch trains at a rate of exactly 0."""
    if not 1 <= mini_epoch <= mini_epochs:
        raise ValueError(f"mini_epoch must be in 1..{mini_epochs}, got {mini_epoch}")
    if schedule == "constant":
        return 1.0
    if schedule != "linear_decay":
        raise ValueError(f"optimizer.schedule must be 'constant' or 'linear_decay', got {schedule!r}")
    constant_for = math.floor(decay_start * mini_epochs)
    if mini_epoch <= constant_for:
        return 1.0
    return 1.0 - (mini_epoch - constant_for) / (mini_epochs - constant_for + 1)


def learning_rates(config: OptimizerConfig, mini_epoch: int, mini_epochs: int) -> tuple[float, float]:
    """(generator, discriminator) learning rates of ``mini_epoch``."""
    factor = lr_factor(mini_epoch, mini_epochs, config.schedule, config.decay_start)
    return config.lr_generator * factor, config.lr_discriminator * factor

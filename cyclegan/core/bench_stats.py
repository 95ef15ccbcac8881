"""Pure figures of a benchmark's alternating rounds (no TensorFlow: the reference comparison's driver
imports them too).

A machine shared with other work speeds up and slows down within minutes, so a benchmark times its
variants and probes the machine in alternating rounds and pairs what ran close together in time:
a step's share of the conv throughput is its round's GFLOP/s over the probe taken just before that
round, and a speed ratio is two variants' times in the same round. Each figure is the median over
rounds with the range (lowest, highest) as its interval: few rounds, no distribution assumed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """The median of ``count`` samples and their range."""

    median: float
    low: float
    high: float
    count: int

    @property
    def relative_half_range(self) -> float:
        """Half the range over the median: 0.05 means the samples lie within about +-5%."""
        return (self.high - self.low) / 2 / self.median if self.median else float("nan")

    def format(self, scale: float = 1.0, digits: int = 0, unit: str = "") -> str:
        """``"74% (70-80%, 4 rounds)"`` for ``scale=100, unit="%"``."""
        f = f"{{:.{digits}f}}"
        middle, low, high = (f.format(v * scale) for v in (self.median, self.low, self.high))
        return f"{middle}{unit} ({low}-{high}{unit}, {self.count} rounds)"


def spread(samples: Sequence[float]) -> Spread:
    """Median and range of a non-empty sequence of finite samples."""
    if not samples:
        raise ValueError("spread of no samples")
    return Spread(statistics.median(samples), min(samples), max(samples), len(samples))


def round_shares(gflop_per_step: float, seconds_per_step: Sequence[float], probe_gflops: Sequence[float]) -> list[float]:
    """The step's share of the machine's conv throughput in each round: its achieved GFLOP/s
    (``gflop_per_step / seconds``) over the probe measured next to that round."""
    if len(seconds_per_step) != len(probe_gflops):
        raise ValueError(f"{len(seconds_per_step)} rounds of steps but {len(probe_gflops)} probes")
    return [gflop_per_step / seconds / probe for seconds, probe in zip(seconds_per_step, probe_gflops, strict=True)]


def round_ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Round-by-round ratios of two variants' figures timed in the same rounds (e.g. pairs/s of the
    project over pairs/s of the reference)."""
    if len(numerator) != len(denominator):
        raise ValueError(f"{len(numerator)} rounds against {len(denominator)}")
    return [a / b for a, b in zip(numerator, denominator, strict=True)]

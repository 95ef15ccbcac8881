"""The verdict rule's constants, defined once (docs/statistics.md states the rules; the report's rules
note is built from these values, so a change here changes what the report says)."""
from __future__ import annotations

ALPHA = 0.05  # significance level of every test that decides a verdict (after the family's correction)
MIN_G = 0.8  # smallest |Hedges' g| a confirmed or refuted-by-direction comparison needs ("large", Cohen)
POWER = 0.8  # the probability of a decision `seeds_needed` sizes a design for
LEVEL = 1 - ALPHA  # confidence level of the intervals shown beside a verdict
LEVEL_LABEL = f"{LEVEL:.0%}"  # how labels name it ("95%")
CORRECTIONS = ("holm", "bh")  # family-wise error (Holm's step-down, default) or false discovery rate (Benjamini-Hochberg)
DEFAULT_CORRECTION = "holm"

"""Seeding a run's initial weights without clearing TensorFlow's kernel caches.

Keras 3 draws the seed of every unseeded initializer (and so every network's initial weights) from
Python's ``random`` module; every random op of a run's graphs is stateless, keyed by the run's seed
(the data order, augmentation and image pools: ``cyclegan.core.pipeline``, ``image_pool``). So
Python's and NumPy's generators are all a run's draws depend on. ``keras.utils.set_random_seed``
seeds those too, and also calls ``tf.random.set_seed``, which nothing here draws from but which
clears the eager context's kernel caches: a study process's kept train step
(``cyclegan.core.step_reuse``) then re-instantiates its graph on its next call (measured: 2.39 s
instead of 0.29 s for the quick study's step on the 2-core AVX-512 machine). Tests check both
facts: the weights equal those after ``keras.utils.set_random_seed``, and the train step holds no
stateful random op (``tests/test_seeding.py``).
"""

from __future__ import annotations

import random

import numpy as np


def seed_weights(seed: int) -> None:
    """Seed what a run's initial weights are drawn from (Python's and NumPy's global generators)."""
    random.seed(seed)
    np.random.seed(seed)


# TensorFlow ops that draw from the global or an op-level stateful generator: a run's graph must hold
# none of them, or its numbers would depend on tf.random.set_seed, which seed_weights does not call.
STATEFUL_RANDOM_OPS = frozenset({
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "ParameterizedTruncatedNormal",
    "TruncatedNormal", "RandomShuffle", "RandomGamma", "RandomGammaGrad", "RandomPoisson", "RandomPoissonV2",
    "Multinomial", "RandomCrop", "StatefulUniform", "StatefulUniformInt", "StatefulUniformFullInt",
    "StatefulStandardNormal", "StatefulStandardNormalV2", "StatefulTruncatedNormal",
    "StatefulRandomBinomial", "RngSkip", "RngReadAndSkip", "ShuffleDataset", "ShuffleAndRepeatDataset",
})


def stateful_random_ops(graph_def) -> list[str]:
    """Names of the stateful random ops in ``graph_def`` and the functions of its library."""
    nodes = [*graph_def.node, *(node for function in graph_def.library.function for node in function.node_def)]
    return sorted({f"{node.name} ({node.op})" for node in nodes if node.op in STATEFUL_RANDOM_OPS})

"""Image metrics for the CycleGAN hypotheses (DESIGN section 5): pure functions on NumPy arrays.

Images are float arrays in [0, 1] of shape (N, H, W, 3). `score_batch` computes everything the
trainer logs per mini-epoch in one flat dict with stable key names; `BatchScorer` gives the same
numbers for many batches of outputs of one input set, preparing the fixed target side once.
"""

from __future__ import annotations

from cyclegan.metrics.batches import check_images, check_pair, luma
from cyclegan.metrics.collapse import (
    LAYOUT_ALPHA,
    SHARED_TEXTURE_LIMIT,
    collapse_scores,
    input_correlation,
    inter_image_diff,
)
from cyclegan.metrics.convergence import area_under_curve, epochs_to_within
from cyclegan.metrics.distribution import (
    LabWassersteinTarget,
    SlicedWassersteinTarget,
    lab_wasserstein,
    laplacian_pyramid,
    sliced_wasserstein,
)
from cyclegan.metrics.grid import (
    PERIODS,
    grid_excess,
    grid_scores,
    mean_log_spectrum,
    mean_power_spectrum,
)
from cyclegan.metrics.input_dependence import input_identifiability, layout_p_value
from cyclegan.metrics.sharpness import canny_edges, edge_f1, edge_scores, edge_sigma

__all__ = [
    "BatchScorer",
    "LabWassersteinTarget",
    "SlicedWassersteinTarget",
    "LAYOUT_ALPHA",
    "SHARED_TEXTURE_LIMIT",
    "PERIODS",
    "area_under_curve",
    "canny_edges",
    "check_images",
    "check_pair",
    "collapse_scores",
    "edge_f1",
    "edge_scores",
    "edge_sigma",
    "epochs_to_within",
    "grid_excess",
    "grid_scores",
    "input_correlation",
    "input_identifiability",
    "layout_p_value",
    "inter_image_diff",
    "lab_wasserstein",
    "laplacian_pyramid",
    "luma",
    "mean_log_spectrum",
    "mean_power_spectrum",
    "score_batch",
    "sliced_wasserstein",
]


def score_batch(outputs, inputs, target=None, *, seed: int = 0) -> dict[str, float | bool | int]:
    """Every per-batch metric in one flat, JSON-able dict.

    Args:
        outputs: generator outputs (N, H, W, 3) floats in [0, 1] (>= 64 images when available).
        inputs: the generator inputs, same shape, paired by index.
        target: optional images of the target domain (M, H, W, 3), same H and W; adds the
            distribution distances.
        seed: seeds the SWD / Lab subsampling (the other metrics are deterministic).
    Returns:
        Python scalars: grid_score, grid_delta_p2/p4/p8/p16 (nats), edge_sigma (px), edge_f1,
        mean_luma, black_fraction, luma_std_median, inter_image_diff, input_correlation,
        input_luma_std_median, input_inter_image_diff, contrast_ratio, input_identifiability,
        identifiability_p, shared_texture, collapse_kind (int: 0 not
        collapsed, 1 layout, 2 texture, 3 degenerate: black, flat or one picture), collapsed (bool), n_images (int); with target also swd (x1e3),
        lab_w_l, lab_w_a, lab_w_b. Undefined values are NaN (e.g. edge metrics without edges).
    Raises:
        ValueError: bad shapes, ranges, dtypes, empty or mismatched batches.
    """
    outputs, inputs = check_pair(outputs, inputs)  # the outputs' errors first, as callers read them
    return BatchScorer(inputs, target, seed=seed)(outputs)


class BatchScorer:
    """:func:`score_batch` for many batches of outputs of the same inputs and target, e.g. one
    evaluation per mini-epoch: the target's SWD side (pyramid, patch statistics, sorted
    projections; half the distance's cost) is prepared once, and the numbers are those of
    :func:`score_batch`.

    Args: ``inputs``, ``target`` and ``seed`` as in :func:`score_batch`.
    """

    def __init__(self, inputs, target=None, *, seed: int = 0):
        self.inputs = check_images(inputs, "inputs")
        self.seed = seed
        self.target = None if target is None else check_images(target, "target")
        if self.target is not None and self.target.shape[1:] != self.inputs.shape[1:]:
            raise ValueError(
                f"target images must have the outputs' shape {self.inputs.shape[1:]}, got {self.target.shape[1:]}"
            )
        # Outputs pair with inputs, so every batch has len(inputs) images.
        self.swd_target = None if self.target is None else SlicedWassersteinTarget(self.target, len(self.inputs), seed=seed)
        self.lab_target = None if self.target is None else LabWassersteinTarget(self.target, len(self.inputs), self.inputs.shape[1:], seed=seed)

    def __call__(self, outputs) -> dict[str, float | bool | int]:
        outputs, inputs = check_pair(outputs, self.inputs)
        scores: dict[str, float | bool | int] = {}
        scores.update(grid_scores(outputs, inputs))
        scores.update(edge_scores(outputs, inputs))
        scores.update(collapse_scores(outputs, inputs))
        scores["n_images"] = len(outputs)
        if self.swd_target is not None:
            scores["swd"] = self.swd_target.distance(outputs)["swd"]
            scores.update(self.lab_target.distance(outputs))
        return {k: v if isinstance(v, (bool, int)) else float(v) for k, v in scores.items()}

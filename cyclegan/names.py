"""The names the layers share, in one place: metric names, the run-folder and artifact layout,
store file names and tag names.

Standard library only, and it imports nothing of the project: the trainer writes these names, the
run layer logs them, the report and the tuner read them, and a person finds them in the MLflow UI.
Adding a metric means adding its name here (and computing it in ``cyclegan.metrics``).
"""

from __future__ import annotations

from pathlib import Path

# -- metrics ------------------------------------------------------------------------------------
# What the compiled train step returns, in this order (the trainer keeps running sums in it).
STEP_METRICS = (
    "loss/gen_g",
    "loss/gen_f",
    "loss/cycle",
    "loss/identity",
    "loss/generator_total",
    "loss/disc_monet",
    "loss/disc_photo",
    "acc/d_monet_real",
    "acc/d_monet_fake",
    "acc/d_photo_real",
    "acc/d_photo_fake",
)
EVAL_PREFIX = "eval/"
# ``cyclegan.metrics.score_batch``'s keys under EVAL_PREFIX: the held-out photos' scores per mini-epoch.
EVAL_METRICS = tuple(
    EVAL_PREFIX + k
    for k in (
        "grid_score", "grid_delta_p2", "grid_delta_p4", "grid_delta_p8", "grid_delta_p16",
        "edge_sigma", "edge_f1", "mean_luma", "black_fraction", "luma_std_median", "inter_image_diff",
        "input_correlation", "input_luma_std_median", "input_inter_image_diff", "contrast_ratio",
        "input_identifiability", "identifiability_p", "shared_texture",
        # collapse_kind: 0 not collapsed, 1 layout, 2 texture, 3 degenerate (black, flat or one picture).
        "collapse_kind", "collapsed", "n_images",
        "swd", "lab_w_l", "lab_w_a", "lab_w_b",
    )
)
# Inception-feature quality of the held-out photos' translations against the held-out paintings
# (cyclegan.metrics.quality; docs/metrics.md "Quality"), at the mini-epochs eval.quality_every selects.
QUALITY_METRICS = tuple(
    EVAL_PREFIX + k
    for k in ("kid", "kid_std", "kid_subset_size", "fid", "fid_n", "precision", "recall", "density", "coverage",
              "memorisation_distance", "memorisation_min")
)
KID = EVAL_PREFIX + "kid"
FID, PRECISION, RECALL = EVAL_PREFIX + "fid", EVAL_PREFIX + "precision", EVAL_PREFIX + "recall"
# H1's convergence read on quality: evaluated mini-epochs until KID stays within KID_MARGIN of its final value.
KID_EPOCHS_TO_MARGIN = "convergence/kid_epochs_to_margin"
KID_MARGIN = 0.01
QUALITY_SECONDS = "time/quality_seconds"  # per evaluated row: Inception features and the measures (inside eval_seconds)
INCEPTION_SHA256_TAG = "eval.inception_sha256"  # the Inception file's fingerprint, with every run that computed quality
INCEPTION_STANDIN_TAG = "eval.inception_standin"  # "true" when it is a random stand-in: its figures compare with nothing
CYCLE_AUC, CYCLE_EPOCHS_TO_10PCT = "convergence/cycle_auc", "convergence/cycle_epochs_to_10pct"
CYCLE_EPOCHS_TO_HALF = "convergence/cycle_epochs_to_half"  # speed that holds before a plateau
CONVERGENCE_METRICS = (CYCLE_AUC, CYCLE_EPOCHS_TO_10PCT, CYCLE_EPOCHS_TO_HALF)  # derived from the cycle-loss curve at the end
# Times to a mark: NaN when a run did not reach it within its budget (right-censored: the slow runs).
TIME_TO_MARK_METRICS = (CYCLE_EPOCHS_TO_10PCT, CYCLE_EPOCHS_TO_HALF, KID_EPOCHS_TO_MARGIN)
MINI_EPOCH_METRICS = (*STEP_METRICS, *EVAL_METRICS, *QUALITY_METRICS)  # logged at every (evaluated) mini-epoch
# KID_EPOCHS_TO_MARGIN is logged once at the end, like the convergence figures, but from the KID curve
# (the report recomputes only the cycle-loss figures per mini-epoch: a hypothesis on it takes settle: false).
FINAL_METRICS = (*MINI_EPOCH_METRICS, *CONVERGENCE_METRICS, KID_EPOCHS_TO_MARGIN)  # what a hypothesis may name
CYCLE_LOSS, GRID_SCORE, COLLAPSED = "loss/cycle", "eval/grid_score", "eval/collapsed"
LR_GENERATOR, LR_DISCRIMINATOR = "lr/generator", "lr/discriminator"  # each mini-epoch's rates (optimizer.schedule)
LR_METRICS = (LR_GENERATOR, LR_DISCRIMINATOR)
MINI_EPOCH_SECONDS = "time/mini_epoch_seconds"
RUN_SECONDS = "time/run_seconds"  # the report's sum of a run's mini-epoch times
# Time outside training steps, per mini-epoch row of history.csv (seconds) and for the whole run.
EVAL_SECONDS, SAMPLES_SECONDS, CHECKPOINT_SECONDS = "time/eval_seconds", "time/samples_seconds", "time/checkpoint_seconds"
BUILD_SECONDS, SAVE_SECONDS = "time/build_seconds", "time/save_seconds"  # once per run: networks + restore; generators
# A process's first step (first batch, tracing, compiling, the step itself): in the row of the mini-epoch
# it fell in, part of that row's "seconds" but counted outside training (it is start-up, not training).
FIRST_STEP_SECONDS = "time/first_step_seconds"
TRAIN_SECONDS, OUTSIDE_SECONDS = "time/train_seconds", "time/outside_training_seconds"  # run totals
OUTSIDE_SHARE = "time/outside_training_share"  # outside / (outside + train), in [0, 1]
# A tracked run's artifact and model logging after training (seconds): the tracker adds it to the
# trainer's outside figures before it logs them (MLflow's time/outside_* include it).
TRACKING_SECONDS = "time/tracking_seconds"
# The callbacks after each mini-epoch (MLflow metrics and sample image, Optuna pruning), this process: outside training.
CALLBACK_SECONDS = "time/callback_seconds"
# Once per process, after its last mini-epoch: closing the input pipeline (its threads end) and the
# convergence figures read back from history.csv: outside training.
FINISH_SECONDS = "time/finish_seconds"
# Run totals of the per-row figures above (history.csv summed, a resumed run's earlier rows included):
# what the report's machine-use line splits a study's time into.
TRACING_TOTAL_SECONDS = "time/tracing_seconds"  # every process's first step: tracing, compiling
EVAL_TOTAL_SECONDS, SAMPLES_TOTAL_SECONDS = "time/eval_total_seconds", "time/samples_total_seconds"
# The work a run asked of the machine, and what the machine could do (cyclegan.runs.lifecycle):
# GFLOP of one train step (TensorFlow's count), of all the run's steps, and the conv probe's GFLOP/s
# measured by the process that trained it, in the precision its convolutions compute in.
STEP_GFLOP, TRAIN_GFLOP, CONV_GFLOPS = "perf/step_gflop", "perf/train_gflop", "perf/conv_gflops"
TUNE_OBJECTIVE = "tune/objective"
HISTORY_INDEX = ("mini_epoch", "step")  # history.csv columns that are counters, not metrics

# -- a run folder -------------------------------------------------------------------------------
CONFIG_FILE, IDENTITY_FILE, HISTORY_FILE = "config.yaml", "identity.json", "history.csv"
SAMPLES_DIR, CHECKPOINTS_DIR, MODELS_DIR = "samples", "checkpoints", "models"
EVAL_OUTPUTS_DIR = "eval/photo2monet"  # final translations of the held-out photos (lossless PNG)
GENERATORS = ("gen_photo2monet", "gen_monet2photo")  # G and F, as files in MODELS_DIR
GENERATOR_WEIGHTS_SUFFIX = ".weights.h5"  # MODELS_DIR/<generator>.weights.h5: trainable part only
MODELS_POINTER = "stored_elsewhere.json"  # in MODELS_DIR once a study cell's MLflow run holds the weights
INCEPTION_RECORD = "inception.json"  # the quality metrics' Inception file: name, SHA-256, stand-in or not
RANDOM_ENCODERS_FILE = "random_encoders.json"  # fingerprints of frozen random encoders rebuilt from their seed
PRECISION_FILE = "precision.txt"  # what train.precision resolved to on the machine that started the run
CHECKPOINT_MANIFEST = "manifest.json"  # in CHECKPOINTS_DIR: each checkpoint's files, sizes, SHA-256


def sample_grid_name(mini_epoch: int) -> str:
    return f"mini_epoch_{mini_epoch:04d}.png"


SAMPLE_GRID_GLOB = "mini_epoch_*.png"

# -- RUNS_DIR: stores and studies ---------------------------------------------------------------
MLFLOW_DB, MLFLOW_ARTIFACTS, OPTUNA_DB = "mlflow.db", "mlartifacts", "optuna.db"
STUDY_CELLS, STUDY_TRIALS, STUDY_REPORT = "cells", "trials", "report"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (:func:`sqlite_url`'s inverse), else None."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def cell_dir(runs_dir: Path, study: str, cell_id: str) -> Path:
    return runs_dir / study / STUDY_CELLS / cell_id


def trial_dir(runs_dir: Path, study: str, number: int) -> Path:
    return runs_dir / study / STUDY_TRIALS / str(number)


def report_dir(runs_dir: Path, study: str) -> Path:
    return runs_dir / study / STUDY_REPORT


# -- MLflow: artifacts and tags -----------------------------------------------------------------
SAMPLES_KEY = "samples"  # the image key of the per-mini-epoch sample grid
ARTIFACT_MODELS, ARTIFACT_EVAL_OUTPUTS = MODELS_DIR, EVAL_OUTPUTS_DIR
ROLE_TAG, STUDY_TAG, CELL_TAG, SEED_TAG = "role", "study", "cell", "seed"
ROLE_PARENT, ROLE_CELL, ROLE_TRIAL = "parent", "cell", "trial"
TRIAL_TAG = "trial"  # a tuning trial's Optuna number
FAILURE_TAG = "failure_reason"
MACHINE_TAG, PRECISION_TAG = "machine", "precision_resolved"  # where a cell last trained, and what "auto" became
HOST_TAG = "host"  # the host name a cell last trained on: a study's machine use is stated for one machine
TRIAL_STATE_TAG, PRUNE_REASON_TAG, RETRY_OF_TAG = "state", "prune_reason", "retry_of"
# Provenance of every run (cyclegan.runs.provenance): the package version and a hash of its .py files.
VERSION_TAG, CODE_TAG = "cyclegan.version", "cyclegan.code_fingerprint"
# The sample grids as artifacts under names the project chooses: SAMPLES_ARTIFACT/sample_grid_name(k).
SAMPLES_ARTIFACT = SAMPLES_DIR
# The study's answer on its parent run (cyclegan.runs.publish, docs/storage.md "MLflow"): per hypothesis NAME the
# tag VERDICT_PREFIX + NAME (confirmed | refuted | inconclusive) and the metrics VERDICT_PREFIX + NAME + "." + field.
VERDICT_PREFIX = "verdict."
# p_adjusted decides a confirmatory hypothesis (NaN for an exploratory one); superiority is P(A > B).
VERDICT_FIELDS = ("difference", "ci_low", "ci_high", "hedges_g", "p_value", "p_adjusted", "p_equivalence",
                  "p_equivalence_adjusted", "superiority", "superiority_low", "superiority_high", "pairs_won", "pairs",
                  "n_a", "n_b")
REPORT_ARTIFACT = STUDY_REPORT  # the report files and cells.csv on the parent run
# With what it publishes, the report records which version of the study file produced it.
REPORT_STUDY_SHA256_TAG, REPORT_STUDY_FILE_TAG = "report.study_sha256", "report.study_file"
CELLS_CSV = "cells.csv"
# Datasets logged as run inputs: one per domain, with this context tag value.
DATASET_CONTEXT = "train"

# -- files --------------------------------------------------------------------------------------
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # what datasets, translate and the metrics read

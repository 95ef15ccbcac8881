"""How close a study came to what its machine can do, from the figures every finished run records.

A run records the FLOPs of all its train steps (``perf/train_gflop``, TensorFlow's count on the
traced step) and the conv throughput its process measured before it trained (``perf/conv_gflops``, a
short 3x3 convolution in the precision the run computes in; cyclegan.runs.lifecycle), besides where its own
time went (``time/*``). The study's machine use is

    sum over runs of train_gflop / probe   (the seconds the training math needs at the probe's speed)
    ------------------------------------------------------------------------------------------------
    the study's wall time                  (the union of its runs' start-to-end spans)

A probe taken while other work shares the machine reads low (a second worker of the same study
is such work), so the probe of a precision is the highest any run of the study measured on its
host: the closest to what the machine can do; when the study's runs trained beside each other the
line says the share is an upper bound. The union of spans leaves out time between separate
``ablate`` commands but counts a resumed run's pause; a study whose runs trained on several hosts
has no single machine to compare with, and gets no figure.

The rest of the time is split by the runs' ``time/*`` totals, as shares of the runs' summed spans:
training steps (with their own speed as a share of the probe), tracing and compiling, evaluation
and sample grids, logging to MLflow, checkpoints and saving, building and restoring, and "other":
what no stopwatch covers (a process's start and imports, the queue, opening and closing MLflow runs,
the probe; for a resumed run, its pause and its earlier processes' own totals).
Pure: a DataFrame of runs in, figures out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cyclegan import names

# The parts of a run's time, each the sum of its ``time/*`` run totals.
PARTS: dict[str, tuple[str, ...]] = {
    "training steps": (names.TRAIN_SECONDS,),
    "tracing and compiling": (names.TRACING_TOTAL_SECONDS,),
    "evaluation and sample grids": (names.EVAL_TOTAL_SECONDS, names.SAMPLES_TOTAL_SECONDS),
    "logging to MLflow": (names.CALLBACK_SECONDS, names.TRACKING_SECONDS),
    "checkpoints and saving": (names.CHECKPOINT_SECONDS, names.SAVE_SECONDS),
    "building and restoring": (names.BUILD_SECONDS, names.FINISH_SECONDS),
}
OTHER = "other"
# Runs that overlapped this much (summed spans over the wall time) trained beside each other: a probe
# taken by one read the machine while another trained. Below it, the overlap is a process handing over.
OVERLAP_NOTED = 1.2
REQUIRED = (names.TRAIN_GFLOP, names.CONV_GFLOPS, names.HOST_TAG, names.PRECISION_TAG,
            *(column for columns in PARTS.values() for column in columns))


@dataclass(frozen=True)
class MachineUse:
    share: float  # of the machine's measured conv throughput over the study's wall time
    train_tflop: float
    wall_seconds: float
    probes: dict[str, float]  # precision resolved -> the highest probe (GFLOP/s)
    host: str
    runs: int
    steps_share: float  # the training steps' own speed over the probe
    parts: dict[str, float]  # share of the runs' summed spans, PARTS then OTHER (the rest, never below 0)
    overlap: float  # the runs' summed spans over the wall time: how many trained at once, on average

    def sentence(self) -> str:
        probes = ", ".join(f"{gflops:.0f} GFLOP/s in {precision}" for precision, gflops in self.probes.items())
        parts = ", ".join(f"{name} {share:.0%}" + (f" (at {self.steps_share:.0%} of the probe's speed)" if name == "training steps" else "")
                          for name, share in self.parts.items())
        shared = (f"; {self.overlap:.1f} runs trained at once on average, so each probe shared the machine with "
                  "other runs and read low: the share is an upper bound" if self.overlap > OVERLAP_NOTED else "")
        return (f"this study used {self.share:.0%} of the machine's measured conv throughput "
                f"({self.train_tflop:.3g} TFLOP of training steps in {self.wall_seconds / 60:.1f} min of wall time, {self.runs} runs "
                f"on {self.host}; probe {probes}{shared}); the runs' time went to: {parts}")


def wall_seconds(starts_ms, ends_ms) -> float:
    """The length of the union of the spans [start, end] (milliseconds since the epoch), in seconds."""
    total, reach = 0.0, -np.inf
    for start, end in sorted(zip(starts_ms, ends_ms, strict=True)):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total / 1000.0


def missing_figures(runs: pd.DataFrame) -> str | None:
    """Why the study's machine use cannot be stated, or None when it can."""
    finished = runs[runs["status"] == "FINISHED"] if "status" in runs else runs.iloc[:0]
    if finished.empty:
        return "no finished run"
    absent = [c for c in REQUIRED if c not in finished]
    lacking = len(finished) if absent else int(finished[list(REQUIRED)].isna().any(axis=1).sum())
    if lacking:
        return (f"not recorded for {lacking} of {len(finished)} finished runs (trained by a version before the figures "
                "existed, or finished by a process that trained none of their steps)")
    hosts = finished[names.HOST_TAG].unique()
    if len(hosts) > 1:
        return f"the runs trained on {len(hosts)} hosts; it is stated for one machine"
    if finished[["start_time", "end_time"]].isna().any(axis=None):
        return "a finished run has no start or end time"
    return None


def machine_use(runs: pd.DataFrame) -> MachineUse | None:
    """The study's machine use from its runs (``load_study_runs``' columns), over its finished runs;
    None when :func:`missing_figures` says why not."""
    if missing_figures(runs) is not None:
        return None
    finished = runs[runs["status"] == "FINISHED"]
    probes = finished.groupby(names.PRECISION_TAG)[names.CONV_GFLOPS].max().to_dict()
    ideal_seconds = finished[names.TRAIN_GFLOP] / finished[names.PRECISION_TAG].map(probes)
    wall = wall_seconds(finished["start_time"], finished["end_time"])
    spans = float(((finished["end_time"] - finished["start_time"]) / 1000.0).sum())
    parts = {name: float(finished[list(columns)].sum(axis=1).sum()) / spans if spans > 0 else float("nan")
             for name, columns in PARTS.items()}
    parts[OTHER] = max(0.0, 1.0 - sum(parts.values()))
    train_seconds = float(finished[names.TRAIN_SECONDS].sum())  # each process's first step is under tracing
    return MachineUse(share=float(ideal_seconds.sum()) / wall if wall > 0 else float("nan"),
                      train_tflop=float(finished[names.TRAIN_GFLOP].sum()) / 1000.0, wall_seconds=wall,
                      probes={str(k): float(v) for k, v in probes.items()}, host=str(finished[names.HOST_TAG].iloc[0]),
                      runs=len(finished), steps_share=float(ideal_seconds.sum()) / train_seconds if train_seconds > 0 else float("nan"),
                      parts=parts, overlap=spans / wall if wall > 0 else float("nan"))


def describe(runs: pd.DataFrame) -> str:
    """The report's machine-use line: the figure, or why there is none."""
    use = machine_use(runs)
    return use.sentence() if use is not None else f"not stated: {missing_figures(runs)}"

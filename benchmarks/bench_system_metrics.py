"""Cost of MLflow's system-metrics monitor on the train step: `cyclegan bench`'s timing with the
monitor off, then on (at the tracker's interval and at a 10x faster one), alternating.

Usage: python benchmarks/bench_system_metrics.py [--size 64] [--steps 20] [--rounds 3]

Offline: the random-encoder config of the bench, a throwaway SQLite store in a temporary folder.
Prints ms/step per setting and the ratio to "off".
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import mlflow
import mlflow.system_metrics

from cyclegan.core.bench import bench
from cyclegan.runs.tracking import SYSTEM_METRICS_SECONDS
from cyclegan.spec.config import build_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = build_config({"data": {"image_size": args.size}, "generator": {"encoder_weights": "random"}, "train": {"batch_size": 1}})
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        timings: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for label, interval in (("off", None), (f"on, {SYSTEM_METRICS_SECONDS} s", SYSTEM_METRICS_SECONDS),
                                    (f"on, {SYSTEM_METRICS_SECONDS / 10:g} s", SYSTEM_METRICS_SECONDS / 10)):
                if interval is None:
                    result = bench({"step": config}, steps=args.steps, rounds=1)
                else:
                    mlflow.system_metrics.set_system_metrics_sampling_interval(interval)
                    mlflow.system_metrics.set_system_metrics_samples_before_logging(1)
                    with mlflow.start_run(log_system_metrics=True):
                        result = bench({"step": config}, steps=args.steps, rounds=1)
                timings.setdefault(label, []).append(result.variants[0].ms_per_step)
    base = min(timings["off"])
    for label, values in timings.items():
        print(f"{label:>10}: {min(values):8.1f} ms/step (best of {len(values)}; all {', '.join(f'{v:.1f}' for v in values)})  ratio {min(values) / base:.3f}")


if __name__ == "__main__":
    main()

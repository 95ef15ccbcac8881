"""This project's train step against the reference PyTorch CycleGAN's, on this machine (`make bench-reference`).

    python benchmarks/reference/compare.py --reference-python .venv-reference/bin/python [--rounds 5] [--steps 2]

Four kinds of timing process (benchmarks/reference/worker.py): the PyTorch step (torch_step.py) and
this project's (`cyclegan bench`'s StepTimer), each with its framework's default threads and with
equal thread counts (--threads, default: the core count; 1 thread between ops). Each builds both
models: the paper's ResNet-9 CycleGAN and the project's seed U-Net on VGG16, at 256x256, batch 1,
float32 (the project's step in ``--precision``: ``auto`` times what the project would run on this
machine, bfloat16 where the CPU has it, against the reference as its users run it). Then rounds
alternate between them: in each round every process first measures its framework's float32 conv
throughput (a short probe), then each model's step runs ``--steps`` steps
in every process, the framework that goes first swapping from round to round. Figures are medians
over rounds with their range; the ratio project/reference is taken round by round (the two ran
minutes apart at most), as is each step's share of its own framework's float32 conv probe (a
bfloat16 step can read above 100%).

Run it under the project's Python (it imports cyclegan.core.bench_stats); how to read the figures:
docs/development.md "Speed against the reference".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cyclegan.core.bench_stats import Spread, round_ratios, round_shares, spread
from cyclegan.host import describe_cpu

HERE = Path(__file__).resolve().parent
FRAMEWORKS = ("reference", "project")  # reference: PyTorch; project: cyclegan on TensorFlow
MODELS = ("resnet", "vgg_unet")


class Worker:
    """A worker.py process: one framework at one thread setting, answering one JSON line per request."""

    def __init__(self, python: str, framework: str, threads: str, args: argparse.Namespace, log_dir: Path):
        self.name = f"{framework}/{threads}"
        self.log = log_dir / f"{framework}-{threads}.log"
        kind = "torch" if framework == "reference" else "project"
        command = [python, str(HERE / "worker.py"), kind, "--size", str(args.size), "--threads", threads,
                   "--probe-repeats", str(args.probe_repeats)]
        if kind == "project":
            command += ["--precision", args.precision]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, cwd=HERE)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            tail = self.log.read_text().strip().splitlines()[-3:]
            raise SystemExit(f"bench-reference: the {self.name} worker stopped ({' | '.join(tail) or 'no output'}); log: {self.log}")
        return json.loads(line)

    def ask(self, **request) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", required=True, help="Python of the reference virtualenv (with torch).")
    parser.add_argument("--project-python", default=sys.executable, help="Python with this project installed (default: this one).")
    parser.add_argument("--size", type=int, default=256, help="Image side (default 256: the paper's).")
    parser.add_argument("--rounds", type=int, default=5, help="Timed rounds (default 5).")
    parser.add_argument("--steps", type=int, default=2, help="Steps per model, framework and round (default 2).")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="The equal thread count (default: the cores).")
    parser.add_argument("--modes", default="default,equal", help="Thread settings to time: default, equal or both (default).")
    parser.add_argument("--models", default=",".join(MODELS), help="Models to time (default: resnet,vgg_unet).")
    parser.add_argument("--precision", default="float32", choices=("float32", "auto", "mixed_bfloat16", "mixed_float16"),
                        help="The project's train.precision (default float32, the reference's; auto: the machine's best).")
    parser.add_argument("--probe-repeats", type=int, default=10, help="Convolutions per conv probe (default 10).")
    parser.add_argument("--json", type=Path, default=None, help="Also write every round's figures to this file.")
    parser.add_argument("-v", "--verbose", action="store_true", help="A line per round on stderr.")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if bad := [m for m in args.modes if m not in ("default", "equal")]:
        parser.error(f"--modes: unknown {', '.join(bad)} (expected default, equal)")
    if bad := [m for m in args.models if m not in MODELS]:
        parser.error(f"--models: unknown {', '.join(bad)} (expected {', '.join(MODELS)})")
    if min(args.rounds, args.steps, args.threads, args.probe_repeats) < 1:
        parser.error("--rounds, --steps, --threads and --probe-repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load_start, started = os.getloadavg(), time.perf_counter()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-reference-"))
    pythons = {"reference": os.path.abspath(args.reference_python), "project": os.path.abspath(args.project_python)}
    workers: dict[tuple[str, str], Worker] = {}
    try:
        for mode in args.modes:
            threads = "default" if mode == "default" else str(args.threads)
            for framework in FRAMEWORKS:  # one at a time: building and tracing is timed too
                workers[framework, mode] = Worker(pythons[framework], framework, threads, args, log_dir)
        samples = {key: {"probe": [], **{m: [] for m in args.models}} for key in workers}
        for round_index in range(args.rounds):
            order = FRAMEWORKS if round_index % 2 == 0 else FRAMEWORKS[::-1]
            for mode in args.modes:
                for framework in order:
                    samples[framework, mode]["probe"].append(workers[framework, mode].ask(cmd="probe")["gflops"])
                for model in args.models:
                    for framework in order:
                        answer = workers[framework, mode].ask(cmd="run", model=model, steps=args.steps)
                        samples[framework, mode][model].append(answer["seconds_per_step"])
            if args.verbose:
                print(f"round {round_index + 1}/{args.rounds} done after {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        for worker in workers.values():
            worker.close()
    info = {key: worker.info for key, worker in workers.items()}
    print(report(args, info, samples, load_start, os.getloadavg(), time.perf_counter() - started))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "info": {"/".join(k): v for k, v in info.items()},
                                         "samples": {"/".join(k): v for k, v in samples.items()}}, indent=1))


def report(args, info: dict, samples: dict, load_start, load_end, seconds: float) -> str:
    lines = [
        f"machine: {describe_cpu()}; load average (1, 5, 15 min) {_load(load_start)} at start, {_load(load_end)} at end",
        f"{args.size}x{args.size}, batch 1, reference float32, project {_precision(args, info)}; {args.rounds} rounds of {args.steps} steps per model and framework; "
        f"{seconds / 60:.1f} min in all",
    ]
    for (framework, mode), worker_info in info.items():
        lines.append(f"{framework} {mode}: {worker_info['framework']}, {worker_info['threads']} threads in ops, "
                     f"{worker_info['interop_threads']} between")
    first = {framework: info[framework, args.modes[0]] for framework in FRAMEWORKS}
    for model in args.models:
        ref, own = first["reference"]["models"][model], first["project"]["models"][model]
        lines.append(f"{model}: parameters per generator / discriminator: reference {ref['params']['generator']:,} / "
                     f"{ref['params']['discriminator']:,}, project {own['params']['generator']:,} / {own['params']['discriminator']:,}; "
                     f"project settings: {' '.join(own['overrides'])}")
    for note in dict.fromkeys(n for i in info.values() for n in i.get("notes", [])):
        lines.append(f"note: {note}")
    lines += ["", f"{'model':9s} {'threads':8s} {'framework':10s} {'pairs/s':>8s} {'ms/step (range over rounds)':>30s} "
                  f"{'GFLOP/step':>10s} {'GFLOP/s':>8s}  share of its framework's conv probe"]
    for model in args.models:
        for mode in args.modes:
            for framework in FRAMEWORKS:
                figures = samples[framework, mode]
                gflop = info[framework, mode]["models"][model]["gflop"]
                ms = spread([1000 * s for s in figures[model]])
                share = spread(round_shares(gflop, figures[model], figures["probe"]))
                lines.append(f"{model:9s} {mode:8s} {framework:10s} {1000 / ms.median:8.3f} {ms.format():>30s} {gflop:10.0f} "
                             f"{gflop * 1000 / ms.median:8.1f}  {share.format(scale=100, unit='%')}")
    lines.append("")
    for mode in args.modes:
        probes = {f: spread(samples[f, mode]["probe"]) for f in FRAMEWORKS}
        lines.append(f"conv probe (float32 3x3 256->256 on 4x64x64), {mode} threads: "
                     + ", ".join(f"{f} {p.format(unit=' GFLOP/s')}" for f, p in probes.items()))
    lines.append("")
    lines.append("speed ratio project/reference (pairs/s in the same round; above 1: the project is faster):")
    for model in args.models:
        for mode in args.modes:
            ratio = ratio_spread(samples, model, mode)
            lines.append(f"  {model:9s} {mode:8s} {ratio.format(digits=2, unit='x')}")
    return "\n".join(lines)


def ratio_spread(samples: dict, model: str, mode: str) -> Spread:
    """Round-by-round pairs/s of the project over the reference's (seconds per step the other way)."""
    return spread(round_ratios(samples["reference", mode][model], samples["project", mode][model]))


def _precision(args, info: dict) -> str:
    """What the project computed in: ``--precision`` and, for ``auto``, what it resolved to here."""
    dtypes = sorted({m["compute_dtype"] for (framework, _), i in info.items() if framework == "project"
                     for m in i["models"].values()})
    return args.precision if dtypes == [args.precision] else f"{args.precision} (computes in {', '.join(dtypes)})"


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in load)


if __name__ == "__main__":
    main()

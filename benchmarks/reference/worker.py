"""One timing process of `make bench-reference`: the reference PyTorch step or this project's, driven
by compare.py through JSON lines on stdin and stdout.

    python worker.py {torch|project} --size 256 --threads default|N [--probe-repeats 10]

Run with the reference virtualenv's Python for ``torch`` (benchmarks/reference/requirements.txt) and
the project's for ``project``. Threads are fixed when the framework starts, hence one process per
(framework, thread setting): ``default`` leaves the framework's own choice; N sets N threads inside
an op and 1 between ops, in both frameworks alike. Both models (``resnet`` and ``vgg_unet``) are
built, warmed up and counted at start; then each request is answered with one line:

    {"cmd": "run", "model": "resnet", "steps": 2}  ->  {"seconds_per_step": ...}
    {"cmd": "probe"}                               ->  {"gflops": ...}   (float32 conv throughput)
    {"cmd": "quit"}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

MODELS = ("resnet", "vgg_unet")

# The project's settings that make its step the paper's (ResNet-9 at any size, LSGAN, a pool of 50,
# a 64-filter discriminator); the U-Net runs the project's defaults. Both in the precision compare.py
# asks for (float32 unless told: the reference's), printed by compare.py with the figures.
PROJECT_OVERRIDES = {
    "resnet": ("generator.arch=resnet", "generator.resnet_blocks=9", "loss.adversarial=lsgan",
               "train.image_pool=50", "discriminator.base_filters=64"),
    "vgg_unet": ("generator.arch=vgg_unet",),
}


# The protocol's own copy of stdout; file descriptor 1 itself goes to stderr, so that whatever a
# framework prints (C++ logs included) cannot break a reply line.
_PROTOCOL = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)


def reply(message: dict) -> None:
    _PROTOCOL.write(json.dumps(message) + "\n")
    _PROTOCOL.flush()


class TorchBackend:
    def __init__(self, size: int, threads: str, probe_repeats: int):
        import torch
        from torch_step import ConvProbe, CycleGANStep

        if threads != "default":
            torch.set_num_threads(int(threads))
            torch.set_num_interop_threads(1)
        self.steps = {}
        self.info = {"framework": f"PyTorch {torch.__version__}", "threads": torch.get_num_threads(),
                     "interop_threads": torch.get_num_interop_threads(), "models": {}}
        for model in MODELS:
            step = CycleGANStep(model, size)
            started = time.perf_counter()
            step.run(2)  # warm-up: oneDNN's kernel choice and the allocator
            warm = time.perf_counter() - started
            self.info["models"][model] = {"gflop": step.count_gflop(), "params": step.parameter_counts(), "warmup_seconds": warm}
            self.steps[model] = step
        self.probe = ConvProbe(probe_repeats)

    def run(self, model: str, steps: int) -> float:
        return self.steps[model].run(steps)


class ProjectBackend:
    def __init__(self, size: int, threads: str, probe_repeats: int, precision: str = "float32"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        if threads != "default":  # before any op runs: TensorFlow fixes its thread pools then
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(1)
        from cyclegan.core.bench import StepTimer, with_available_weights
        from cyclegan.core.machine_speed import ConvProbe
        from cyclegan.spec.config import apply_overrides, build_config

        self.timers = {}
        self.info = {"framework": f"cyclegan on TensorFlow {tf.__version__}",
                     "threads": tf.config.threading.get_intra_op_parallelism_threads() or "default",
                     "interop_threads": tf.config.threading.get_inter_op_parallelism_threads() or "default",
                     "models": {}, "notes": []}
        for model in MODELS:
            settings = (*PROJECT_OVERRIDES[model], f"train.precision={precision}")
            overrides = (*settings, f"data.image_size={size}", "train.batch_size=1")
            config = build_config(apply_overrides({}, overrides, source="bench-reference"), source="bench-reference")
            timer = StepTimer(model, with_available_weights(config, self.info["notes"]))
            started = time.perf_counter()
            timer.run(2)  # as `cyclegan bench`'s untimed round
            self.info["models"][model] = {
                "gflop": timer.gflop, "overrides": list(settings), "compute_dtype": str(timer.compute_dtype), "compile_seconds": timer.compile_seconds,
                "warmup_seconds": time.perf_counter() - started, "params": _keras_trainable(timer),
            }
            self.timers[model] = timer
        self.probe = ConvProbe(tf.float32, probe_repeats)

    def run(self, model: str, steps: int) -> float:
        return self.timers[model].run(steps)


def _keras_trainable(timer) -> dict[str, int]:
    """Trainable parameters of one generator and one discriminator of the project's step."""
    nets = timer.networks
    return {name: sum(int(v.shape.num_elements()) for v in model.trainable_variables)
            for name, model in (("generator", nets.gen_g), ("discriminator", nets.disc_monet))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=("torch", "project"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", default="default")
    parser.add_argument("--probe-repeats", type=int, default=10)
    parser.add_argument("--precision", default="float32", help="The project's train.precision (the reference runs float32).")
    args = parser.parse_args()
    if args.framework == "torch":
        backend = TorchBackend(args.size, args.threads, args.probe_repeats)
    else:
        backend = ProjectBackend(args.size, args.threads, args.probe_repeats, args.precision)
    reply({"ready": True, **backend.info})
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "run":
            reply({"seconds_per_step": backend.run(request["model"], int(request["steps"]))})
        elif request["cmd"] == "probe":
            reply({"gflops": backend.probe.measure()})
        elif request["cmd"] == "quit":
            break
        else:
            reply({"error": f"unknown command {request['cmd']!r}"})


if __name__ == "__main__":
    main()

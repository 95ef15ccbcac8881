"""Which device we run on and the numeric precision that is fast on it."""

from __future__ import annotations

import keras
import tensorflow as tf

from cyclegan.host import cpu_has_bf16, describe_cpu


def gpu_compute_capability() -> tuple[int, int] | None:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("compute_capability")


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``mixed_bfloat16`` on Ampere+ GPUs and BF16-capable CPUs, ``mixed_float16`` on
    older GPUs with tensor cores (Volta, Turing), else ``float32``. Other values pass through."""
    if precision != "auto":
        return precision
    capability = gpu_compute_capability()
    if capability is not None:
        if capability >= (8, 0):
            return "mixed_bfloat16"
        return "mixed_float16" if capability >= (7, 0) else "float32"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def share_gpus(trains_here: bool) -> None:
    """Before this process's first TensorFlow op. By default TensorFlow maps nearly all the memory of
    every visible GPU at its first op, so a process that trains lets it grow memory on demand instead
    (several workers can share a device), and a process that only coordinates worker processes
    (``ablate``/``tune`` with workers) sees no GPU at all: its checks before training (building VGG16
    to read the encoder weights file) must not hold the memory its workers train in."""
    gpus = tf.config.list_physical_devices("GPU")
    try:
        if trains_here:
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
        elif gpus:
            tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # already initialised in this process: the setting is fixed by then
        pass


def configure(precision: str) -> str:
    """Set the global Keras dtype policy (before any model is built) and let TensorFlow grow GPU
    memory on demand (:func:`share_gpus`). Returns the resolved precision."""
    share_gpus(trains_here=True)
    resolved = resolve_precision(precision)
    keras.config.set_dtype_policy(resolved)
    return resolved


def describe() -> str:
    """One line naming the device, for reports and logs."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        return f"GPU: {', '.join(names)}"
    return describe_cpu()



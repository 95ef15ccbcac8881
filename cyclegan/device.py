"""Which device we run on and the numeric precision that is fast on it."""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf


def cpu_has_bf16() -> bool:
    """AVX-512 BF16 (or AMX) on this CPU: where oneDNN runs bfloat16 convolutions natively."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


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


def configure(precision: str) -> str:
    """Set the global Keras dtype policy (before any model is built) and let TensorFlow grow GPU
    memory on demand, so several workers can share a device. Returns the resolved precision."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process: the setting is fixed by then
            pass
    resolved = resolve_precision(precision)
    keras.config.set_dtype_policy(resolved)
    return resolved


def describe() -> str:
    """One line naming the device, for reports and logs."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        return f"GPU: {', '.join(names)}"
    import os
    import platform

    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, bf16={'yes' if cpu_has_bf16() else 'no'}"

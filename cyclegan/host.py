"""What machine this is, from the standard library only (the report names it without TensorFlow)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_has_bf16() -> bool:
    """AVX-512 BF16 (or AMX) on this CPU: where oneDNN runs bfloat16 convolutions natively."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def describe_cpu() -> str:
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, bf16={'yes' if cpu_has_bf16() else 'no'}"

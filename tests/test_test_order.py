"""The suite runs the test files that train most first, each file's tests together (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# None of them trains or imports TensorFlow: collecting them takes a second, and their weights are
# their numbers of tests, which differ.
FILES = ["tests/test_verdict_rules.py", "tests/test_timing.py", "tests/test_stats.py", "tests/test_synth.py"]


def test_files_run_whole_and_heaviest_first():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *FILES],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line.split("::")[0] for line in done.stdout.splitlines() if "::" in line]
    files_in_order = list(dict.fromkeys(collected))
    counts = [collected.count(file) for file in files_in_order]
    assert sorted(files_in_order) == sorted(FILES)
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    assert collected == [file for file, count in zip(files_in_order, counts, strict=True) for _ in range(count)]

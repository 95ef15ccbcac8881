"""`make test` runs the suite in parts (tests/conftest.py `--part`): every test in exactly one part."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# None of them imports TensorFlow: collecting them takes seconds, not a TensorFlow import per process.
FILES = ["tests/test_verdict_rules.py", "tests/test_timing.py", "tests/test_stats.py", "tests/test_synth.py"]


def _collected(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args, *FILES],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_parts_split_the_tests_by_file_each_test_in_exactly_one():
    everything = _collected()
    # Each file's tests together, the files that weigh most (here: that have most tests, none trains) first.
    files_in_order = list(dict.fromkeys(nodeid.split("::")[0] for nodeid in everything))
    counts = [sum(nodeid.startswith(f"{file}::") for nodeid in everything) for file in files_in_order]
    assert len(files_in_order) == len(FILES) and counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    assert [nodeid.split("::")[0] for nodeid in everything] == [f for f, n in zip(files_in_order, counts, strict=True) for _ in range(n)]
    parts = [_collected("--part", f"{k}/3") for k in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(everything)
    files = [{nodeid.split("::")[0] for nodeid in part} for part in parts]
    assert all(files) and not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2])


def test_a_bad_part_is_a_usage_error_naming_it():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--part", "4/3", FILES[0]],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 4 and "--part '4/3'" in done.stderr

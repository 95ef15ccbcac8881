"""`make test` runs the suite in parts (tests/conftest.py `--part`): every test in exactly one part."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# None of them imports TensorFlow: collecting them takes seconds, not a TensorFlow import per process.
FILES = ["tests/test_verdict_rules.py", "tests/test_timing.py", "tests/test_stats.py", "tests/test_synth.py"]
# One process collects them with each option list in turn (pytest.main in a loop): a pytest start-up
# per collection cost more than the collections themselves. It prints one JSON line: per option list,
# the exit status and the collected test ids.
_COLLECT = """
import contextlib, io, json, sys
import pytest

class Collected:
    def __init__(self):
        self.ids = []
    def pytest_collection_finish(self, session):
        self.ids = [item.nodeid for item in session.items]

results = []
for options in json.loads(sys.argv[1]):
    plugin, err = Collected(), io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *options, *sys.argv[2:]], plugins=[plugin])
    results.append({"status": int(status), "ids": plugin.ids, "stderr": err.getvalue()})
print(json.dumps(results))
"""
OPTIONS = [[], ["--part", "1/3"], ["--part", "2/3"], ["--part", "3/3"], ["--part", "4/3"]]


@pytest.fixture(scope="module")
def collected() -> list[dict]:
    done = subprocess.run([sys.executable, "-c", _COLLECT, json.dumps(OPTIONS), *FILES], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_parts_split_the_tests_by_file_each_test_in_exactly_one(collected):
    everything, *parts, _ = (run["ids"] for run in collected)
    assert all(run["status"] == 0 for run in collected[:4]) and everything
    # Each file's tests together, the files that weigh most (here: that have most tests, none trains) first.
    files_in_order = list(dict.fromkeys(nodeid.split("::")[0] for nodeid in everything))
    counts = [sum(nodeid.startswith(f"{file}::") for nodeid in everything) for file in files_in_order]
    assert len(files_in_order) == len(FILES) and counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    assert [nodeid.split("::")[0] for nodeid in everything] == [f for f, n in zip(files_in_order, counts, strict=True) for _ in range(n)]
    assert sorted(sum(parts, [])) == sorted(everything)
    files = [{nodeid.split("::")[0] for nodeid in part} for part in parts]
    assert all(files) and not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2])


def test_a_bad_part_is_a_usage_error_naming_it(collected):
    bad = collected[-1]
    assert bad["status"] == 4 and "--part '4/3'" in bad["stderr"]

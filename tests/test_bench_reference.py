"""`make bench-reference`'s driver (benchmarks/reference/compare.py) against a stand-in reference
worker: the test suite has no PyTorch, and the driver's part (the JSON-lines protocol, alternating
rounds, figures and the round-by-round ratio) does not depend on what computes the reference step.
The project's worker is the real one, on tiny images."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cyclegan.core.bench_stats import round_ratios, spread

ROOT = Path(__file__).resolve().parents[1]
COMPARE = ROOT / "benchmarks" / "reference" / "compare.py"
REFERENCE_MS = {"resnet": 400.0, "vgg_unet": 250.0}  # the stand-in's fixed step times

# A "Python" whose every program is the stand-in: it ignores the worker script and its options and
# answers the protocol of benchmarks/reference/worker.py with fixed figures.
STAND_IN = f'''#!{sys.executable}
import json, sys
models = {{m: {{"gflop": 100.0, "params": {{"generator": 11378179, "discriminator": 2764737}}}} for m in ("resnet", "vgg_unet")}}
print(json.dumps({{"ready": True, "framework": "stand-in reference", "threads": 2, "interop_threads": 1, "models": models}}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    if request["cmd"] == "quit":
        break
    answer = {{"gflops": 50.0}} if request["cmd"] == "probe" else {{"seconds_per_step": {REFERENCE_MS}[request["model"]] / 1000}}
    print(json.dumps(answer), flush=True)
'''


@pytest.mark.slow
def test_the_driver_times_both_frameworks_in_alternating_rounds_and_reports_the_ratio(tmp_path, vgg_weights_file):
    stand_in = tmp_path / "reference-python"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    figures = tmp_path / "figures.json"
    # The project's VGG16 weights from the tests' own file: nothing is downloaded.
    env = {**os.environ, "CYCLEGAN_IMAGENET_WEIGHTS": str(vgg_weights_file), "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(COMPARE), "--reference-python", str(stand_in), "--size", "32", "--rounds", "2",
                           "--steps", "1", "--modes", "default", "--probe-repeats", "1", "--json", str(figures),
                           "--precision", "mixed_bfloat16"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "reference default: stand-in reference, 2 threads in ops, 1 between" in out, out
    assert re.search(r"^project default: cyclegan on TensorFlow \S+", out, re.M), out
    # --precision reaches the project's worker (its step computes in bfloat16); the reference stays float32.
    assert "32x32, batch 1, reference float32, project mixed_bfloat16 (computes in bfloat16);" in out, out
    # The seed's U-Net is the same network in both: its counts must agree with the reference's layout.
    assert "vgg_unet: parameters per generator / discriminator: reference 11,378,179 / 2,764,737, project 4,455,675 / 1,556,209" in out

    project_models = json.loads(figures.read_text())["info"]["project/default"]["models"]
    assert {m["compute_dtype"] for m in project_models.values()} == {"bfloat16"}
    assert "train.precision=mixed_bfloat16" in project_models["resnet"]["overrides"]
    recorded = json.loads(figures.read_text())["samples"]
    for model, reference_ms in REFERENCE_MS.items():
        assert recorded["reference/default"][model] == [reference_ms / 1000] * 2  # one sample per round
        project = recorded["project/default"][model]
        assert len(project) == 2 and all(s > 0 for s in project)
        row = re.search(rf"^{model} +default +reference +([0-9.]+) +{reference_ms:.0f} \({reference_ms:.0f}-{reference_ms:.0f}, 2 rounds\) +100 ", out, re.M)
        assert row and float(row.group(1)) == pytest.approx(1000 / reference_ms, abs=1e-3), out
        ratio = spread(round_ratios(recorded["reference/default"][model], project))
        assert f"  {model:9s} default  {ratio.format(digits=2, unit='x')}" in out, out
    assert recorded["reference/default"]["probe"] == [50.0, 50.0] and len(recorded["project/default"]["probe"]) == 2

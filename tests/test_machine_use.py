"""The report's machine-use line: a study's training FLOPs at the machine's probed conv throughput,
over its wall time, and where the rest of the time went (cyclegan.report.machine_use, pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from cyclegan import names
from cyclegan.report.machine_use import OTHER, PARTS, describe, machine_use, missing_figures, wall_seconds


def _run(start_s: float, end_s: float, *, gflop: float, probe: float, train: float, precision="float32", host="h1",
         status="FINISHED", **seconds) -> dict:
    row = {"status": status, "start_time": start_s * 1000, "end_time": end_s * 1000, names.TRAIN_GFLOP: gflop,
           names.CONV_GFLOPS: probe, names.HOST_TAG: host, names.PRECISION_TAG: precision, names.TRAIN_SECONDS: train}
    row.update({column: 0.0 for columns in PARTS.values() for column in columns if column != names.TRAIN_SECONDS})
    row.update({getattr(names, key): value for key, value in seconds.items()})
    return row


def test_wall_time_is_the_union_of_the_spans():
    assert wall_seconds([0, 50_000], [100_000, 150_000]) == 150  # overlapping (two workers)
    assert wall_seconds([0, 200_000], [100_000, 250_000]) == 150  # a gap between two commands is not counted
    assert wall_seconds([0, 10_000], [100_000, 20_000]) == 100  # nested
    assert wall_seconds([], []) == 0


def test_share_is_the_ideal_seconds_at_the_highest_probe_over_the_wall_time():
    # Two workers overlapping for 50 s; the second one's probe read half (the first was training).
    runs = pd.DataFrame([_run(0, 100, gflop=1000, probe=40, train=60, EVAL_TOTAL_SECONDS=20, TRACING_TOTAL_SECONDS=10),
                         _run(50, 150, gflop=2000, probe=20, train=80, EVAL_TOTAL_SECONDS=10, BUILD_SECONDS=5)])
    use = machine_use(runs)
    assert use.probes == {"float32": 40}
    assert use.share == pytest.approx((1000 + 2000) / 40 / 150)  # 75 s of math in 150 s: 50%
    assert use.steps_share == pytest.approx(75 / 140)
    assert use.train_tflop == pytest.approx(3.0) and use.wall_seconds == 150 and use.runs == 2
    assert use.parts["training steps"] == pytest.approx(140 / 200)
    assert use.parts["evaluation and sample grids"] == pytest.approx(30 / 200)
    assert use.parts["tracing and compiling"] == pytest.approx(10 / 200)
    assert use.parts["building and restoring"] == pytest.approx(5 / 200)
    assert use.parts[OTHER] == pytest.approx(15 / 200) and sum(use.parts.values()) == pytest.approx(1)
    line = describe(runs)
    assert line.startswith("this study used 50% of the machine's measured conv throughput (3 TFLOP of training steps in 2.5 min")
    assert "training steps 70% (at 54% of the probe's speed)" in line and "probe 40 GFLOP/s in float32" in line
    assert use.overlap == pytest.approx(200 / 150) and "1.3 runs trained at once on average" in line and "upper bound" in line
    one_at_a_time = describe(pd.DataFrame([_run(0, 100, gflop=1000, probe=40, train=60), _run(100, 200, gflop=1000, probe=40, train=60)]))
    assert "upper bound" not in one_at_a_time and "this study used 25%" in one_at_a_time


def test_each_precision_is_compared_with_its_own_probe_and_failed_runs_do_not_count():
    runs = pd.DataFrame([_run(0, 100, gflop=1000, probe=20, train=90),
                         _run(100, 200, gflop=4000, probe=80, train=90, precision="mixed_bfloat16"),
                         _run(0, 500, gflop=1e9, probe=1, train=400, status="FAILED")])
    use = machine_use(runs)
    assert use.probes == {"float32": 20, "mixed_bfloat16": 80}
    assert use.share == pytest.approx((1000 / 20 + 4000 / 80) / 200) and use.runs == 2


def test_no_figure_without_the_records_or_with_several_hosts():
    old = _run(0, 100, gflop=1000, probe=40, train=60)
    old[names.TRAIN_GFLOP] = float("nan")
    runs = pd.DataFrame([old, _run(0, 100, gflop=1000, probe=40, train=60)])
    assert machine_use(runs) is None
    assert describe(runs).startswith("not stated: not recorded for 1 of 2 finished runs (trained by a version before")
    older = pd.DataFrame([{"status": "FINISHED", "start_time": 0, "end_time": 1}])  # no perf columns at all
    assert missing_figures(older).startswith("not recorded for 1 of 1")
    hosts = pd.DataFrame([_run(0, 100, gflop=1, probe=1, train=1), _run(0, 100, gflop=1, probe=1, train=1, host="h2")])
    assert describe(hosts) == "not stated: the runs trained on 2 hosts; it is stated for one machine"
    assert describe(pd.DataFrame([_run(0, 1, gflop=1, probe=1, train=1, status="FAILED")])) == "not stated: no finished run"


def test_a_worker_probes_again_before_a_run_once_its_last_reading_is_a_minute_old(monkeypatch):
    """One probe per process read below the training steps' own speed on the AVX2 machine: runs of a
    minute or more each get a new reading (the report keeps the highest); shorter ones reuse the last,
    and a probe that failed is not retried in that process."""
    import cyclegan.core.machine_speed as machine_speed
    from cyclegan.runs import lifecycle
    from cyclegan.spec.config import RunConfig

    clock = [0.0]
    monkeypatch.setattr(lifecycle.time, "monotonic", lambda: clock[0])

    class Probe:
        readings = iter([40.0, 55.0])

        def measure(self):
            return next(self.readings)

    built = []
    monkeypatch.setattr(machine_speed, "precision_probe", lambda precision: built.append(precision) or Probe())
    loop = lifecycle.RunLoop(tracker=None, progress=False)
    config = RunConfig.model_validate({"train": {"precision": "float32"}})
    assert loop._probe(config) == 40.0
    clock[0] = lifecycle.PROBE_KEEPS_SECONDS - 1
    assert loop._probe(config) == 40.0  # young enough: no second reading
    clock[0] = lifecycle.PROBE_KEEPS_SECONDS + 1
    assert loop._probe(config) == 55.0  # a new reading on the same (traced) probe
    assert built == ["float32"]

    def broken(precision):
        raise RuntimeError("no device")

    monkeypatch.setattr(machine_speed, "precision_probe", broken)
    failing = lifecycle.RunLoop(tracker=None, progress=False)
    assert failing._probe(config) is None
    clock[0] += 10 * lifecycle.PROBE_KEEPS_SECONDS
    monkeypatch.setattr(machine_speed, "precision_probe", lambda precision: pytest.fail("a failed probe was tried again"))
    assert failing._probe(config) is None

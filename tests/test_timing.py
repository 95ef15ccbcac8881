"""Where a run's time went: the sums behind time/* (pure, from history.csv and the trainer's clocks)."""

import pandas as pd
import pytest

from cyclegan import names
from cyclegan.core.runfolder.layout import RunDir
from cyclegan.core.timing import time_figures, with_outside_seconds


def test_first_steps_evaluation_and_samples_count_outside_training(tmp_path):
    # Two processes: the first trained mini-epochs 1-2, the resumed one mini-epoch 3 (its first step timed again).
    pd.DataFrame({
        "mini_epoch": [1, 2, 3], "step": [16, 32, 48], "seconds": [20.0, 8.0, 15.0],
        names.FIRST_STEP_SECONDS: [12.0, None, 7.0],
        names.EVAL_SECONDS: [1.0, 1.0, 1.0], names.SAMPLES_SECONDS: [0.5, 0.5, 0.5],
    }).to_csv(tmp_path / "history.csv", index=False)
    times = time_figures(RunDir(tmp_path), build_seconds=2.0, save_seconds=0.5, checkpoint_seconds=1.0, callback_seconds=0.75,
                         finish_seconds=0.25)
    assert times[names.TRAIN_SECONDS] == pytest.approx(43.0 - 19.0)
    assert times[names.OUTSIDE_SECONDS] == pytest.approx(2.0 + 0.5 + 1.0 + 0.75 + 0.25 + 19.0 + 3.0 + 1.5)
    assert (times[names.CALLBACK_SECONDS], times[names.FINISH_SECONDS]) == (0.75, 0.25)
    assert times[names.OUTSIDE_SHARE] == pytest.approx(28.0 / 52.0)

    tracked = with_outside_seconds(times, 3.0)  # the tracker's artifact and model logging
    assert tracked[names.OUTSIDE_SECONDS] == pytest.approx(31.0)
    assert tracked[names.OUTSIDE_SHARE] == pytest.approx(31.0 / 55.0)
    assert tracked[names.TRAIN_SECONDS] == times[names.TRAIN_SECONDS] and times[names.OUTSIDE_SECONDS] == pytest.approx(28.0)


def test_a_history_of_an_earlier_version_without_first_step_times_counts_all_mini_epoch_time_as_training(tmp_path):
    pd.DataFrame({"mini_epoch": [1, 2], "step": [4, 8], "seconds": [3.0, 2.0]}).to_csv(tmp_path / "history.csv", index=False)
    times = time_figures(RunDir(tmp_path), build_seconds=1.0, save_seconds=0.0, checkpoint_seconds=0.0)
    assert (times[names.TRAIN_SECONDS], times[names.OUTSIDE_SECONDS]) == (5.0, 1.0)


def test_the_stopwatch_sums_laps_per_name_and_gives_each_lap_its_own_seconds(monkeypatch):
    from cyclegan.core import timing

    now = iter([10.0, 12.5, 20.0, 21.0, 30.0, 34.0])  # start/stop pairs: 2.5 s, 1 s, 4 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(now))
    watch = timing.Stopwatch()
    with watch.lap(names.CHECKPOINT_SECONDS) as first:
        pass
    with watch.lap(names.CHECKPOINT_SECONDS) as second:
        pass
    span = watch.start(names.BUILD_SECONDS)
    assert span.stop() == 4.0
    assert (first.seconds, second.seconds) == (2.5, 1.0)
    assert watch.total(names.CHECKPOINT_SECONDS) == 3.5 and watch.total(names.BUILD_SECONDS) == 4.0
    assert watch.total(names.SAVE_SECONDS) == 0.0


def test_a_lap_that_raises_is_still_counted(monkeypatch):
    from cyclegan.core import timing

    now = iter([0.0, 3.0])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(now))
    watch = timing.Stopwatch()
    with pytest.raises(OSError), watch.lap(names.CHECKPOINT_SECONDS):
        raise OSError("disk full")
    assert watch.total(names.CHECKPOINT_SECONDS) == 3.0

"""Hyper-parameter tuning: the tune file's validation, the objective and pruning rules, and tiny
studies end to end (trials, MLflow layout, best overrides, continuing, workers, dead-worker retry)."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import FAST_QUEUE, gpu_choice
from mlflow.tracking import MlflowClient

import cyclegan.core.trainer
from cyclegan import names
from cyclegan.core.trainer import MiniEpochRecord, NonFiniteLossError
from cyclegan.runs.ablation import StudyPaths
from cyclegan.runs.queue import QueueSettings, open_storage
from cyclegan.runs.tune import (
    GuardedPruner,
    TrialPruning,
    open_tune_study,
    run_trials,
    run_tune,
)
from cyclegan.runs.tune_summary import summarize
from cyclegan.spec.config import (
    ConfigError,
    build_config,
    flatten,
    parse_override,
    set_dotted,
)
from cyclegan.spec.tune_space import load_tune_spec, nested, objective_value, set_options

SPACE = {
    "optimizer.lr_generator": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
    "loss.lambda_cycle": {"type": "float", "low": 2.0, "high": 20.0},
    "loss.adversarial": {"type": "categorical", "choices": ["bce", "lsgan"]},
    "discriminator.base_filters": {"type": "int", "low": 8, "high": 16, "step": 8},
}
OBJECTIVE = {"metric": "eval/swd", "direction": "minimize",
             "penalties": [{"metric": "eval/grid_score", "weight": 10, "above": 1.0}]}
# Every trial completes: the pruning rules have tests of their own. (At 32x32 after 2 steps the
# outputs are near-constant, which the collapse indicator rightly calls collapsed.)
NO_PRUNING = {"type": "none", "warmup_mini_epochs": 0, "prune_collapsed": False}


@pytest.fixture(autouse=True)
def _local_tracking(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _tune_file(tmp_path: Path, base: dict, *, space=None, objective=None, pruner=None, trials=3, **extra) -> Path:
    spec = {"name": "tiny", "base": base, "search_space": space or SPACE, "objective": objective or OBJECTIVE,
            "trials": trials, "sampler": {"seed": 0, "startup_trials": 2}, "pruner": pruner or NO_PRUNING, **extra}
    path = tmp_path / "tiny_tune.yaml"
    path.write_text("# tiny test tuning study\n" + yaml.safe_dump(spec))
    return path


def _tiny_base(tiny_tree: dict) -> dict:
    return {**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": 2, "steps_per_mini_epoch": 1}}


def _trials(paths: StudyPaths, name: str = "tiny"):
    storage = open_storage(paths.storage_url, FAST_QUEUE)
    return sorted(storage.get_all_trials(storage.get_study_id_from_name(name)), key=lambda t: t.number)


def _mlflow_runs(paths: StudyPaths, name: str = "tiny"):
    client = MlflowClient(f"sqlite:///{(paths.runs_dir / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name(name)
    return client, experiment, client.search_runs([experiment.experiment_id], max_results=1000)


def _record(mini_epoch: int, **metrics: float) -> MiniEpochRecord:
    return MiniEpochRecord(mini_epoch, mini_epoch, {"eval/grid_score": 0.0, "eval/collapsed": 0.0, **metrics}, Path("unused.png"))


# -- the tune file ------------------------------------------------------------------------------


def test_shipped_tune_file_is_valid():
    spec = load_tune_spec(Path(__file__).parents[1] / "experiments" / "tune.yaml")
    assert spec.name == "tune" and spec.base.data.image_size == 64 and spec.trials >= 1
    assert {"optimizer.lr_generator", "optimizer.lr_discriminator", "loss.lambda_cycle", "loss.lambda_identity",
            "loss.adversarial", "discriminator.base_filters"} <= set(spec.space)
    assert spec.objective.metric == "eval/swd" and spec.objective.direction == "minimize"


@pytest.mark.parametrize(("entry", "expected"), [
    ({"loss.lamda_cycle": {"type": "float", "low": 1, "high": 2}}, ["search_space.loss.lamda_cycle", "did you mean 'loss.lambda_cycle'"]),
    ({"loss.lambda_cycle": {"type": "uniform", "low": 1, "high": 2}}, ["search_space.loss.lambda_cycle.type", "'uniform'"]),
    ({"loss.lambda_cycle": {"low": 1, "high": 2}}, ["search_space.loss.lambda_cycle.type", "unknown distribution"]),
    ({"loss.lambda_cycle": {"type": "float", "lo": 1, "high": 2}}, ["search_space.loss.lambda_cycle", "lo: unknown key", "'low'"]),
    ({"loss.lambda_cycle": {"type": "float", "low": 5, "high": 1}}, ["search_space.loss.lambda_cycle", "must be below high"]),
    ({"optimizer.lr_generator": {"type": "float", "low": 0, "high": 1e-3, "log": True}}, ["search_space.optimizer.lr_generator", "log: true needs low > 0"]),
    ({"loss.lambda_cycle": {"type": "float", "low": -1, "high": 2}}, ["search_space.loss.lambda_cycle", "greater than or equal to 0"]),
    ({"discriminator.base_filters": {"type": "float", "low": 16, "high": 64}}, ["search_space.discriminator.base_filters", "valid integer"]),
    ({"loss.adversarial": {"type": "categorical", "choices": ["bce", "hinge"]}}, ["search_space.loss.adversarial", "hinge"]),
    ({"train.seed": {"type": "int", "low": 0, "high": 3}}, ["search_space.train.seed", "replication"]),
    # an unhashable type: was a TypeError (traceback, exit 1)
    ({"optimizer.lr_generator": {"type": ["float"], "low": 1e-4, "high": 1e-3}}, ["search_space.optimizer.lr_generator.type", "['float']"]),
    ({"optimizer.lr_generator": {"type": {"float": 1}, "low": 1e-4, "high": 1e-3}}, ["search_space.optimizer.lr_generator.type", "unknown distribution"]),
])
def test_search_space_errors_name_the_file_and_key(tmp_path, entry, expected):
    path = _tune_file(tmp_path, {}, space=entry)
    with pytest.raises(ConfigError) as err:
        load_tune_spec(path)
    message = str(err.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, message


@pytest.mark.parametrize(("change", "expected"), [
    ({"objective": {"metric": "eval/swdd", "direction": "minimize"}}, ["objective.metric", "did you mean 'eval/swd'"]),
    ({"objective": {"metric": "convergence/cycle_auc", "direction": "minimize"}}, ["objective.metric", "only when a run has ended"]),
    ({"objective": {**OBJECTIVE, "penalties": [{"metric": "eval/grid", "weight": 1}]}}, ["objective.penalties[0].metric", "eval/grid"]),
    ({"objective": {"metric": "eval/swd", "direction": "down"}}, ["objective.direction", "minimize"]),
    ({"pruner": {"type": "median", "warmup": 2}}, ["pruner.warmup: unknown key", "warmup_mini_epochs"]),
    ({"trails": 3}, ["trails: unknown key", "'trials'"]),
])
def test_objective_and_settings_errors_name_the_key(tmp_path, change, expected):
    path = _tune_file(tmp_path, {})
    tree = {**yaml.safe_load(path.read_text()), **change}
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError) as err:
        load_tune_spec(path)
    for fragment in expected:
        assert fragment in str(err.value), str(err.value)


def test_set_of_a_searched_key_is_refused_and_choices_are_typed(tmp_path):
    # PyYAML reads an unquoted 1e-4 (no dot) as text, as it does "1e-4" here; the config reads it as a number.
    path = _tune_file(tmp_path, {}, space={**SPACE, "optimizer.beta_1": {"type": "categorical", "choices": ["5e-1", 0.9]}})
    with pytest.raises(ConfigError, match="loss.lambda_cycle=... is searched"):
        load_tune_spec(path, ["loss.lambda_cycle=3"])
    spec = load_tune_spec(path, ["train.mini_epochs=3"])
    assert spec.base.train.mini_epochs == 3
    assert spec.space["optimizer.beta_1"].choices == (0.5, 0.9)  # typed as the config reads them


def test_objective_value_adds_penalties_in_the_worse_direction(tmp_path):
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    objective = spec.objective
    assert objective_value(objective, {"eval/swd": 5.0, "eval/grid_score": 0.5}) == 5.0  # under the threshold
    assert objective_value(objective, {"eval/swd": 5.0, "eval/grid_score": 3.0}) == pytest.approx(25.0)
    assert objective_value(objective, {"loss/cycle": 1.0}) is None  # a mini-epoch without evaluation
    assert math.isnan(objective_value(objective, {"eval/swd": 5.0, "eval/grid_score": math.nan}))
    maximize = objective.model_copy(update={"direction": "maximize"})
    assert objective_value(maximize, {"eval/swd": 5.0, "eval/grid_score": 3.0}) == pytest.approx(-15.0)
    assert objective.describe() == "minimize eval/swd + 10 x max(0, eval/grid_score - 1)"


def test_best_params_round_trip_as_tree_and_set_options():
    params = {"optimizer.lr_generator": 3.1e-05, "loss.adversarial": "lsgan", "discriminator.base_filters": 16, "data.flip": False}
    tree = nested(params)
    assert tree["optimizer"] == {"lr_generator": 3.1e-05} and tree["data"] == {"flip": False}
    options = set_options(params)
    parsed = dict(parse_override(text.removeprefix("--set ")) for text in options)
    assert parsed == params
    assert build_config(yaml.safe_load(yaml.safe_dump(tree))).flat()["optimizer.lr_generator"] == 3.1e-05


# -- pruning rules (an in-memory study, no training) --------------------------------------------


def _pruning_study(tmp_path, pruner: dict):
    spec = load_tune_spec(_tune_file(tmp_path, {}, pruner=pruner))
    study = optuna.create_study(direction="minimize", pruner=GuardedPruner(spec.pruner))
    return spec, study


def test_collapse_and_non_finite_prune_at_once_after_the_warm_up(tmp_path):
    spec, study = _pruning_study(tmp_path, {"type": "median", "startup_trials": 100, "warmup_mini_epochs": 1, "prune_collapsed": True})
    logged = []
    trial = study.ask()
    callback = TrialPruning(trial, spec, lambda values, step: logged.append((step, values)))
    callback.on_mini_epoch_end(_record(1, **{"eval/swd": 9.0, "eval/collapsed": 1.0}))  # warm-up: an untrained G looks collapsed
    with pytest.raises(optuna.TrialPruned, match=r"eval/collapsed = 1 at mini-epoch 2"):
        callback.on_mini_epoch_end(_record(2, **{"eval/swd": 9.0, "eval/collapsed": 1.0}))
    assert logged == [(1, {"tune/objective": 9.0}), (2, {"tune/objective": 9.0})]
    assert trial.user_attrs["health"] == {"mini_epoch": 2, "finite": True, "collapsed": True}

    nan_trial = study.ask()
    callback = TrialPruning(nan_trial, spec, lambda values, step: None)
    callback.on_mini_epoch_end(_record(1, **{"eval/swd": math.nan}))
    with pytest.raises(optuna.TrialPruned, match="not finite at mini-epoch 2"):
        callback.on_mini_epoch_end(_record(2, **{"eval/swd": math.inf}))
    assert study.trials[nan_trial.number].intermediate_values == {}  # never reported NaN to TPE


def test_median_rule_prunes_a_clearly_worse_trial_but_not_a_better_one(tmp_path):
    spec, study = _pruning_study(tmp_path, {"type": "median", "startup_trials": 1, "warmup_mini_epochs": 1, "prune_collapsed": True})
    distributions = {"loss.lambda_cycle": optuna.distributions.FloatDistribution(2, 20)}
    study.add_trial(optuna.trial.create_trial(value=1.0, params={"loss.lambda_cycle": 5.0}, distributions=distributions,
                                              intermediate_values={1: 3.0, 2: 2.0, 3: 1.0}))
    better = TrialPruning(study.ask(), spec, lambda values, step: None)
    for mini_epoch, swd in ((1, 50.0), (2, 1.5), (3, 0.5)):  # mini-epoch 1 is warm-up: 50 is not judged
        better.on_mini_epoch_end(_record(mini_epoch, **{"eval/swd": swd}))
    worse = TrialPruning(study.ask(), spec, lambda values, step: None)
    with pytest.raises(optuna.TrialPruned, match="worse than the median"):
        worse.on_mini_epoch_end(_record(2, **{"eval/swd": 10.0}))


# -- the study: storage, continuation, summary (no training) ------------------------------------


def test_continuing_refuses_another_objective_or_base_and_an_ablations_study(tmp_path):
    paths = StudyPaths.default(tmp_path / "runs", None)
    storage = open_storage(paths.storage_url, FAST_QUEUE)
    path = _tune_file(tmp_path, {"data": {"root": "data/a"}})
    open_tune_study(load_tune_spec(path), storage)
    open_tune_study(load_tune_spec(path, ["data.root=/elsewhere/data"]), storage)  # another machine's path is fine
    with pytest.raises(ConfigError, match=r"train.mini_epochs: 100 in the study, 3 now"):
        open_tune_study(load_tune_spec(path, ["train.mini_epochs=3"]), storage)
    path.write_text(path.read_text().replace("eval/swd", "eval/lab_w_l"))
    with pytest.raises(ConfigError, match="was started with objective"):
        open_tune_study(load_tune_spec(path), storage)
    queue = optuna.create_study(study_name="cells", storage=storage)
    queue.enqueue_trial({}, user_attrs={"cell": "x"})
    path.write_text(path.read_text().replace("name: tiny", "name: cells"))
    with pytest.raises(ConfigError, match="not a tuning study"):
        open_tune_study(load_tune_spec(path), storage)


def test_summary_with_one_complete_trial_writes_a_loadable_override_and_says_why_no_importances(tmp_path):
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    study = optuna.create_study(direction="minimize")
    study.enqueue_trial({"optimizer.lr_generator": 2e-4, "loss.lambda_cycle": 7.5, "loss.adversarial": "lsgan",
                         "discriminator.base_filters": 16})
    study.optimize(lambda t: sum(float(d.suggest(t, k) == "lsgan") for k, d in spec.space.items()), n_trials=1)
    summary = summarize(study, spec, tmp_path / "out")
    assert summary.best_number == 0 and summary.importances is None
    assert "at least 2 complete trials" in summary.importance_note and "at least 2 complete trials" in summary.text()
    tree = yaml.safe_load((tmp_path / "out" / "best_overrides.yaml").read_text())
    assert tree == {"discriminator": {"base_filters": 16}, "loss": {"adversarial": "lsgan", "lambda_cycle": 7.5},
                    "optimizer": {"lr_generator": 2e-4}}
    assert build_config(yaml.safe_load((tmp_path / "out" / "best_config.yaml").read_text())).loss.lambda_cycle == 7.5
    assert "--set loss.adversarial=lsgan" in (tmp_path / "out" / "best_overrides.yaml").read_text()
    assert {p.name for p in summary.files} == {"trials.csv", "best_overrides.yaml", "best_config.yaml", "summary.txt"}


def test_interrupted_trial_is_killed_and_a_copy_waits_with_its_params(tmp_path, monkeypatch):
    def interrupted(config, run_dir, callbacks=(), **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cyclegan.core.trainer, "train", interrupted)
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    paths = StudyPaths.default(tmp_path / "runs", None)
    with pytest.raises(KeyboardInterrupt):
        run_trials(spec, paths, trials=2, settings=FAST_QUEUE, progress=False)
    failed, waiting = _trials(paths)
    assert (failed.state.name, waiting.state.name) == ("FAIL", "WAITING")
    assert waiting.params == failed.params and waiting.user_attrs["run_dir_trial"] == 0  # resumes in trials/0/
    _, _, runs = _mlflow_runs(paths)
    assert [(r.info.status, r.data.tags["state"]) for r in runs if r.data.tags.get("role") == "trial"] == [("KILLED", "FAIL")]


def test_an_interrupted_tune_ends_its_parent_run_killed(tmp_path, tiny_tree, monkeypatch):
    """`cyclegan tune` stopped by Ctrl-C or SIGTERM left its parent run RUNNING with nothing running."""
    def interrupted(config, run_dir, callbacks=(), **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cyclegan.core.trainer, "train", interrupted)
    spec = load_tune_spec(_tune_file(tmp_path, _tiny_base(tiny_tree)))
    paths = StudyPaths.default(tmp_path / "runs", None)
    with pytest.raises(KeyboardInterrupt):
        run_tune(spec, paths, trials=2, settings=FAST_QUEUE, progress=False)
    _, _, runs = _mlflow_runs(paths)
    (parent,) = [r for r in runs if r.data.tags.get("role") == "parent"]
    assert parent.info.status == "KILLED"
    assert [t.state.name for t in _trials(paths)] == ["FAIL", "WAITING"]  # the copy resumes on the next run


def test_a_failed_trial_does_not_stop_the_next_and_trials_share_the_kept_step(tmp_path, monkeypatch):
    """The run lifecycle shared with study cells: a training that raises ends its run FAILED with the
    reason and the next trial trains; every trial of the process is handed the same step cache."""
    caches = []

    def failing(config, run_dir, callbacks=(), **kwargs):
        caches.append(kwargs["steps"])
        raise RuntimeError(f"planted failure {len(caches)}")

    import cyclegan.core.device
    import cyclegan.core.machine_speed

    order = []
    real_configure = cyclegan.core.device.configure
    monkeypatch.setattr(cyclegan.core.device, "configure", lambda precision: order.append("configure") or real_configure(precision))
    class Probe:
        def measure(self):
            return order.append("probe") or 50.0

    monkeypatch.setattr(cyclegan.core.machine_speed, "precision_probe", lambda precision: Probe())
    monkeypatch.setattr(cyclegan.core.trainer, "train", failing)
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    paths = StudyPaths.default(tmp_path / "runs", None)
    assert run_trials(spec, paths, trials=2, settings=FAST_QUEUE, progress=False) == {"FAIL": 2}
    from cyclegan.core.step_reuse import process_steps

    assert len(caches) == 2 and caches[0] is caches[1] is process_steps()  # the process's kept step
    # The device is configured (GPU memory growth) before the probe's first op; the second trial, within
    # a minute of the first, reuses the first's reading.
    assert order[:2] == ["configure", "probe"] and order.count("probe") == 1
    assert [t.user_attrs["reason"] for t in _trials(paths)] == ["RuntimeError: planted failure 1", "RuntimeError: planted failure 2"]
    _, _, runs = _mlflow_runs(paths)
    trial_runs = sorted((r for r in runs if r.data.tags.get("role") == "trial"), key=lambda r: int(r.data.tags["trial"]))
    assert [(r.info.status, r.data.tags["state"]) for r in trial_runs] == [("FAILED", "FAIL")] * 2
    assert trial_runs[0].data.tags["failure_reason"] == "RuntimeError: planted failure 1"
    assert trial_runs[0].data.tags["machine"] and trial_runs[0].data.tags["precision_resolved"] in ("float32", "mixed_bfloat16")


def test_a_full_disk_stops_the_tune_in_one_line_and_the_trial_waits_to_resume(tmp_path, monkeypatch):
    import errno

    from cyclegan.places import DiskFull

    def full(config, run_dir, callbacks=(), **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cyclegan.core.trainer, "train", full)
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    paths = StudyPaths.default(tmp_path / "runs", None)
    with pytest.raises(DiskFull) as stopped:
        run_trials(spec, paths, trials=3, settings=FAST_QUEUE, progress=False)
    text = str(stopped.value)
    assert text.startswith("trial 0 stopped: no space left on device") and "\n" not in text and "run the same command again" in text
    failed, waiting = _trials(paths)  # the other two trials never started
    assert (failed.state.name, waiting.state.name) == ("FAIL", "WAITING") and waiting.params == failed.params
    _, _, runs = _mlflow_runs(paths)
    (run,) = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert run.info.status == "FAILED" and "no space left on device" in run.data.tags["failure_reason"]


def test_a_stop_while_a_finished_trial_is_recorded_waits_until_it_is_complete(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM after the training, while the trial is recorded: the trial still ends COMPLETE
    with its run FINISHED, then the tune stops (no next trial), as a study cell does."""
    import os
    import signal

    from cyclegan.core.callbacks import RunResult
    from cyclegan.runs.lifecycle import RunLoop
    from cyclegan.signals import StopSignal

    def finished(config, run_dir, callbacks=(), **kwargs):
        return RunResult(None, config, 2, 2, 0, {"eval/swd": 3.0, "eval/grid_score": 0.5})

    def signalled(self, run_id, config, trained):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the finished trial is being recorded

    monkeypatch.setattr(cyclegan.core.trainer, "train", finished)
    monkeypatch.setattr(RunLoop, "record_machine_use", signalled)
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    paths = StudyPaths.default(tmp_path / "runs", None)
    with pytest.raises(StopSignal) as stopped:
        run_trials(spec, paths, trials=3, settings=FAST_QUEUE, progress=False)
    assert stopped.value.signum == signal.SIGTERM
    (trial,) = _trials(paths)
    assert trial.state.name == "COMPLETE" and trial.value == pytest.approx(3.0)
    _, _, runs = _mlflow_runs(paths)
    (run,) = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert (run.info.status, run.data.tags["state"]) == ("FINISHED", "COMPLETE")


def test_a_second_signal_while_a_finished_trial_is_recorded_leaves_a_copy_waiting(tmp_path, monkeypatch):
    """A second Ctrl-C or SIGTERM (the user insists) interrupts the recording: Optuna fails the trial, and
    a copy with its parameters waits to resume it (it lost its training otherwise), its run KILLED."""
    import os
    import signal

    from cyclegan.core.callbacks import RunResult
    from cyclegan.runs.lifecycle import RunLoop
    from cyclegan.signals import StopSignal

    def finished(config, run_dir, callbacks=(), **kwargs):
        return RunResult(None, config, 2, 2, 0, {"eval/swd": 3.0, "eval/grid_score": 0.5})

    def insisting(self, run_id, config, trained):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(cyclegan.core.trainer, "train", finished)
    monkeypatch.setattr(RunLoop, "record_machine_use", insisting)
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    paths = StudyPaths.default(tmp_path / "runs", None)
    with pytest.raises(StopSignal):
        run_trials(spec, paths, trials=3, settings=FAST_QUEUE, progress=False)
    failed, waiting = _trials(paths)
    assert (failed.state.name, waiting.state.name) == ("FAIL", "WAITING") and waiting.params == failed.params
    assert "interrupted while it was recorded" in failed.user_attrs["reason"]
    _, _, runs = _mlflow_runs(paths)
    (run,) = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert run.info.status == "KILLED"


def test_a_diverged_trial_is_pruned_not_failed(tmp_path, monkeypatch):
    def diverging(config, run_dir, callbacks=(), **kwargs):
        raise NonFiniteLossError("run x: step 3: loss/cycle = nan (planted)")

    monkeypatch.setattr(cyclegan.core.trainer, "train", diverging)
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    paths = StudyPaths.default(tmp_path / "runs", None)
    assert run_trials(spec, paths, trials=1, settings=FAST_QUEUE, progress=False) == {"PRUNED": 1}
    (trial,) = _trials(paths)
    assert trial.user_attrs["reason"].startswith("diverged: run x: step 3: loss/cycle = nan")


# -- tiny studies that train (slow) ---------------------------------------------------------------


@pytest.mark.slow
def test_a_trial_then_two_more_from_a_worker_process_that_hands_over(tmp_path, tiny_tree, monkeypatch):
    from cyclegan.cli.main import main

    path = _tune_file(tmp_path, _tiny_base(tiny_tree))
    spec = load_tune_spec(path)
    paths = StudyPaths.default(tmp_path / "runs", None)
    summary = run_tune(spec, paths, trials=1, settings=FAST_QUEUE, progress=False)
    assert summary.states == {"COMPLETE": 1} and summary.best_number == 0

    # Two more in a worker process of one trial each, continuing the study: it trains one and hands
    # over to a fresh process for the second (process_chunks(2, 1, 1) == [[1, 1]]); each process is
    # told to train one trial, so three complete trials prove the hand-over happened. (Two workers at
    # once are the same processes started side by side: process_chunks below, tests/test_workers.py;
    # their samplers are seeded apart: test_workers_and_continued_studies_sample_apart.)
    monkeypatch.setattr(cyclegan.runs.tune, "RUNS_PER_PROCESS", 1)
    result = CliRunner().invoke(main, ["tune", str(path), "--trials", "2", "--workers", "1", "--runs-dir", str(paths.runs_dir),
                                       "--no-progress", "--heartbeat", "1", "--grace", "4"])
    assert result.exit_code == 0, result.output
    trials = _trials(paths)
    assert [t.number for t in trials] == [0, 1, 2] and all(t.state.name == "COMPLETE" for t in trials)
    # The process a worker hands over to is seeded apart: it does not replay its predecessor's sample.
    assert trials[1].params != trials[2].params
    assert "tune tiny: 3 trials (3 complete)" in result.output
    # Three complete trials are enough to rank the parameters (one is not: summary test above).
    ranked = result.output.split("parameter importances (Optuna's default evaluator over 3 complete trials):")[1]
    assert all(re.search(rf"^  {re.escape(key)} +\d", ranked, re.M) for key in SPACE), result.output
    for number in range(3):
        history = (paths.runs_dir / "tiny" / "trials" / str(number) / "history.csv").read_text().splitlines()
        assert len(history) == 3  # header + 2 mini-epochs

    # One parent run for both invocations; each trial's run (in this process or a worker's) under it.
    client, experiment, runs = _mlflow_runs(paths)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    (parent,) = [r for r in runs if r.data.tags.get("role") == "parent"]
    trial_runs = {r.data.tags["trial"]: r for r in runs if r.data.tags.get("role") == "trial"}
    assert set(trial_runs) == {"0", "1", "2"}
    for number, run in trial_runs.items():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id and run.data.tags["state"] == "COMPLETE"
        trial = trials[int(number)]
        assert run.data.params["loss.adversarial"] == trial.params["loss.adversarial"]
        assert run.data.params["data.image_size"] == "32"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "tune/objective")] == [1, 2]
        assert client.get_metric_history(run.info.run_id, "tune/objective")[-1].value == pytest.approx(trial.value)
        assert [m.step for m in client.get_metric_history(run.info.run_id, "eval/swd")] == [1, 2]
    best = min(trials, key=lambda t: t.value)  # the objective is minimised
    assert parent.data.tags["best_trial"] == str(best.number) and f"best trial {best.number}" in result.output
    assert {"best_overrides.yaml", "summary.txt", "trials.csv"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}

    overrides = yaml.safe_load((paths.runs_dir / "tiny" / "best_overrides.yaml").read_text())
    tree = spec.base_tree
    for key, value in flatten(overrides).items():
        tree = set_dotted(tree, key, value)
    merged = build_config(tree, source="base + best_overrides.yaml")
    assert {k: merged.flat()[k] for k in SPACE} == best.params


@pytest.mark.parametrize(("workers", "trials", "trains_here"), [(1, 2, True), (2, 2, False), (1, 9, False)])
def test_a_tuning_study_trains_in_this_process_only_without_worker_processes(tmp_path, tiny_tree, monkeypatch, workers,
                                                                             trials, trains_here):
    """Whether the checks before training let this process take GPU memory (ablation's twin test
    shows what each answer does): only when it trains the trials itself (RUNS_PER_PROCESS = 8)."""
    spec = load_tune_spec(_tune_file(tmp_path, _tiny_base(tiny_tree)))
    assert gpu_choice(monkeypatch, lambda: run_tune(spec, StudyPaths.default(tmp_path / "runs", None), trials=trials,
                                                    workers=workers, settings=FAST_QUEUE, progress=False)) is trains_here


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # asked by hand, not through optimize
def test_workers_and_continued_studies_sample_apart(tmp_path):
    """A sampler's seed is the tune file's, the worker's index and the trials already in the study:
    two workers opening the study at once, or a study continued later, do not draw the same params."""
    spec = load_tune_spec(_tune_file(tmp_path, {}))
    storage = open_storage(names.sqlite_url(tmp_path / "optuna.db"), FAST_QUEUE)

    def first_params(study):
        trial = study.ask()
        return {key: distribution.suggest(trial, key) for key, distribution in spec.space.items()}

    worker_1, worker_2 = (open_tune_study(spec, storage, index) for index in (1, 2))  # both see an empty study
    drawn = [first_params(worker_1), first_params(worker_2)]
    again = open_tune_study(spec, open_storage(names.sqlite_url(tmp_path / "again.db"), FAST_QUEUE), 1)
    assert first_params(again) == drawn[0]  # the same seed draws the same: the difference is the seed's
    drawn.append(first_params(open_tune_study(spec, storage, 1)))  # worker 1 again, on a study of 2 trials
    assert len({tuple(sorted(p.items())) for p in drawn}) == 3, drawn


@pytest.mark.slow
def test_a_collapsed_trial_is_pruned_through_the_trainer_callback(tmp_path, tiny_tree, monkeypatch):
    real_score = cyclegan.core.trainer.BatchScorer.__call__
    monkeypatch.setattr(cyclegan.core.trainer.BatchScorer, "__call__", lambda self, outputs: {**real_score(self, outputs), "collapsed": True})
    pruner = {"type": "median", "startup_trials": 0, "warmup_mini_epochs": 0, "prune_collapsed": True}
    spec = load_tune_spec(_tune_file(tmp_path, _tiny_base(tiny_tree), pruner=pruner))
    paths = StudyPaths.default(tmp_path / "runs", None)
    summary = run_tune(spec, paths, trials=1, settings=FAST_QUEUE, progress=False)
    (trial,) = _trials(paths)
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [1]
    assert trial.user_attrs["reason"] == "eval/collapsed = 1 at mini-epoch 1"
    history = (paths.runs_dir / "tiny" / "trials" / "0" / "history.csv").read_text().splitlines()
    assert len(history) == 2  # stopped after mini-epoch 1 of 2
    _, _, runs = _mlflow_runs(paths)
    (run,) = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert run.data.tags["state"] == "PRUNED" and "collapsed" in run.data.tags["prune_reason"]
    assert summary.best_number is None and "no complete trial" in summary.text()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test plays the dead worker by hand
def test_a_dead_workers_trial_is_failed_and_retried_in_its_run_dir(tmp_path, tiny_tree):
    settings = QueueSettings(heartbeat_seconds=1, grace_seconds=2, poll_seconds=0.5)
    spec = load_tune_spec(_tune_file(tmp_path, _tiny_base(tiny_tree)))
    paths = StudyPaths.default(tmp_path / "runs", None)
    storage = open_storage(paths.storage_url, settings)
    dead = open_tune_study(spec, storage).ask()  # a worker took this trial, beat once, and died
    params = {key: distribution.suggest(dead, key) for key, distribution in spec.space.items()}
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(spec.name), dead.number))
    time.sleep(settings.grace_seconds + 1)
    summary = run_tune(spec, paths, trials=1, settings=settings, progress=False)
    failed, retried = _trials(paths)
    assert (failed.state.name, retried.state.name) == ("FAIL", "COMPLETE") and summary.best_number == 1
    assert retried.params == params and retried.user_attrs["run_dir_trial"] == 0
    assert (paths.runs_dir / "tiny" / "trials" / "0" / "history.csv").exists()
    assert not (paths.runs_dir / "tiny" / "trials" / "1").exists()
    _, _, runs = _mlflow_runs(paths)
    (run,) = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert (run.data.tags["trial"], run.data.tags["retry_of"]) == ("1", "0")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test plays the dead worker by hand
def test_a_trial_whose_workers_died_too_often_is_left_failed_and_its_run_ended(tmp_path, tiny_tree):
    """No copy of it waits, so no copy ends its MLflow run as a copy does when it starts: the tune that
    noticed the last death ends it FAILED (it stayed RUNNING)."""
    from cyclegan.runs.queue import DEATHS_ATTR
    from cyclegan.runs.tracking import Tracker

    settings = QueueSettings(heartbeat_seconds=1, grace_seconds=2, poll_seconds=0.5, max_retry=1)
    spec = load_tune_spec(_tune_file(tmp_path, _tiny_base(tiny_tree)))
    paths = StudyPaths.default(tmp_path / "runs", None)
    storage = open_storage(paths.storage_url, settings)
    dead = open_tune_study(spec, storage).ask()  # a worker took this trial, the second of its cell's workers to die
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(spec.name), dead.number)
    storage.set_trial_system_attr(trial_id, DEATHS_ATTR, 1)
    tracker = Tracker(paths.runs_dir)
    experiment_id = tracker.experiment_id(spec.name)
    run_id = tracker.trial_run(experiment_id, tracker.parent_run(experiment_id, spec.name), study=spec.name, trial=dead.number,
                               config=spec.base)
    dead.set_user_attr("mlflow_run_id", run_id)
    storage.record_heartbeat(trial_id)
    time.sleep(settings.grace_seconds + 1)
    run_tune(spec, paths, trials=0, settings=settings, progress=False)
    assert [t.state.name for t in _trials(paths)] == ["FAIL"]  # no copy
    run = tracker.client.get_run(run_id)
    assert (run.info.status, run.data.tags["state"]) == ("FAILED", "FAIL"), run.data.tags


def test_trials_are_split_over_workers_then_into_processes_of_at_most_eight():
    from cyclegan.runs.tune import process_chunks

    assert process_chunks(20, 2, 8) == [[8, 2], [8, 2]]
    assert process_chunks(17, 1, 8) == [[8, 8, 1]]
    assert process_chunks(3, 2, 8) == [[2], [1]]
    assert process_chunks(1, 3, 8) == [[1], [], []]
    for trials, workers in ((0, 1), (9, 4), (40, 3)):
        chunks = process_chunks(trials, workers, 8)
        assert sum(map(sum, chunks)) == trials and all(0 < c <= 8 for worker in chunks for c in worker)

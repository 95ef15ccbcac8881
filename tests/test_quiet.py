"""Quiet by default, complete with -v/--verbose (cyclegan.cli.quiet): no TensorFlow C++ line, no
MLflow INFO record and no pickle warning in a default command's output; the frameworks' logs with
--verbose; our own warnings and results always, also with --no-progress.

The framework lines are recognised here by their own marks (severity letter and date, source file
and line, the names in them), independently of the filter's pattern."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from helpers import TF_CPP_MARKS

from cyclegan.cli.quiet import drop_native_logs

CYCLEGAN = [sys.executable, "-m", "cyclegan"]
MLFLOW_INFO = re.compile(r" INFO mlflow")
PICKLE_WARNING = "CloudPickle"


def _env(**extra: str) -> dict[str, str]:
    """The test process's environment without the settings the quiet mode chooses (conftest sets
    TF_CPP_MIN_LOG_LEVEL for in-process tests; a command must choose it itself)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "MLFLOW_LOGGING_LEVEL", "CYCLEGAN_VERBOSE")}
    return {**env, **extra}


def _run(args: list[str], cwd: Path, timeout: int = 600) -> str:
    done = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_native_log_lines_are_dropped_and_everything_else_kept():
    ours = [
        b"warning: hypothesis 'H3': 1 seeds x 1 strata: ...\n",
        b"study quick:  50%|#####     | 8/16 [07:00<07:00, 52.1s/cell]\n",
        b"error: data.root: no such folder\n",
        b"F0000 00:00:1796462678.395228    9154 check.cc:12] a fatal check failed\n",  # kept: it explains an abort
        b"2026/12/05 09:25:21 WARNING mlflow.pyfunc: a warning of MLflow's\n",
    ]
    native = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        b"I0000 00:00:1796462663.346324    9154 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n",
        b"E0000 00:00:1796462678.395228    9154 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n",
        b"2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers\n",
        b"2024-03-01 10:00:00.000001: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\n",
        b"W1205 09:24:15.123456   18981 some_file.cc:7] a C++ warning\n",
    ]
    mixed = b"".join(line for pair in zip(ours, native, strict=False) for line in pair) + b"".join(native[len(ours):])
    assert drop_native_logs(mixed) == b"".join(ours)


def test_the_filter_covers_child_processes_and_passes_our_lines(tmp_path):
    """A quiet process's file descriptor 2, and so its worker processes' (which inherit it), lose the
    C++ log lines; Python's stderr and a child's other lines come through; the settings reach the child."""
    child = ("import os; os.write(2, b'E0000 00:00:1796462678.395228    9154 cuda_platform.cc:52] failed call to cuInit\\n');"
             "os.write(2, ('child ' + os.environ['TF_CPP_MIN_LOG_LEVEL'] + ' ' + os.environ['MLFLOW_LOGGING_LEVEL'] + '\\n').encode())")
    script = (
        "import os, subprocess, sys\n"
        "from cyclegan.cli.quiet import configure\n"
        "configure(verbose=sys.argv[1] == 'verbose')\n"
        "os.write(2, b'I0000 00:00:1796462663.346324    9154 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "print('warning: ours', file=sys.stderr)\n"
        f"subprocess.run([sys.executable, '-c', {child!r}], check=True, env={{**os.environ, 'MLFLOW_LOGGING_LEVEL': os.environ.get('MLFLOW_LOGGING_LEVEL', '-'), 'TF_CPP_MIN_LOG_LEVEL': os.environ.get('TF_CPP_MIN_LOG_LEVEL', '-')}})\n"
        "os.write(2, b'last line without a newline')\n"
    )
    quiet = subprocess.run([sys.executable, "-c", script, "quiet"], env=_env(), capture_output=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.decode() == "warning: ours\nchild 3 WARNING\nlast line without a newline"
    verbose = subprocess.run([sys.executable, "-c", script, "verbose"], env=_env(), capture_output=True, timeout=120)
    assert verbose.returncode == 0, verbose.stderr
    text = verbose.stderr.decode()
    assert "cudart_stub.cc:31]" in text and "failed call to cuInit" in text and "child - -" in text and "warning: ours" in text


def test_mlflow_info_with_verbose(tmp_path):
    """MLflow reads its level when imported: the choice must come first (a new store's set-up is
    logged at INFO). Without --verbose there is none: the default study below sets up a new store."""
    script = ("from cyclegan.cli.quiet import configure\nconfigure(verbose=True)\n"
              "from mlflow.tracking import MlflowClient\n"
              f"MlflowClient('sqlite:///{tmp_path / 'verbose.db'}').search_experiments()\n")
    done = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert MLFLOW_INFO.search(done.stdout + done.stderr), done.stdout + done.stderr


def test_optunas_failed_trial_warning_only_with_verbose():
    """A tune says each trial's outcome in its own line; Optuna's warning for a failed trial (with its
    traceback) is hidden by default, its other warnings are not."""
    script = ("import sys\nfrom cyclegan.cli.quiet import configure\nconfigure(verbose=sys.argv[1] == 'verbose')\n"
              "import optuna\n"
              "log = optuna.logging.get_logger('optuna.study._optimize')\n"
              "log.warning('Trial 3 failed with parameters: {} because of the following error: RuntimeError().')\n"
              "log.warning('Trial 4 finished with another warning')\n")
    outputs = {}
    for mode in ("quiet", "verbose"):
        done = subprocess.run([sys.executable, "-c", script, mode], env=_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs[mode] = done.stdout + done.stderr
    assert "Trial 3 failed with parameters" not in outputs["quiet"] and "Trial 4 finished with another warning" in outputs["quiet"]
    assert "Trial 3 failed with parameters" in outputs["verbose"], outputs["verbose"]


def test_tensorflow_cpp_lines_with_verbose(tmp_path):
    """Through the command line: a command that builds a Keras model, with -v. (On this machine kind,
    without CUDA drivers, TensorFlow always logs that it found none.) Without -v there is none: the
    default study below, whose processes all build models, checks that."""
    verbose = _run([*CYCLEGAN, "standin-weights", "-v", str(tmp_path / "b.weights.h5")], tmp_path)
    assert "wrote" in verbose and TF_CPP_MARKS.search(verbose), verbose


def test_every_command_takes_verbose():
    from cyclegan.cli.main import main

    def leaves(group: click.Group, prefix: str = ""):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from leaves(command, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", command

    missing = [name for name, command in leaves(main)
               if not any("--verbose" in param.opts and "-v" in param.opts for param in command.params)]
    assert missing == []


@pytest.mark.slow
def test_a_default_study_prints_no_framework_line_and_keeps_our_warning_without_progress(tmp_path, tiny_tree):
    """A two-cell study trained in worker processes of one cell each (--cells-per-process 1), without
    progress bars: the parent and the workers all import TensorFlow and MLflow and log the generators;
    the design warning (one seed cannot bound a level) and the result line still show. The worker
    hands over to a fresh process after its cell, and no cell is trained twice."""
    from cyclegan.runs.ablation import StudyPaths
    from cyclegan.runs.queue import CellQueue, QueueSettings, open_storage
    from cyclegan.spec.study import load_study

    base = {**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": 1, "steps_per_mini_epoch": 1}}
    study = {"name": "quiet", "base": base, "factors": {"generator.norm": ["instance", "none"]}, "seeds": [0],
             "hypotheses": [{"name": "bounded", "claim": "c", "factor": "generator.norm", "level": "instance",
                             "metric": "eval/grid_score", "below": 5.0}]}
    (tmp_path / "quiet.yaml").write_text(yaml.safe_dump(study))
    out = _run([*CYCLEGAN, "ablate", "quiet.yaml", "--runs-dir", "runs", "--no-progress", "--cells-per-process", "1"],
               tmp_path, timeout=900)
    assert not TF_CPP_MARKS.search(out), out
    assert not MLFLOW_INFO.search(out), out
    assert PICKLE_WARNING not in out, out
    assert "WARNING:tensorflow" not in out and "is deprecated" not in out, out  # e.g. from the FLOP count of machine use
    assert re.search(r"^warning: hypothesis 'bounded': with 1 seed", out, re.MULTILINE), out
    assert "study quiet: 2/2 cells done, 0 failed" in out, out
    done = re.findall(r"^cell (\S+) done: loss/cycle \S+, MLflow run \w+$", out, re.MULTILINE)  # one per cell, no bars
    assert len(done) == 2 and len(set(done)) == 2, out
    loaded = load_study(tmp_path / "quiet.yaml")
    queue = CellQueue(loaded, open_storage(StudyPaths.default(tmp_path / "runs", None).storage_url, QueueSettings()))
    complete = [t for t in queue.storage.get_all_trials(queue.study_id) if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["cell"] for t in complete) == sorted(c.cell_id for c in loaded.cells)  # each once
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # host:pid of two processes

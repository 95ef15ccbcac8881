"""A tiny study through a real single-node SLURM, a real MLflow tracking server and PostgreSQL.

.ci/run starts all three (.ci/cluster.sh) and exports CYCLEGAN_TEST_SLURM_CONF,
CYCLEGAN_TEST_MLFLOW_URI and CYCLEGAN_TEST_POSTGRES_URL; when one could not start, it exports the
reason in CYCLEGAN_TEST_CLUSTER_SKIP and this test is skipped with it (never passed).

2 cells, both tasks at once, launched with `cyclegan launch slurm --submit` as a user would. Every task
is held before its third training step (tests/hold_at_step.py, through --cyclegan-command) so the test
knows where each stands: the first one held is stopped mid-cell with `scancel --signal=TERM` on its job step, the
other trains on (the signal reaches that one task only). The stopped task checkpoints, puts its cell back in the
queue and requeues itself; the requeued task claims that cell again from the queue;
the study completes with every cell finished exactly once in the queue and in the MLflow server, and no
task's log holds a framework line that a terminal would not show (the quiet default in a batch job).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml
from helpers import TF_CPP_MARKS

from cyclegan.names import CELL_TAG, ROLE_CELL, ROLE_TAG

pytestmark = pytest.mark.slow
HOLD_AT_STEP = Path(__file__).with_name("hold_at_step.py")
SECRET = f"ci-pw-{uuid.uuid4().hex[:8]}"  # PostgreSQL on 127.0.0.1 trusts the connection; the password is only carried
DEADLINE_SECONDS = 600  # under pytest's own 900 s timeout, so a stuck study fails with its task logs


def _cluster() -> tuple[str, str, str]:
    names = ("CYCLEGAN_TEST_SLURM_CONF", "CYCLEGAN_TEST_MLFLOW_URI", "CYCLEGAN_TEST_POSTGRES_URL")
    values = [os.environ.get(name, "") for name in names]
    if not all(values):
        reason = os.environ.get("CYCLEGAN_TEST_CLUSTER_SKIP") or f"{', '.join(n for n, v in zip(names, values, strict=True) if not v)} unset"
        pytest.skip(f"no SLURM cluster and MLflow server (.ci/run starts them): {reason}")
    return values[0], values[1], values[2]


def _with_password(url: str) -> str:
    return re.sub(r"^(postgresql://[^:@/]+)@", rf"\1:{SECRET}@", url)


def _fresh_database(url: str, name: str) -> str:
    """An empty database on the same server, so the submit must create the queue's tables itself."""
    import sqlalchemy

    database = name.replace("-", "_")
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{database}"'))
    engine.dispose()
    return str(sqlalchemy.engine.make_url(url).set(database=database).render_as_string(hide_password=False))


def _run(command: list[str], env: dict) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def test_a_study_through_slurm_completes_each_cell_once_with_a_task_stopped_mid_cell(tmp_path, tiny_tree):
    slurm_conf, tracking_uri, postgres_url = _cluster()
    from mlflow.tracking import MlflowClient

    from cyclegan.runs.queue import CellQueue, QueueSettings, opened_storage
    from cyclegan.spec.study import load_study

    name = f"cluster-{uuid.uuid4().hex[:10]}"
    base = {**tiny_tree, "train": {**tiny_tree["train"], "mini_epochs": 2, "steps_per_mini_epoch": 2}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base": base, "factors": {"discriminator.output": ["patch", "scalar"]},
                                    "seeds": [0], "hypotheses": []}))
    storage = _with_password(_fresh_database(postgres_url, name))
    assert SECRET in storage
    quiet_choices = ("TF_CPP_MIN_LOG_LEVEL", "MLFLOW_LOGGING_LEVEL", "CYCLEGAN_VERBOSE")  # the tasks choose them themselves
    env = {k: v for k, v in os.environ.items() if k not in quiet_choices}
    env |= {"SLURM_CONF": slurm_conf, "CYCLEGAN_STORAGE": storage, "MLFLOW_TRACKING_URI": tracking_uri,
            "CUDA_VISIBLE_DEVICES": "", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1",
            "CYCLEGAN_PROBE_TIMEOUT": "30"}  # the stores' first answer, on a 2-core machine running other tests at once
    held = tmp_path / "held"
    held.mkdir()
    # The database is empty: `launch slurm --submit` must create the queue's tables and cells before the
    # tasks start at once (else they race on Optuna's table creation and one fails with status 2).
    # Expanded by the task's shell: one marker per task, named as SLURM names an array task. Its
    # $SLURM_JOB_ID is no name for it: one task's is the array's id, and scancel on that signals every task.
    command = f"{sys.executable} {HOLD_AT_STEP} 3 {held}/task-${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
    runs = tmp_path / "runs"
    start = time.monotonic()
    launched = _run([sys.executable, "-m", "cyclegan", "launch", "slurm", str(path), "--submit", "--runs-dir", str(runs),
                     "--max-parallel", "2", "--gres", "", "--cpus-per-task", "1", "--heartbeat", "2", "--grace", "10",
                     "--stop-seconds", "60", "--cyclegan-command", command], env)
    array = re.search(r"submitted job array (\d+)", launched).group(1)
    seen = [launched]
    victim, nudged = None, False
    try:
        while True:
            assert time.monotonic() - start < DEADLINE_SECONDS, f"study not done in {DEADLINE_SECONDS} s: {_logs(runs, name)}"
            for marker in sorted(held.glob("task-*")):
                if marker.suffix == ".go" or Path(f"{marker}.go").exists():
                    continue
                job = marker.name.removeprefix("task-")
                if victim is None:
                    victim = job
                    seen.append(_run(["scontrol", "show", "job", job], env))  # what other users can see of a task
                    seen.append(_command_lines(int(marker.read_text())))  # ... and of its processes (ps)
                    # To the worker's job step, as SLURM's own warning signal goes (not the batch shell, which
                    # requeues). The step by name: on the whole task, SLURM 22.05 may answer "Job can not be
                    # altered now" while its array has a pending task (a signal sent anyway), and retry for minutes.
                    (step,) = [s for s in _run(["squeue", "-h", "-s", "-j", job, "-o", "%i"], env).split() if s == f"{job}.0"]
                    _run(["scancel", "--signal=TERM", step], env)
                Path(f"{marker}.go").touch()
            if victim is not None and not nudged:
                state = _run(["scontrol", "show", "job", victim], env)
                if "Restarts=1" in state and "JobState=PENDING" in state:
                    # SLURM holds a requeued job for two minutes (hard-coded); the test does not wait for that,
                    # but for 3 s: slurmd refuses a launch credential made in the same second as it revoked the
                    # stopped run's ("Killing non-startable batch JobId=N: Job credential revoked"; seen in CI).
                    subprocess.run(["scontrol", "update", f"JobId={victim}", "StartTime=now+3"], env=env, capture_output=True)
                    nudged = True
            if not _run(["squeue", "-h", "-j", array], env).strip():
                break
            time.sleep(1)
    finally:
        subprocess.run(["scancel", array], env=env, capture_output=True)
    elapsed = time.monotonic() - start
    print(f"cluster study: {elapsed:.0f} s from submission to the last task's end")

    assert victim is not None and nudged, _logs(runs, name)
    logs = _logs(runs, name)
    victim_log = logs[f"{victim}.out"]
    assert "stopped by SIGTERM" in victim_log and "requeueing this task" in victim_log
    slurm_logs = {file.name: file.read_text(errors="replace") for file in Path(slurm_conf).parent.glob("slurm*.log")}
    # The same task ran again; if not, the controller's lines about it say why.
    assert f"task {victim} (job " in victim_log and ", restart 1)" in victim_log, \
        (victim_log, [line for line in slurm_logs.get("slurmctld.log", "").splitlines() if victim in line])
    assert sum("requeueing this task" in text for text in logs.values()) == 1  # no other task was stopped or requeued
    for text in logs.values():  # a task's log is as quiet as a terminal: no TensorFlow C++ line, no MLflow INFO line
        assert not TF_CPP_MARKS.search(text) and " INFO mlflow" not in text, text
        assert "View run" not in text and "View experiment" not in text, text  # MLflow's run URLs on a server
    for text in [*seen, *logs.values(), (runs / "slurm" / name / "job.sbatch").read_text(), *slurm_logs.values()]:
        assert SECRET not in text

    study = load_study(path)
    with opened_storage(storage, QueueSettings()) as opened:
        queue = CellQueue(study, opened)
        trials = queue.storage.get_all_trials(queue.study_id)
    completed = Counter(t.user_attrs["cell"] for t in trials if t.state.name == "COMPLETE")
    assert completed == Counter({cell.cell_id: 1 for cell in study.cells})  # every cell exactly once
    (stopped,) = [t for t in trials if t.state.name == "FAIL"]
    assert "interrupted" in stopped.user_attrs["failure_reason"]
    (resumed,) = [t for t in trials if t.system_attrs.get("failed_trial") == stopped.number]
    assert resumed.state.name == "COMPLETE" and resumed.user_attrs["cell"] == stopped.user_attrs["cell"]

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    runs_found = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(ROLE_TAG) == ROLE_CELL]
    assert sorted(r.data.tags[CELL_TAG] for r in runs_found) == sorted(c.cell_id for c in study.cells)
    assert {r.info.status for r in runs_found} == {"FINISHED"}
    for run in runs_found:  # the stopped cell's run too: each mini-epoch logged once, none missing
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss/cycle")) == [1, 2]


def _command_lines(pid: int) -> str:
    """The command lines of a process and its ancestors (srun, slurmstepd, the batch shell): any user can read them."""
    lines = []
    while pid > 1:
        proc = Path(f"/proc/{pid}")
        lines.append(proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        pid = int(proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
    assert any(HOLD_AT_STEP.name in line for line in lines), lines  # the worker's own, so the check reads something
    return "\n".join(lines)


def _logs(runs: Path, name: str) -> dict[str, str]:
    folder = runs / "slurm" / name
    return {file.name: file.read_text() for file in sorted(folder.glob("*.out"))} if folder.exists() else {}

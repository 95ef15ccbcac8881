"""`cyclegan launch slurm|kubernetes`: the sbatch script and the Job manifest, their checks, and the
Kubernetes container's shell loop run for real with a stand-in for the worker.

The real run under SLURM and an MLflow server is tests/test_cluster.py."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cyclegan.cli.main import main

STORAGE_SECRET, TRACKING_SECRET = "Pg-s3cret-4711", "Mlf-s3cret-0815"


@pytest.fixture()
def study_file(tmp_path, monkeypatch) -> Path:
    """A study of 4 cells (2 levels x 2 seeds); the launch commands read only its name and cells."""
    monkeypatch.setenv("CYCLEGAN_STORAGE", f"postgresql://worker:{STORAGE_SECRET}@db.example:5432/cyclegan")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"https://user:{TRACKING_SECRET}@mlflow.example")
    path = tmp_path / "Tiny_Study.v2.yaml"
    path.write_text(yaml.safe_dump({"name": "Tiny_Study.v2", "base": {"data": {"root": str(tmp_path / "data"), "image_size": 32}},
                                    "factors": {"discriminator.output": ["patch", "scalar"]}, "seeds": [0, 1], "hypotheses": []}))
    return path


def _launch(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["launch", *arguments])
    return result.exit_code, result.stdout, result.stderr


def _no_secret(text: str) -> None:
    assert STORAGE_SECRET not in text and TRACKING_SECRET not in text
    assert "db.example" not in text and "mlflow.example" not in text  # no store URL at all, masked or not


def test_slurm_script_is_a_requeueable_array_with_one_task_per_cell_and_no_secret(study_file, tmp_path):
    runs = tmp_path / "shared" / "runs"
    status, out, err = _launch("slurm", str(study_file), "--print", "--max-parallel", "2", "--runs-dir", str(runs), "--time", "02:00:00",
                               "--stop-seconds", "240", "--sbatch-option=--partition=gpu", "--setup", "module load cuda",
                               "--set", "train.mini_epochs=3")
    assert status == 0, err
    _no_secret(out + err)
    directives = re.findall(r"^#SBATCH (\S+)$", out, flags=re.M)
    for expected in ("--array=0-3%2", "--requeue", "--signal=TERM@240", "--gres=gpu:1", "--time=02:00:00", "--partition=gpu",
                     f"--output={runs.resolve()}/slurm/Tiny_Study.v2/%A_%a.out", "--job-name=cyclegan-Tiny_Study.v2"):
        assert expected in directives, (expected, directives)
    (srun,) = [line for line in out.splitlines() if line.startswith("srun ")]
    assert f"worker {study_file.resolve()} --runs-dir {runs.resolve()} --max-cells 1" in srun
    assert srun.endswith("--set train.mini_epochs=3")
    assert "module load cuda" in out.split("srun ")[0]  # the setup line runs before the worker
    assert 'scontrol requeue "$task"' in out  # a stopped task (status 4) comes back for its cell
    # ... by its array name: the SLURM_JOB_ID of one task is the array's id, and requeueing that requeues them all
    assert 'task="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"' in out and "$SLURM_JOB_ID\"" not in out
    assert not runs.exists()  # --print writes nothing
    assert subprocess.run(["bash", "-n"], input=out, text=True).returncode == 0  # valid bash


def test_slurm_without_gres_for_a_cluster_without_gpus(study_file):
    status, out, _ = _launch("slurm", str(study_file), "--gres", "", "--cpus-per-task", "1")
    assert status == 0
    assert "--gres" not in out and "#SBATCH --cpus-per-task=1" in out
    assert "#SBATCH --array=0-3%4" in out  # default: every cell at once


@pytest.mark.parametrize("arguments, message", [
    (["--runs-dir", "/tmp/with space/runs"], "cannot hold a path with spaces"),
    (["--heartbeat", "60", "--grace", "30"], "--grace (30) must be longer than --heartbeat (60)"),
    (["--set", "train.no_such_key=1"], "no_such_key"),
    # printed into the script unchecked before, exit 0
    (["--time", "banana"], "'banana': not a SLURM time"),
    (["--cyclegan-command", 'python "-m'], "No closing quotation"),
    (["--cyclegan-command", "  "], "empty: give the command that runs cyclegan"),
])
def test_slurm_bad_input_is_one_line_with_status_2(study_file, arguments, message):
    status, out, err = _launch("slurm", str(study_file), *arguments)
    assert status == 2, out + err
    assert message in err and "Traceback" not in err
    _no_secret(out + err)


def test_slurm_submit_refuses_stores_the_other_nodes_cannot_reach(study_file, monkeypatch, tmp_path):
    monkeypatch.setenv("CYCLEGAN_STORAGE", f"sqlite:///{tmp_path}/optuna.db")
    status, _, err = _launch("slurm", str(study_file), "--submit", "--runs-dir", str(tmp_path / "runs"))
    assert status == 2 and "CYCLEGAN_STORAGE must be the queue's database server" in err
    monkeypatch.delenv("CYCLEGAN_STORAGE")
    status, _, err = _launch("slurm", str(study_file), "--submit", "--runs-dir", str(tmp_path / "runs"))
    assert status == 2 and "it is not set" in err
    monkeypatch.setenv("CYCLEGAN_STORAGE", f"postgresql://worker:{STORAGE_SECRET}@db.example:5432/cyclegan")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    status, out, err = _launch("slurm", str(study_file), "--submit", "--runs-dir", str(tmp_path / "runs"))
    assert status == 2 and "MLFLOW_TRACKING_URI must be an MLflow server" in err
    _no_secret(out + err)
    assert not (tmp_path / "runs").exists()  # nothing written before the checks pass


def _manifest(study_file: Path, *arguments: str) -> dict:
    status, out, err = _launch("kubernetes", str(study_file), "--print", "--image", "registry.example/cyclegan:1.0", *arguments)
    assert status == 0, err
    _no_secret(out + err)
    return yaml.safe_load(out)


def test_kubernetes_job_is_a_work_queue_with_the_storage_from_a_secret(study_file):
    job = _manifest(study_file, "--max-parallel", "3", "--stop-seconds", "600", "--secret", "stores", "--claim", "shared-work")
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", job["metadata"]["name"]) and len(job["metadata"]["name"]) <= 63
    assert job["metadata"]["name"] == "cyclegan-tiny-study-v2"
    spec = job["spec"]
    assert spec["parallelism"] == 3 and "completions" not in spec  # work queue: pods end when the queue is empty
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure" and pod["terminationGracePeriodSeconds"] == 600
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/cyclegan:1.0" and container["workingDir"] == "/work"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    env = {item["name"]: item for item in container["env"]}
    for name in ("CYCLEGAN_STORAGE", "MLFLOW_TRACKING_URI"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "stores", "key": name}
        assert "value" not in env[name]
    (volume,) = pod["volumes"]
    assert volume["persistentVolumeClaim"] == {"claimName": "shared-work"}
    assert container["volumeMounts"] == [{"name": volume["name"], "mountPath": "/work"}]
    command = container["command"] + container["args"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert f"cyclegan worker {study_file} --runs-dir runs --max-cells 8" in command[2]


def test_kubernetes_without_gpus_and_parallelism_capped_at_the_cells(study_file):
    job = _manifest(study_file, "--gpus", "0", "--max-parallel", "10")
    assert job["spec"]["parallelism"] == 4
    assert "resources" not in job["spec"]["template"]["spec"]["containers"][0]


def test_kubernetes_needs_an_image(study_file):
    status, _, err = _launch("kubernetes", str(study_file))
    assert status == 2 and "--image" in err
    for image in ("", "two words"):
        status, out, err = _launch("kubernetes", str(study_file), "--image", image)
        assert status == 2 and "a container image name" in err and not out, err
    status, out, _ = _launch("slurm", str(study_file), "--time", "2-12:00:00")
    assert status == 0 and "#SBATCH --time=2-12:00:00" in out


STAND_IN = """\
import pathlib, signal, sys, time
calls = pathlib.Path(sys.argv[1])
statuses = [int(s) for s in sys.argv[2].split(",")]
count = len(calls.read_text().splitlines()) if calls.exists() else 0
with calls.open("a") as log:
    log.write(" ".join(sys.argv[3:]) + "\\n")
if statuses[count] < 0:  # wait for SIGTERM, then end as a worker that checkpointed and requeued
    checkpoint_seconds = -statuses[count] - 15  # -15: ends at once; -17: takes 2 s
    signal.signal(signal.SIGTERM, lambda *a: (time.sleep(checkpoint_seconds), sys.exit(4)))
    pathlib.Path(str(calls) + ".ready").touch()
    time.sleep(60)
    sys.exit(9)
sys.exit(statuses[count])
"""


def _container_shell(study_file: Path, tmp_path: Path, statuses: str) -> tuple[str, Path]:
    stand_in = tmp_path / "stand_in.py"
    stand_in.write_text(STAND_IN)
    calls = tmp_path / "calls.txt"
    job = _manifest(study_file, "--cyclegan-command", f"{sys.executable} {stand_in} {calls} {statuses}", "--cells-per-process", "2")
    return job["spec"]["template"]["spec"]["containers"][0]["args"][0], calls


@pytest.mark.skipif(shutil.which("sh") is None, reason="no /bin/sh")
def test_kubernetes_container_starts_fresh_workers_while_cells_are_left_and_exits_as_the_last(study_file, tmp_path):
    shell, calls = _container_shell(study_file, tmp_path, "3,3,0")
    done = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    assert len(lines) == 3  # status 3 twice: two fresh workers; 0: the pod succeeds
    assert all(line.startswith(f"worker {study_file} --runs-dir runs --max-cells 2 ") for line in lines)
    (tmp_path / "failing").mkdir()
    shell, calls = _container_shell(study_file, tmp_path / "failing", "3,2,0")
    done = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and len(calls.read_text().splitlines()) == 2  # bad input: the pod fails, no retry loop here


@pytest.mark.skipif(shutil.which("sh") is None, reason="no /bin/sh")
@pytest.mark.parametrize(
    ("second_worker", "signals"),
    [("-15", 1), ("-17", 2)],
    ids=["worker-ends-at-once", "second-sigterm-while-checkpointing"],
)
def test_kubernetes_container_passes_sigterm_to_the_worker_and_starts_no_other(study_file, tmp_path, second_worker, signals):
    shell, calls = _container_shell(study_file, tmp_path, f"3,{second_worker},0")
    pod = subprocess.Popen(["sh", "-c", shell], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = Path(f"{calls}.ready")
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and pod.poll() is None, "the second worker never started"
        time.sleep(0.05)
    for _ in range(signals):  # what the kubelet does: SIGTERM to the container's PID 1, the shell
        os.kill(pod.pid, signal.SIGTERM)
        time.sleep(0.5)
    assert pod.wait(timeout=30) == 4  # the worker's own status: checkpointed and requeued
    assert len(calls.read_text().splitlines()) == 2  # no fresh worker after the stop


# -- review s17: findings 2, 4, 7, 9 -------------------------------------------------------------------

def test_kubernetes_passes_the_weights_variables_set_here_to_the_pods(study_file, tmp_path, monkeypatch):
    """A weights file's fingerprint is part of a cell's identity: pods without the launching machine's
    CYCLEGAN_IMAGENET_WEIGHTS computed other cell ids than `report` here (or could not start offline)."""
    monkeypatch.delenv("CYCLEGAN_IMAGENET_WEIGHTS", raising=False)
    monkeypatch.delenv("CYCLEGAN_INCEPTION_WEIGHTS", raising=False)
    container = _manifest(study_file)["spec"]["template"]["spec"]["containers"][0]
    assert [item["name"] for item in container["env"]] == ["CYCLEGAN_STORAGE", "MLFLOW_TRACKING_URI"]  # nothing set, nothing added
    weights = {"CYCLEGAN_IMAGENET_WEIGHTS": "weights/vgg16 notop.h5", "CYCLEGAN_INCEPTION_WEIGHTS": str(tmp_path / "inception.weights.h5")}
    for name, value in weights.items():
        monkeypatch.setenv(name, value)
    status, out, err = _launch("kubernetes", str(study_file), "--image", "registry.example/cyclegan:1.0", "--mount", "/shared")
    assert status == 0, err
    _no_secret(out + err)
    container = yaml.safe_load(out)["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item for item in container["env"]}
    for name, value in weights.items():
        assert env[name] == {"name": name, "value": value}  # the same value: the user makes that path exist in the pod
    assert env["CYCLEGAN_STORAGE"]["valueFrom"]["secretKeyRef"]["key"] == "CYCLEGAN_STORAGE"  # the stores still from the Secret
    (note,) = err.splitlines()  # one line, on stderr: stdout is the manifest
    assert note.startswith("note: the pods get CYCLEGAN_IMAGENET_WEIGHTS=weights/vgg16 notop.h5") and "/shared" in note


def test_kubernetes_manifest_never_carries_a_store_url_by_value():
    from cyclegan.launch.kubernetes import KubernetesOptions, manifest
    from cyclegan.launch.worker_args import WorkerArgs

    worker = WorkerArgs("s.yaml", "runs", 8, 60, 600)
    options = KubernetesOptions(image="i", parallelism=1, environment=(("CYCLEGAN_STORAGE", f"postgresql://u:{STORAGE_SECRET}@db/q"),))
    with pytest.raises(ValueError, match="CYCLEGAN_STORAGE"):
        manifest(study_name="s", cells=1, worker=worker, command="cyclegan", options=options)


def test_slurm_submit_prints_the_report_command_of_the_cells_the_job_trains(study_file, tmp_path, monkeypatch):
    """The hint was `cyclegan report STUDY`: without the job's --set overrides (they change the cells'
    identities) and --runs-dir, it read other cells than the job trained."""
    import cyclegan.cli.launch as cli_launch

    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    (fakebin / "sbatch").write_text('#!/bin/sh\necho "4242;cluster"\n')
    (fakebin / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fakebin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(cli_launch, "_check_cluster_stores", lambda: None)  # no PostgreSQL or MLflow server here
    monkeypatch.setattr(cli_launch, "_prepare_queue", lambda study: None)
    status, out, err = _launch("slurm", str(study_file), "--submit", "--runs-dir", str(tmp_path / "cluster-runs"),
                               "--set", "train.mini_epochs=3", "--set", "train.batch_size=2")
    assert status == 0, err
    _no_secret(out + err)
    (follow,) = [line for line in out.splitlines() if line.startswith("follow:")]
    report = follow.split("report: ", 1)[1]
    assert report == (f"cyclegan report {study_file} --runs-dir {(tmp_path / 'cluster-runs').resolve()} "
                      "--set train.mini_epochs=3 --set train.batch_size=2")


@pytest.mark.parametrize("time_limit, seconds", [("6", 360), ("6:00", 360), ("0:06:00", 360), ("0-0:06", 360), ("0-0:06:00", 360),
                                                  ("4", 240)])
def test_slurm_refuses_a_time_limit_the_stop_signal_would_fill(study_file, time_limit, seconds):
    """sbatch signals up to 60 s before --stop-seconds: with no more time than that the signal comes at
    the task's start, the worker stops before training and the task requeues itself forever."""
    status, out, err = _launch("slurm", str(study_file), "--time", time_limit)  # default --stop-seconds 300
    assert status == 2 and not out, out + err
    assert f"--time {time_limit} ({seconds} s) must be longer than --stop-seconds 300 + 60 s" in err and "Traceback" not in err


@pytest.mark.parametrize("time_limit, stop_seconds", [("361", "300"), ("6:01", "300"), ("0-1", "300"), ("1-0:00:00", "3600"),
                                                       ("3", "119"), ("UNLIMITED", "300"), ("infinite", "300"), ("0", "300")])
def test_slurm_accepts_a_time_limit_longer_than_the_stop_window(study_file, time_limit, stop_seconds):
    status, out, err = _launch("slurm", str(study_file), "--time", time_limit, "--stop-seconds", stop_seconds)
    assert status == 0, err
    assert f"#SBATCH --time={time_limit}" in out and f"#SBATCH --signal=TERM@{stop_seconds}" in out


def test_braces_in_user_values_reach_the_script_and_manifest_as_written(study_file):
    """The templates were filled one placeholder after another in text already holding user values:
    '{{user}}' in a --set value stopped the command with an AssertionError traceback, and a --setup
    line '{{command}}' was replaced by the cyclegan command."""
    status, out, err = _launch("slurm", str(study_file), "--set", "data.root=/data/{{user}}", "--setup", 'echo "{{command}}"')
    assert status == 0, err
    assert 'echo "{{command}}"' in out.splitlines()
    (srun,) = [line for line in out.splitlines() if line.startswith("srun ")]
    assert srun.endswith("--set 'data.root=/data/{{user}}'")
    job = _manifest(study_file, "--set", "data.root=/data/{{image}}")
    assert "--set 'data.root=/data/{{image}}'" in job["spec"]["template"]["spec"]["containers"][0]["args"][0]


def test_a_template_placeholder_without_a_value_is_still_a_bug():
    from cyclegan.launch.worker_args import fill

    assert fill("{{a}}-{{b}}", a="{{b}}", b="x") == "{{b}}-x"
    with pytest.raises(AssertionError, match=r"\{\{b\}\}"):
        fill("{{a}}-{{b}}", a="1")

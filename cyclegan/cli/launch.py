"""``cyclegan launch slurm|kubernetes STUDY``: a study's workers under a cluster scheduler
(docs/cluster.md). Registered on the main group in ``cyclegan.cli.main``."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click

from cyclegan.cli.options import grace_option, heartbeat_option, set_option
from cyclegan.cli.study import report_command

CELLS_PER_POD_PROCESS = 8  # cyclegan.runs.orchestration.RUNS_PER_PROCESS, without importing MLflow for it
stop_seconds_option = click.option(
    "--stop-seconds", default=300, show_default=True, type=click.IntRange(min=10),
    help="Time a stopping worker gets for its next step and one checkpoint: SLURM signals this long before the time "
         "limit; Kubernetes waits this long after SIGTERM before it kills.")
parallel_option = click.option("--max-parallel", default=None, type=click.IntRange(min=1),
                               help="Workers at once (default: one per cell).")
experiment_argument = click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))

SIGNAL_EARLY_SECONDS = 60  # sbatch(1) --signal: "may be sent up to 60 seconds earlier than specified"
# sbatch's --time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or no limit.
_SLURM_TIME = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}|UNLIMITED|infinite", re.IGNORECASE)


def _slurm_time(_ctx, _param, value: str | None) -> str | None:
    """A time limit sbatch accepts, checked here: a wrong one would only fail at submission, or
    in a printed script someone submits later."""
    if value is not None and not _SLURM_TIME.fullmatch(value.strip()):
        raise click.BadParameter(f"{value!r}: not a SLURM time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)")
    return None if value is None else value.strip()


def _slurm_seconds(value: str) -> int | None:
    """Seconds in a SLURM time limit already checked by :func:`_slurm_time`; None for no limit
    (``UNLIMITED``, ``infinite``, or 0, which sbatch reads as no limit)."""
    if value.lower() in ("unlimited", "infinite"):
        return None
    days, _, clock = value.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:  # HH:MM:SS
        hours, minutes, seconds = parts
    else:  # minutes, MM:SS
        hours, (minutes, seconds) = 0, (parts + [0])[:2]
    total = ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds
    return total or None


def _check_time_limit(time_limit: str | None, stop_seconds: int) -> None:
    """sbatch sends --signal=TERM@<stop-seconds> up to 60 s earlier than asked (sbatch(1)). With a
    limit that leaves no more than that, the signal comes as the task starts: the worker stops before
    it trains, the task requeues itself, and so on without end."""
    total = None if time_limit is None else _slurm_seconds(time_limit)
    if total is not None and total <= stop_seconds + SIGNAL_EARLY_SECONDS:
        raise click.BadParameter(
            f"--time {time_limit} ({total} s) must be longer than --stop-seconds {stop_seconds} + {SIGNAL_EARLY_SECONDS} s "
            f"(= {stop_seconds + SIGNAL_EARLY_SECONDS} s): sbatch may send the stop signal up to {SIGNAL_EARLY_SECONDS} s earlier "
            "than asked, and a task signalled as it starts would requeue itself forever; give a longer --time or a shorter --stop-seconds",
            param_hint="'--time'")


def _command_words(_ctx, _param, value: str | None) -> str | None:
    """Words a shell can split (the script pastes them before `worker ...`)."""
    if value is None:
        return None
    try:
        words = shlex.split(value)
    except ValueError as err:
        raise click.BadParameter(f"{value!r}: {err} (quote it as a shell would)") from None
    if not words:
        raise click.BadParameter("empty: give the command that runs cyclegan on a node, e.g. 'python -m cyclegan'")
    return value


def _image_name(_ctx, _param, value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value):
        raise click.BadParameter(f"{value!r}: a container image name, e.g. registry.example.org/cyclegan:1.0")
    return value


@click.group()
def launch() -> None:
    """Run a study's workers under a cluster scheduler: a SLURM job array or a Kubernetes Job.

    Store URLs travel in the environment (CYCLEGAN_STORAGE, MLFLOW_TRACKING_URI) or a Secret,
    never in the printed script. See docs/cluster.md."""


@launch.command("slurm")
@experiment_argument
@set_option
@click.option("--print", "action", flag_value="print", default=True, help="Print the sbatch script (the default).")
@click.option("--submit", "action", flag_value="submit",
              help="Write the script beside the task logs and submit it with sbatch (the stores must answer first).")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True,
              help="The runs folder, on a file system every node shares: a cell taken over resumes from its checkpoint there.")
@parallel_option
@click.option("--gres", default="gpu:1", show_default=True, help="Generic resources per task; '' on a cluster without GPUs.")
@click.option("--cpus-per-task", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--time", "time_limit", default=None, metavar="D-HH:MM:SS", callback=_slurm_time,
              help="Time limit per task (default: the partition's).")
@stop_seconds_option
@click.option("--sbatch-option", "sbatch_options", multiple=True, metavar="OPTION",
              help="Another #SBATCH line, e.g. --sbatch-option=--partition=gpu (repeatable).")
@click.option("--setup", multiple=True, metavar="LINE", help="A shell line run before the worker, e.g. 'module load cuda' (repeatable).")
@click.option("--cyclegan-command", default=None, metavar="WORDS", callback=_command_words,
              help="How a node runs cyclegan (default: this Python with -m cyclegan, which must be on the shared file system).")
@heartbeat_option
@grace_option
def slurm(experiment: Path, overrides: tuple[str, ...], action: str, runs_dir: Path, max_parallel: int | None, gres: str,
          cpus_per_task: int, time_limit: str | None, stop_seconds: int, sbatch_options: tuple[str, ...], setup: tuple[str, ...],
          cyclegan_command: str | None, heartbeat: int, grace: int) -> None:
    """Print (or --submit) an sbatch job array for EXPERIMENT: one task per cell."""
    from cyclegan.launch.slurm import SlurmOptions, script
    from cyclegan.launch.worker_args import WorkerArgs
    from cyclegan.spec.study import load_study

    _check_timing(heartbeat, grace)
    _check_time_limit(time_limit, stop_seconds)
    study = load_study(experiment, overrides)
    runs_dir = runs_dir.resolve()
    logs = runs_dir / "slurm" / study.name
    worker = WorkerArgs(str(experiment.resolve()), str(runs_dir), 1, heartbeat, grace, overrides)
    command = cyclegan_command or f"{shlex.quote(sys.executable)} -m cyclegan"
    options = SlurmOptions(max_parallel=max_parallel or len(study.cells), gres=gres, cpus_per_task=cpus_per_task, time_limit=time_limit,
                           stop_seconds=stop_seconds, sbatch_options=sbatch_options, setup=setup)
    text = script(study_name=study.name, cells=len(study.cells), worker=worker, command=command, workdir=str(Path.cwd()),
                  logs=str(logs), options=options)
    if action == "print":
        click.echo(text, nl=False)
        return
    _check_cluster_stores()
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ValueError("sbatch is not on PATH: run `cyclegan launch slurm --submit` on a SLURM login node (or --print the script)")
    _prepare_queue(study)
    logs.mkdir(parents=True, exist_ok=True)
    script_file = logs / "job.sbatch"
    script_file.write_text(text)
    done = subprocess.run([sbatch, "--parsable", str(script_file)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        from cyclegan.masking import mask

        raise ValueError(mask(f"sbatch refused {script_file}: {(done.stderr or done.stdout).strip()}"))
    job = done.stdout.strip().split(";")[0]
    click.echo(f"submitted job array {job}: {len(study.cells)} tasks, at most {min(options.max_parallel, len(study.cells))} at once; "
               f"script {script_file}, logs {logs}/{job}_<task>.out")
    # The report must read the cells this job trains: the --set overrides change their identities, and
    # the runs folder is the job's (the same line `ablate` prints).
    click.echo(f"follow: squeue -j {job}   stop: scancel {job}   report: {report_command(experiment, runs_dir, overrides)}")


@launch.command("kubernetes")
@experiment_argument
@set_option
@click.option("--print", "action", flag_value="print", default=True, help="Print the Job manifest (the only action).")
@click.option("--image", required=True, callback=_image_name, help="Container image with cyclegan installed (and its GPU libraries).")
@click.option("--runs-dir", default="runs", show_default=True, help="The runs folder, relative to --mount or absolute in the pod.")
@parallel_option
@click.option("--gpus", default=1, show_default=True, type=click.IntRange(min=0), help="GPUs per pod (nvidia.com/gpu); 0 for none.")
@click.option("--claim", default="cyclegan-work", show_default=True,
              help="ReadWriteMany PersistentVolumeClaim holding the project folder (study, data, weights, runs).")
@click.option("--mount", default="/work", show_default=True, help="Where the claim is mounted: the pods' working directory.")
@click.option("--secret", default="cyclegan-stores", show_default=True,
              help="Secret with the keys CYCLEGAN_STORAGE and MLFLOW_TRACKING_URI.")
@click.option("--cells-per-process", default=CELLS_PER_POD_PROCESS, show_default=True, type=click.IntRange(min=1),
              help="Cells a worker process trains before a fresh one takes over in the same pod.")
@stop_seconds_option
@click.option("--cyclegan-command", default="cyclegan", show_default=True, metavar="WORDS", callback=_command_words, help="How the image runs cyclegan.")
@heartbeat_option
@grace_option
def kubernetes(experiment: Path, overrides: tuple[str, ...], action: str, image: str, runs_dir: str, max_parallel: int | None,
               gpus: int, claim: str, mount: str, secret: str, cells_per_process: int, stop_seconds: int, cyclegan_command: str,
               heartbeat: int, grace: int) -> None:
    """Print a Kubernetes Job for EXPERIMENT: pods that take cells from the queue until none is left.

    EXPERIMENT's path is used as given: relative paths resolve in the pod's working directory
    (--mount), so run this from the project folder the claim holds."""
    from cyclegan.launch.kubernetes import KubernetesOptions, manifest
    from cyclegan.launch.worker_args import WorkerArgs
    from cyclegan.spec.config import IMAGENET_WEIGHTS_ENV, INCEPTION_WEIGHTS_ENV
    from cyclegan.spec.study import load_study

    _check_timing(heartbeat, grace)
    study = load_study(experiment, overrides)
    worker = WorkerArgs(experiment.as_posix(), runs_dir, cells_per_process, heartbeat, grace, overrides)
    # The config reads these on the machine that runs it (generator.imagenet_weights,
    # eval.inception_weights), and the file's fingerprint is part of a cell's identity: pods without
    # them would train other cells than `cyclegan report` here looks for, or not start offline.
    # (SLURM's --export=ALL passes them by itself.)
    environment = tuple((name, os.environ[name]) for name in (IMAGENET_WEIGHTS_ENV, INCEPTION_WEIGHTS_ENV) if os.environ.get(name))
    options = KubernetesOptions(image=image, parallelism=max_parallel or len(study.cells), claim=claim, mount=mount, secret=secret,
                                gpus=gpus, stop_seconds=stop_seconds, environment=environment)
    click.echo(manifest(study_name=study.name, cells=len(study.cells), worker=worker, command=cyclegan_command, options=options), nl=False)
    if environment:  # on stderr: the manifest on stdout is usually redirected to a file
        click.echo("note: the pods get " + ", ".join(f"{name}={value}" for name, value in environment)
                   + f" as set here: make that path exist in every pod (e.g. on the claim mounted at {mount}); docs/cluster.md", err=True)


def _check_timing(heartbeat: int, grace: int) -> None:
    """The rule of ``cyclegan.cli.options.queue_settings``, without importing Optuna for it."""
    if grace <= heartbeat:
        raise click.BadParameter(f"--grace ({grace}) must be longer than --heartbeat ({heartbeat})")


def _prepare_queue(study) -> None:
    """Create the queue's tables, the study and its cells before any task starts: Optuna creates its
    tables on first use, and array tasks starting at once on an empty database race on that (one
    fails on a unique-key violation)."""
    from cyclegan.runs.queue import CellQueue, QueueSettings, opened_storage

    with opened_storage(os.environ["CYCLEGAN_STORAGE"], QueueSettings()) as storage:
        CellQueue(study, storage).enqueue_missing()


def _check_cluster_stores() -> None:
    """Before submitting: both stores are set in the environment, are servers every node can reach
    (a SQLite file would be one machine's), and answer now."""
    from cyclegan.runs.probe import check_storage, check_tracking, is_database, is_http

    storage, tracking = os.environ.get("CYCLEGAN_STORAGE", ""), os.environ.get("MLFLOW_TRACKING_URI", "")
    if not is_database(storage):
        raise ValueError("CYCLEGAN_STORAGE must be the queue's database server for tasks on several nodes, e.g. "
                         "export CYCLEGAN_STORAGE=postgresql://user:password@dbhost/cyclegan (docs/cluster.md)"
                         + ("" if storage else "; it is not set"))
    if not (is_http(tracking) or is_database(tracking)):
        raise ValueError("MLFLOW_TRACKING_URI must be an MLflow server every node can reach, e.g. "
                         "export MLFLOW_TRACKING_URI=http://mlflow-host:5000 (docs/cluster.md)" + ("" if tracking else "; it is not set"))
    check_storage(storage)
    check_tracking(tracking)

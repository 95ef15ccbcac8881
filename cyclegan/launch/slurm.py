"""A study as a SLURM job array: one array task per cell, each a ``cyclegan worker --max-cells 1``.

Every task claims a cell from the study's queue (any cell: the queue hands them out, the task index
does not choose one), trains it and ends. Stopped by SIGTERM (the ``--signal`` warning before its
time limit, preemption, ``scancel --signal=TERM``), a worker checkpoints its cell and puts it back in
the queue (exit status 4, :mod:`cyclegan.exit_codes`); the task then requeues itself, so there is
again one task for every cell left, and the cell resumes from its checkpoint wherever the requeued
task runs. That is why the runs folder must be on a file system every node shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cyclegan.launch.worker_args import WorkerArgs, fill

TEMPLATE = """\
#!/bin/bash
# cyclegan study {{study}}: {{cells}} cells, one SLURM array task per cell, at most {{parallel}} at once.
# Written by `cyclegan launch slurm`. Submit it with `sbatch THIS_FILE` from a shell where
# CYCLEGAN_STORAGE (the PostgreSQL queue) and MLFLOW_TRACKING_URI (the MLflow server) are set:
# sbatch passes that environment to the tasks, so no store URL or password is written in this
# file or on any command line. Each task's log: {{logs}}/<job>_<task>.out (the folder must exist).
#SBATCH --job-name={{job_name}}
#SBATCH --array=0-{{last_task}}%{{parallel}}
{{resources}}#SBATCH --requeue
#SBATCH --signal=TERM@{{stop_seconds}}
#SBATCH --chdir={{workdir}}
#SBATCH --output={{logs}}/%A_%a.out
#SBATCH --open-mode=append
#SBATCH --export=ALL
{{extra}}
set -u
: "${CYCLEGAN_STORAGE:?is not set: export the queue's postgresql:// URL before sbatch (docs/cluster.md)}"
: "${MLFLOW_TRACKING_URI:?is not set: export the MLflow server's URL before sbatch (docs/cluster.md)}"
{{setup}}
# This task's own name: its SLURM_JOB_ID can be the whole array's id (one task holds it), and a
# scontrol or scancel on that id acts on every task of the array, the running ones included.
task="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
echo "cyclegan: task ${task} (job ${SLURM_JOB_ID}, restart ${SLURM_RESTART_COUNT:-0}) on $(hostname) at $(date -Is)"
# srun makes the worker a job step: SLURM's SIGTERM (time limit, preemption, scancel) reaches it there.
srun --ntasks=1 --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" {{command}} {{worker}}
status=$?
case $status in
    0|3)  # 0: no cell is left; 3: this task trained its cell and others remain for the other tasks
        echo "cyclegan: task done at $(date -Is)"; exit 0 ;;
    4)  # stopped by SIGTERM: its cell is checkpointed and back in the queue; a requeued task resumes it
        echo "cyclegan: stopped by SIGTERM, the cell is back in the queue; requeueing this task"
        scontrol requeue "$task" || echo "cyclegan: could not requeue (cancelled?): the cell waits for another task"
        exit 0 ;;
    *)  # 1: a bug (traceback above), 2: bad input (one line above): requeueing would fail the same way
        echo "cyclegan: worker failed with status $status"; exit "$status" ;;
esac
"""


@dataclass(frozen=True)
class SlurmOptions:
    max_parallel: int
    gres: str = "gpu:1"
    """One GPU per task; empty on a cluster without GPUs."""
    cpus_per_task: int = 4
    time_limit: str | None = None
    stop_seconds: int = 300
    """SIGTERM this long before the time limit: enough for the next step and one checkpoint."""
    sbatch_options: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    """Shell lines run before the worker (``module load ...``, ``source venv/bin/activate``)."""


def job_name(study_name: str) -> str:
    return "cyclegan-" + re.sub(r"[^A-Za-z0-9._-]+", "-", study_name)


def script(*, study_name: str, cells: int, worker: WorkerArgs, command: str, workdir: str, logs: str,
           options: SlurmOptions) -> str:
    """The sbatch script of ``cells`` array tasks, at most ``options.max_parallel`` at once.
    ``command`` runs cyclegan on a node (shell words, e.g. ``/shared/venv/bin/python -m cyclegan``)."""
    if cells < 1:
        raise ValueError(f"study {study_name}: no cells to launch")
    resources = ""
    if options.gres:
        resources += f"#SBATCH --gres={options.gres}\n"
    resources += f"#SBATCH --cpus-per-task={options.cpus_per_task}\n"
    if options.time_limit:
        resources += f"#SBATCH --time={options.time_limit}\n"
    for text in (options.gres, options.time_limit or "", *options.sbatch_options):
        if "\n" in text:
            raise ValueError(f"{text!r}: a SLURM option must be one line")
    extra = "".join(f"#SBATCH {text.strip()}\n" for text in options.sbatch_options)
    setup = "".join(f"{line}\n" for line in options.setup)
    return fill(TEMPLATE, study=study_name, cells=cells, parallel=min(options.max_parallel, cells), job_name=job_name(study_name),
                last_task=cells - 1, resources=resources, stop_seconds=options.stop_seconds, workdir=_path(workdir),
                logs=_path(logs), extra=extra, setup=setup, command=command, worker=worker.shell())


def _path(path: str) -> str:
    """#SBATCH lines are not parsed by a shell: a path with a space or a quote would be cut there."""
    if re.search(r"[\s'\"\\]", path) or "%" in path:
        raise ValueError(f"{path}: SLURM's #SBATCH lines cannot hold a path with spaces, quotes or '%'; use another folder")
    return path


__all__ = ["SlurmOptions", "job_name", "script"]

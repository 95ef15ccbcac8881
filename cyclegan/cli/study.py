"""The ``cyclegan`` study commands: train a matrix (ablate, worker), search it (tune), browse and
report it (ui, report). Registered on the main group in ``cyclegan.cli.main``."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

import click

from cyclegan.cli.options import (
    progress_option,
    queue_options,
    queue_settings,
    runs_dir_option,
    set_option,
)


def check_stores(storage: str | None = None) -> None:
    """Probe the tracking server and the storage before MLflow and Optuna are imported (seconds on
    a busy machine), so a store that is down is reported at once (cyclegan.runs.probe)."""
    from cyclegan.runs.probe import check_storage, check_tracking

    if os.environ.get("MLFLOW_TRACKING_URI"):
        check_tracking(os.environ["MLFLOW_TRACKING_URI"])
    if storage:
        check_storage(storage)


def require_store(runs_dir: Path, purpose: str) -> None:
    """Commands that only read the runs refuse a runs folder without an MLflow store, as ``report``
    does (cyclegan.report.build.open_reader, the same check): opening it would create an empty
    ``mlflow.db`` there (in the current folder for the default ``runs``), and the command would then
    serve an empty UI or say a run is "not found"."""
    from cyclegan.errors import CycleganError
    from cyclegan.runs.store import missing_store

    database = missing_store(runs_dir)
    if database is not None:
        raise CycleganError(f"no MLflow store at {database}: nothing has been run with --runs-dir {runs_dir} "
                            f"({purpose}; give the study's runs folder, or set MLFLOW_TRACKING_URI)")


def report_command(experiment: Path, runs_dir: Path, overrides: tuple[str, ...]) -> str:
    """The ``cyclegan report`` command line that reads what ``ablate`` with these arguments trained:
    the same file, runs folder and ``--set`` overrides (they change the cells' identities), shell-quoted."""
    words = ["cyclegan", "report", str(experiment), "--runs-dir", str(runs_dir)]
    words += [word for text in overrides for word in ("--set", text)]
    return shlex.join(words)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Local worker processes (one per GPU when GPUs are visible).")
@queue_options
@click.option("--retry-failed", is_flag=True, help="Train cells that failed before once more.")
@click.option("--cells-per-process", default=None, type=click.IntRange(min=1),
              help="Worker processes train at most this many cells, then a fresh one takes over (a bound on what a "
                   "long process accumulates). Default 8 with --workers > 1; "
                   "with --workers 1, giving it trains in a worker process instead of this one.")
@progress_option
def ablate(experiment: Path, overrides: tuple[str, ...], workers: int, storage: str | None, runs_dir: Path,
           heartbeat: int, grace: int, retry_failed: bool, cells_per_process: int | None, progress: bool) -> None:
    """Train every cell of EXPERIMENT (factors x seeds) that is not done yet, tracked in MLflow."""
    check_stores(storage)
    from cyclegan.runs.ablation import StudyPaths, run_study
    from cyclegan.spec.study import load_study

    study = load_study(experiment, overrides)
    counts = run_study(study, StudyPaths.default(runs_dir, storage), workers=workers, settings=queue_settings(heartbeat, grace),
                       retry_failed=retry_failed, overrides=overrides, progress=progress, cells_per_process=cells_per_process)
    click.echo(f"study {study.name}: {counts['done']}/{len(study.cells)} cells done, {counts['failed']} failed"
               + (f", {counts['running'] + counts['waiting']} unfinished" if counts["running"] + counts["waiting"] else ""))
    click.echo(f"next: {report_command(experiment, runs_dir, overrides)}   (or browse: cyclegan ui --runs-dir {shlex.quote(str(runs_dir))})")
    if counts["failed"]:
        sys.exit(1)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@queue_options
@click.option("--max-cells", default=None, type=click.IntRange(min=1),
              help="Stop after taking this many cells (default: when none is left), for a scheduler or a loop "
                   "to start the next process.")
@progress_option
def worker(experiment: Path, overrides: tuple[str, ...], storage: str | None, runs_dir: Path, heartbeat: int, grace: int,
           max_cells: int | None, progress: bool) -> None:
    """Join a running study from this machine: claim and train cells until none is left.

    Exit status (docs/cluster.md): 0 no cell waits or runs; 3 stopped at --max-cells with cells
    left (start another worker); 4 stopped by SIGTERM, its cell checkpointed and back in the queue;
    2 bad input; 130 Ctrl-C."""
    check_stores(storage)
    from cyclegan import exit_codes
    from cyclegan.runs.ablation import StudyPaths, cells_left, run_worker
    from cyclegan.signals import StopSignal
    from cyclegan.spec.study import load_study

    study = load_study(experiment, overrides)
    paths, settings = StudyPaths.default(runs_dir, storage), queue_settings(heartbeat, grace)
    try:
        trained = run_worker(study, paths, settings=settings, progress=progress, max_cells=max_cells)
    except StopSignal as stop:
        if stop.signum != signal.SIGTERM:
            raise  # Ctrl-C: the usual message and status 130
        click.secho("stopped by SIGTERM: the cell in training is checkpointed and back in the queue", fg="yellow", err=True)
        sys.exit(exit_codes.STOPPED)
    left = cells_left(study, paths, settings)
    click.echo(f"worker done: trained {trained} cell(s)" + (f"; {left} cell(s) still waiting or running" if left else ""))
    sys.exit(exit_codes.WORK_LEFT if left else exit_codes.FINISHED)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trials", default=None, type=click.IntRange(min=0),
              help="Trials to ADD to the study (default: the file's `trials`); 0 only summarises.")
@set_option
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Local worker processes sharing the trials (one per GPU when GPUs are visible).")
@queue_options
@progress_option
@click.option("--worker-index", default=None, type=click.IntRange(min=1), hidden=True,
              help="Set by `--workers N` for its processes: run trials only, no summary.")
def tune(experiment: Path, trials: int | None, overrides: tuple[str, ...], workers: int, storage: str | None,
         runs_dir: Path, heartbeat: int, grace: int, progress: bool, worker_index: int | None) -> None:
    """Search EXPERIMENT's hyper-parameters with Optuna; running it again adds trials to the same study."""
    check_stores(storage)
    from cyclegan.runs.ablation import StudyPaths
    from cyclegan.runs.tune import run_trials, run_tune
    from cyclegan.spec.tune_space import load_tune_spec

    spec = load_tune_spec(experiment, overrides)
    paths = StudyPaths.default(runs_dir, storage)
    count = spec.trials if trials is None else trials
    if worker_index is not None:
        states = run_trials(spec, paths, trials=count, settings=queue_settings(heartbeat, grace),
                            worker_index=worker_index, progress=progress)
        click.echo(f"tune worker {worker_index} done: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())))
        return
    from cyclegan.masking import mask

    summary = run_tune(spec, paths, trials=count, workers=workers, settings=queue_settings(heartbeat, grace),
                       overrides=overrides, progress=progress)
    click.echo(mask(summary.text()))  # trial failure reasons quote exception texts
    if summary.best_number is None:
        sys.exit(1)


@click.command()
@runs_dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 exposes the UI to the network.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def ui(runs_dir: Path, host: str, port: int) -> None:
    """Start the MLflow UI on the study's tracking store."""
    check_stores()
    from cyclegan.masking import mask
    from cyclegan.runs.store import ui_command
    from cyclegan.runs.ui_server import check_port, serve

    check_port(host, port)  # before anything starts: MLflow would retry, then exit 0
    require_store(runs_dir, "nothing to browse")
    from cyclegan.cli.quiet import is_verbose

    command, env = ui_command(runs_dir, host, port, verbose=is_verbose())  # the store URI travels in env, never on the command line
    click.echo(f"MLflow UI on http://{host}:{port} (store {mask(env['MLFLOW_BACKEND_STORE_URI'])}); Ctrl-C stops it")
    status = serve(command, env)  # its own session: stopping it stops every process it started
    if status:
        click.secho(f"error: the MLflow UI server exited with status {status}", fg="red", err=True)
        sys.exit(status)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option("--format", "formats", default="md,html", show_default=True, metavar="md,html",
              help="Comma-separated report formats to write.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the report and its figures (default: RUNS_DIR/<study>/report).")
@runs_dir_option
def report(experiment: Path, overrides: tuple[str, ...], formats: str, out_dir: Path | None, runs_dir: Path) -> None:
    """Table, verdicts and pictures of EXPERIMENT's runs (read from MLflow) as Markdown and HTML."""
    check_stores()
    from cyclegan.report.build import make_report, open_reader
    from cyclegan.report.publish import publish_report
    from cyclegan.report.render import FORMATS, terminal
    from cyclegan.spec.study import load_study

    chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats.split(",") if f.strip()))
    if not chosen or any(f not in FORMATS for f in chosen):
        raise click.BadParameter(f"{formats!r}: choose one or more of {', '.join(FORMATS)}, comma-separated", param_hint="--format")
    from cyclegan.errors import CycleganError
    from cyclegan.masking import mask
    from cyclegan.names import report_dir
    from cyclegan.places import PlaceError, writable_folder
    from cyclegan.report.build import collect
    from cyclegan.runs.tracking import MlflowException  # the run layer owns MLflow

    study = load_study(experiment, overrides)
    reader = open_reader(runs_dir)
    out = out_dir or report_dir(runs_dir, study.name)
    try:
        writable_folder(out, "report files")
    except PlaceError as err:  # a read-only runs folder: the verdicts need no write access
        if out_dir is not None:
            raise  # a place the user named: bad input, not a fallback to the screen
        click.echo(terminal(collect(study, reader, runs_dir)))
        click.secho(f"warning: {err} (e.g. --out /tmp/report); report files not written, nothing published to MLflow",
                    fg="yellow", err=True)
        return
    result = make_report(study, runs_dir, out_dir=out_dir, formats=chosen, reader=reader)
    click.echo(terminal(result.report))
    for path in result.files:
        click.echo(f"wrote {path}")
    click.echo(f"figures: {len(result.figures)} in {result.out_dir}")
    try:
        parent = publish_report(reader.store, result)
    except (CycleganError, MlflowException, OSError) as err:  # read-only store, moved runs folder: reading stands
        reason = str(err).strip().splitlines()[0][:400] if str(err).strip() else type(err).__name__
        click.secho(mask(f"warning: publishing to the study's MLflow parent run skipped: {reason}"), fg="yellow", err=True)
        return
    if parent is not None:
        click.echo(f"logged to the study's MLflow parent run {parent} (artifacts report/, tags verdict.*, report.study_sha256)")

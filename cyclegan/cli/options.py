"""Options shared by several ``cyclegan`` commands."""

from __future__ import annotations

from pathlib import Path

import click

set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a config value, e.g. --set generator.norm=none (repeatable).")
runs_dir_option = click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
                               show_default=True, help="Where runs, checkpoints and the default stores live.")


def _remember_url(ctx, param, value: str | None) -> str | None:
    """Mask the storage URL's password from here on, before anything can quote it."""
    from cyclegan.masking import remember

    remember(value)
    return value


storage_option = click.option("--storage", default=None, metavar="URL", envvar="CYCLEGAN_STORAGE", show_envvar=True,
                              callback=_remember_url,
                              help="Optuna storage shared by the workers: sqlite:///FILE (default RUNS_DIR/optuna.db) "
                                   "or postgresql://user:pass@host/db for several machines. Prefer the environment "
                                   "variable for URLs with a password: command lines are visible to other users.")
heartbeat_option = click.option("--heartbeat", default=30, show_default=True, type=click.IntRange(min=1),
                                help="Seconds between a running cell's heartbeats.")
grace_option = click.option("--grace", default=120, show_default=True, type=click.IntRange(min=2),
                            help="Seconds without a heartbeat after which a cell is handed to another worker.")
progress_option = click.option("--progress/--no-progress", default=True, show_default=True)


def queue_options(command):
    """--storage, --runs-dir, --heartbeat and --grace: where a study's queue and runs live, and its timing."""
    for option in (grace_option, heartbeat_option, runs_dir_option, storage_option):  # innermost first
        command = option(command)
    return command


def queue_settings(heartbeat: int, grace: int):
    """The queue's timing from --heartbeat and --grace (a grace shorter than a heartbeat would hand
    every running cell away)."""
    from cyclegan.runs.queue import QueueSettings

    if grace <= heartbeat:
        raise click.BadParameter(f"--grace ({grace}) must be longer than --heartbeat ({heartbeat})")
    return QueueSettings(heartbeat_seconds=heartbeat, grace_seconds=grace, poll_seconds=min(5.0, heartbeat))

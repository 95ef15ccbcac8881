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


def _verbosity(ctx: click.Context, param: click.Parameter, verbose: bool) -> None:
    """On a command: quiet or verbose from here on, decided before the command imports a framework
    (the flag given here or before the command name, or CYCLEGAN_VERBOSE from a parent process)."""
    from cyclegan.cli import quiet

    if isinstance(ctx.command, click.Group):  # `cyclegan -v CMD`: the command decides, knowing this
        if verbose:
            quiet.configure(verbose=True)
        return
    quiet.configure(verbose=verbose or quiet.is_verbose())


def _verbose_option() -> click.Option:
    return click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, is_eager=True, callback=_verbosity,
                        help="Show the frameworks' logs too (TensorFlow's C++ lines, MLflow's INFO records); "
                             "by default only progress, results, warnings and errors.")


def add_verbose_option(group: click.Group) -> None:
    """-v/--verbose on the group and on every command under it (nested groups included)."""
    group.params.append(_verbose_option())
    for command in group.commands.values():
        if isinstance(command, click.Group):
            add_verbose_option(command)
        elif not any(param.name == "verbose" for param in command.params):
            command.params.append(_verbose_option())

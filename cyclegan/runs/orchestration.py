"""The skeleton ``cyclegan ablate`` and ``cyclegan tune`` share: check everything before training,
open the study's MLflow experiment and parent run, work in this process or in N worker processes,
and leave the parent run in a true state.

The two differ only in what a unit of work is (a cell of the matrix, a tuning trial) and in the
queue that hands it out; those stay in :mod:`cyclegan.runs.ablation` and :mod:`cyclegan.runs.tune`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from cyclegan import names
from cyclegan.masking import mask
from cyclegan.places import DiskFull
from cyclegan.runs.queue import QueueSettings, opened_storage
from cyclegan.runs.tracking import Tracker
from cyclegan.runs.workers import say
from cyclegan.runs.workers import start as start_workers
from cyclegan.runs.workers import wait as wait_for_workers
from cyclegan.spec.config import RunConfig
from cyclegan.spec.study import Study

DEFAULT_QUEUE = QueueSettings()


@dataclass(frozen=True)
class StudyPaths:
    runs_dir: Path
    storage_url: str

    @classmethod
    def default(cls, runs_dir: Path, storage_url: str | None) -> StudyPaths:
        return cls(runs_dir, storage_url or names.sqlite_url(runs_dir / names.OPTUNA_DB))

    def cell_dir(self, study: Study, cell_id: str) -> Path:
        return names.cell_dir(self.runs_dir, study.name, cell_id)


def preflight(configs: Iterable[RunConfig], storage_url: str, settings: QueueSettings, *, trains_here: bool) -> None:
    """Fail before any training when something every run needs is missing: the queue storage, the
    data (each distinct data set and batch size once), the encoder weights (each file once). The
    tracking store was checked when the Tracker connected. ``trains_here``: whether this process
    trains after the checks, or only coordinates worker processes (then it takes no GPU memory:
    :func:`cyclegan.core.device.share_gpus`)."""
    from cyclegan.core.device import share_gpus
    from cyclegan.core.models import build_vgg16
    from cyclegan.core.pipeline import prepare_split

    share_gpus(trains_here)
    with opened_storage(storage_url, settings):
        pass  # it answered, and its tables exist
    checked = set()
    for config in configs:
        data = config.data
        key = (data.root, data.image_size, data.holdout, config.train.batch_size)
        if key not in checked:
            prepare_split(data, config.train.batch_size)
            checked.add(key)
        gen = config.generator
        if gen.arch == "vgg_unet" and (gen.encoder_weights, gen.imagenet_weights) not in checked:  # resnet: no encoder
            build_vgg16(gen.encoder_weights, 32, gen.imagenet_weights)
            checked.add((gen.encoder_weights, gen.imagenet_weights))


def stopped_status(stop: BaseException) -> str:
    """The state of a parent run whose worker or tune stopped on ``stop`` with work left: KILLED when
    it resumes by running the command again (Ctrl-C, SIGTERM, a full disk), FAILED otherwise."""
    return "KILLED" if isinstance(stop, (KeyboardInterrupt, DiskFull)) else "FAILED"


@dataclass(frozen=True)
class Session:
    """A study's MLflow experiment and parent run, opened by :func:`open_session`."""

    tracker: Tracker
    experiment_id: str
    parent_id: str

    def finish(self, succeeded: bool) -> None:
        self.tracker.finish_parent(self.parent_id, "FINISHED" if succeeded else "FAILED")


def open_session(name: str, description: str, file: Path, paths: StudyPaths, configs: Iterable[RunConfig],
                 settings: QueueSettings, *, trains_here: bool) -> Session:
    """Connect to the tracking store, run :func:`preflight`, then open the experiment and the
    parent run (created once, reused by every later invocation) and attach the study file."""
    tracker = Tracker(paths.runs_dir)
    preflight(configs, paths.storage_url, settings, trains_here=trains_here)
    experiment_id = tracker.experiment_id(name)
    parent_id = tracker.parent_run(experiment_id, name, description)
    tracker.log_artifacts(parent_id, [(file, None)])
    return Session(tracker, experiment_id, parent_id)


def describe_stores(tracker: Tracker, storage_url: str) -> str:
    return f"tracking {mask(tracker.uri)}, queue {mask(storage_url)}"


# A worker process trains at most this many runs (study cells, tuning trials) and a fresh one takes
# over: a bound on what a long process accumulates (about 20 MB per 256x256 run, docs/scaling.md), at the
# price of a process start (8-9 s of imports on a 2-core CPU) per 8 runs. The large growth this was
# made for, every trained model kept by tf.distribute's gradient registry (~250 MB per tiny run), is
# gone since the optimizer applies in the cross-replica context (cyclegan.core.adam).
RUNS_PER_PROCESS = 8


def run_worker_processes(commands: list[list[str]], storage_url: str, *, total: int, desc: str,
                         done: Callable[[], int], postfix: Callable[[], dict] | None = None, progress: bool = True,
                         next_command: Callable[[int], list[str] | None] | None = None) -> None:
    """Start one process per command and follow them with one progress bar until all have ended
    (Ctrl-C, SIGTERM and a closed terminal are passed on to them; see :func:`cyclegan.runs.workers.wait`). When process
    ``i`` ends cleanly, ``next_command(i)`` may give the command of a fresh process in its place
    (same GPU), or None when that worker's work is done."""
    processes = start_workers(commands, storage_url)
    bar = tqdm(total=total, desc=f"{desc} ({len(processes)} workers)", disable=not progress, dynamic_ncols=True)
    relaunched = 0

    def tick() -> None:
        bar.n = done()
        if postfix is not None:
            bar.set_postfix(**postfix(), refresh=False)
        bar.refresh()

    def relaunch(index: int):
        nonlocal relaunched
        command = next_command(index)  # only asked when next_command is given (below)
        if command is None:
            return None
        relaunched += 1
        return start_workers([command], storage_url, first_index=index)[0]

    try:
        wait_for_workers(processes, tick, relaunch=relaunch if next_command is not None else None)
    finally:
        bar.close()
    if relaunched:
        say(f"{desc}: {relaunched} fresh worker process(es) took over from ones that had trained their share", progress)


__all__ = ["DEFAULT_QUEUE", "RUNS_PER_PROCESS", "Session", "StudyPaths", "describe_stores", "open_session", "preflight", "run_worker_processes", "say"]

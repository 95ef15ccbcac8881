"""One tracked training run, the same for a study's cell and a tuning trial.

A worker process trains runs one after another (``cyclegan ablate``'s cells, ``cyclegan tune``'s
trials). What happens to each is decided here once: the run is tagged with the machine and the
precision it trains at, trains with MLflow's active run set (system metrics, logged generators), and
ends in a status that says what happened:

- finished: returned to the caller, who records it done and ends the run (what it keeps differs);
- Ctrl-C or SIGTERM: the run is KILLED, its work handed back to the queue (it resumes from its last
  checkpoint), and the interrupt goes on up;
- a full disk: the run is FAILED with the device and what was kept, the work handed back, and
  :class:`~cyclegan.places.DiskFull` raised (one line, the CLI's exit status 28): every later run
  would fail the same way;
- any other error: the run is FAILED with the error as its reason, the work recorded failed, and
  :class:`RunFailed` raised, which the caller counts and goes on (one bad run must not stop the others).

The caller's queue is behind :class:`Owner` (the ablation's cell queue, Optuna's trials). The
process keeps the last run's traced step (:class:`~cyclegan.core.step_reuse.StepCache`): a study's
seeds of one cell, or a retried trial, train on it without tracing again.

A finished run also records what it asked of the machine and what the machine could do (the
``perf/*`` metrics: its train FLOPs, counted on the traced step, and a short conv throughput probe,
taken before the run trains, again for each run once the process's last probe of that precision is
older than :data:`PROBE_KEEPS_SECONDS`; the report takes the highest probe of a study's runs):
the report's machine-use line (:mod:`cyclegan.report.machine_use`) is made of them. Recording them
(:meth:`RunLoop.record_machine_use`, called by the caller where it records the run done) is best
effort: a failure there is a warning, never a failed run.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cyclegan.names import CONV_GFLOPS, HOST_TAG, MACHINE_TAG, PRECISION_TAG, STEP_GFLOP, TRAIN_GFLOP
from cyclegan.places import is_disk_full
from cyclegan.runs import disk_full
from cyclegan.runs.tracking import CellTracker, Tracker
from cyclegan.runs.workers import say

if TYPE_CHECKING:
    from cyclegan.core.callbacks import Callback, RunResult
    from cyclegan.core.machine_speed import ConvProbe
    from cyclegan.spec.config import RunConfig

# How long a process's conv probe stands for the machine. One probe per process read 36-46 GFLOP/s on
# the AVX2 machine while its training steps ran at about 45 (benchmarks/PERFORMANCE.md, 2026-12-06):
# a probe reads low now and then (another process, the CPU's clock), never high, so a study of runs of
# a minute or more probes before each and the report keeps the highest. Shorter runs (tests, tiny
# studies) reuse the last reading instead of paying a second per run for it.
PROBE_KEEPS_SECONDS = 60.0


class RunFailed(Exception):
    """The training raised: its MLflow run is FAILED and its owner has recorded ``reason``."""

    def __init__(self, label: str, reason: str):
        super().__init__(f"{label} failed: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Owner:
    """The queue entry a run trains for, and how to update it when the run does not finish."""

    label: str  # "cell <id>" or "trial <number>", in messages
    # interrupted or disk full: the work waits again, to resume from its checkpoint; False when it is not
    # this worker's to hand back (complete already, or taken over by another worker)
    hand_back: Callable[[str], bool]
    record_failure: Callable[[str], None]  # failed: recorded with its reason, not retried by itself


@dataclass(frozen=True)
class Trained:
    """A finished training: the trainer's result, where the run's generators were logged as MLflow
    models (name -> local folder; empty on a remote tracking server), and the conv probe."""

    result: RunResult
    generators_stored_at: dict[str, str] = field(default_factory=dict)
    conv_gflops: float | None = None  # this process's probe in the run's precision (None: not measured)


class RunLoop:
    """What a worker process keeps between the runs it trains one after another."""

    def __init__(self, tracker: Tracker, *, progress: bool):
        from cyclegan.core.step_reuse import process_steps

        self.tracker, self.progress = tracker, progress
        self.steps = process_steps()
        self._probes: dict[str, _HeldProbe] = {}  # precision resolved -> this process's probe and its last reading

    def tag_machine(self, run_id: str, config: RunConfig) -> None:
        """Where the run trains and what ``precision: auto`` became there (a resumed run: where it
        trained last)."""
        from cyclegan.core import device

        self.tracker.set_tags(run_id, {MACHINE_TAG: device.describe(), HOST_TAG: socket.gethostname(),
                                       PRECISION_TAG: device.resolve_precision(config.train.precision)})

    def train(self, run_id: str, config: RunConfig, run_dir: Path, owner: Owner, *, callbacks: Iterable[Callback] = (),
              final_checkpoint: bool = True, passthrough: tuple[type[BaseException], ...] = ()) -> Trained:
        """Train ``config`` in ``run_dir`` into MLflow run ``run_id``; on anything but success, end the run
        and update ``owner`` as the module docstring says. Exceptions of the ``passthrough`` types (a
        pruned trial) leave the run open for the caller."""
        from cyclegan.core import trainer  # looked up per call, so tests can substitute the core

        mirror = CellTracker(self.tracker, run_id)
        try:
            probe = self._probe(config)  # before training: a stop here loses nothing
            with self.tracker.training(run_id):
                result = trainer.train(config, run_dir, (mirror, *callbacks), progress=self.progress, steps=self.steps,
                                       final_checkpoint=final_checkpoint)
        except passthrough:
            raise
        except KeyboardInterrupt:
            self.tracker.end_run(run_id, "KILLED", "interrupted")
            owner.hand_back("interrupted; resumes from its checkpoint")
            raise
        except Exception as err:
            if is_disk_full(err):  # every later run would fail the same way: say so once and stop
                raise disk_full.stop_run(owner.label, run_dir, lambda why: self.tracker.end_run(run_id, "FAILED", why),
                                         owner.hand_back) from None
            reason = f"{type(err).__name__}: {err}"
            owner.record_failure(reason)
            self.tracker.end_run(run_id, "FAILED", reason)
            raise RunFailed(owner.label, reason) from err
        return Trained(result, mirror.generators_stored_at, probe)

    def hand_back_unrecorded(self, run_id: str, owner: Owner) -> None:
        """After :meth:`train` succeeded, while the caller records the run done, a second signal (the
        user insists; the first waits for the record): the entry waits again, to resume from its
        checkpoint, and its MLflow run is KILLED, as an interrupted training's. Best effort: the
        interrupt goes on whatever the stores say. An entry that is not this worker's to hand back
        leaves its run as it is."""
        with contextlib.suppress(Exception):
            if owner.hand_back("interrupted while it was recorded done; resumes from its checkpoint"):
                self.tracker.end_run(run_id, "KILLED", "interrupted")

    def _probe(self, config: RunConfig) -> float | None:
        """This process's conv throughput in the precision ``config`` computes in (GFLOP/s): a reading
        younger than :data:`PROBE_KEEPS_SECONDS`, else a new one (3 calls of a 19 GFLOP convolution,
        about a second at 60 GFLOP/s; the probe is traced once per process and precision). On a
        machine that other work shares (another worker of the same study, too) it reads low; the report
        says so when a study's runs overlapped. None when it could not be measured."""
        from cyclegan.core import device
        from cyclegan.core.machine_speed import precision_probe

        # configure first, as the trainer does: on a GPU the probe's first op would otherwise initialise the
        # device without memory growth, and the process would take all of its memory from other workers.
        precision = device.configure(config.train.precision)
        held = self._probes.get(precision)
        if held is not None and (held.probe is None or time.monotonic() - held.taken < PROBE_KEEPS_SECONDS):
            return held.gflops
        try:
            probe = held.probe if held is not None else precision_probe(precision)
            self._probes[precision] = _HeldProbe(probe, probe.measure(), time.monotonic())
        except Exception as err:  # best effort: the run trains all the same
            say(f"warning: the conv throughput probe failed ({type(err).__name__}: {err}); this process's runs record no machine use")
            self._probes[precision] = _HeldProbe(None, None, time.monotonic())
        return self._probes[precision].gflops

    def record_machine_use(self, run_id: str, config: RunConfig, trained: Trained) -> None:
        """The finished run's ``perf/*`` metrics (see the module docstring); nothing when this process
        trained no step of it (a resumed run with nothing left) or the probe failed. The caller calls
        it where a stop signal waits (its step that records the run done): the FLOP count takes a
        moment, and a stop inside it must not leave a trained run unrecorded."""
        try:
            gflop = self.steps.step_gflop(config)
            if gflop is None or trained.conv_gflops is None:
                return
            result = trained.result
            self.tracker.log_metrics(run_id, {STEP_GFLOP: gflop, TRAIN_GFLOP: gflop * result.steps, CONV_GFLOPS: trained.conv_gflops},
                                     step=result.mini_epochs)
        except Exception as err:  # best effort: the training finished, and is recorded done by the caller
            say(f"warning: {run_id}: machine use not recorded ({type(err).__name__}: {err})")


@dataclass(frozen=True)
class _HeldProbe:
    probe: ConvProbe | None  # None: it failed in this process, and is not tried again
    gflops: float | None
    taken: float  # time.monotonic() of the reading

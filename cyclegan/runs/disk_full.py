"""A full disk while a run trains (a study cell, a tuning trial): one line naming the device and what
was kept, the run marked FAILED with that reason, and its work back in the queue so that the same
command, once space is freed, resumes it from its last checkpoint at once.

A full disk usually breaks the stores too (SQLite: "database or disk is full"), so recording it is
best effort: what cannot be written is said in the line, never raised as a second traceback. A cell
whose queue entry could not be updated is still taken back promptly: its worker's process is gone,
which :meth:`cyclegan.runs.queue.CellQueue.reap_dead_local_workers` sees without the grace period.
"""

from __future__ import annotations

from pathlib import Path

from cyclegan.core.runfolder.layout import RunDir
from cyclegan.places import DiskFull, describe_device


def stop_run(label: str, run_dir: Path, end_run, hand_back) -> DiskFull:
    """Record the full disk on the run (``end_run(reason)``: its MLflow run FAILED; ``hand_back(reason)``:
    its queue entry waits again) as far as the disk allows; returns the error to raise. ``label`` names
    the run in the message ("cell <id>", "trial <number>")."""
    reason = f"no space left on device {describe_device(run_dir)}; {RunDir(run_dir).describe_kept()}"
    unrecorded = []
    for what, record in (("MLflow run", end_run), ("queue", hand_back)):
        try:
            record(reason)
        except Exception:  # the store is on the full disk too: said below, not a second traceback
            unrecorded.append(what)
    note = f" (the {' and '.join(unrecorded)} could not record it: the disk is full)" if unrecorded else ""
    return DiskFull(f"{label} stopped: {reason}{note}. Free space, then run the same command again: it resumes from there")

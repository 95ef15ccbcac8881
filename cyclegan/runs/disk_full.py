"""A full disk while a study cell trains: one line naming the device and what was kept, the cell's
run marked FAILED with that reason, and the cell back in the queue so that the same command, once
space is freed, resumes it from its last checkpoint at once.

A full disk usually breaks the stores too (SQLite: "database or disk is full"), so recording it is
best effort: what cannot be written is said in the line, never raised as a second traceback. A cell
whose queue entry could not be updated is still taken back promptly: its worker's process is gone,
which :meth:`cyclegan.runs.queue.CellQueue.reap_dead_local_workers` sees without the grace period.
"""

from __future__ import annotations

import json
from pathlib import Path

from cyclegan import names
from cyclegan.places import DiskFull, describe_device


def kept(cell_dir: Path) -> str:
    """What the cell's folder holds that a resume starts from, in words."""
    try:
        entries = json.loads((cell_dir / names.CHECKPOINTS_DIR / names.CHECKPOINT_MANIFEST).read_text())["checkpoints"]
        checkpoint = f"checkpoint {entries[-1]['prefix']}" if entries else "no checkpoint yet"
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        checkpoint = "no readable checkpoint"
    try:
        rows = max(0, len((cell_dir / names.HISTORY_FILE).read_text().splitlines()) - 1)
    except OSError:
        rows = 0
    return f"kept {checkpoint} and {rows} mini-epoch(s) of {names.HISTORY_FILE} in {cell_dir}"


def stop_cell(cell_id: str, cell_dir: Path, end_run, requeue) -> DiskFull:
    """Record the full disk on the cell (``end_run(reason)``: its MLflow run FAILED; ``requeue(reason)``:
    its queue entry waits again) as far as the disk allows; returns the error to raise."""
    reason = f"no space left on device {describe_device(cell_dir)}; {kept(cell_dir)}"
    unrecorded = []
    for what, record in (("MLflow run", end_run), ("queue", requeue)):
        try:
            record(reason)
        except Exception:  # the store is on the full disk too: said below, not a second traceback
            unrecorded.append(what)
    note = f" (the {' and '.join(unrecorded)} could not record it: the disk is full)" if unrecorded else ""
    return DiskFull(f"cell {cell_id} stopped: {reason}{note}. Free space, then run the same command again: it resumes from there")

"""Where the project writes, from the standard library only: is a folder writable (checked before
work that would be lost), and which device is full when a write fails with ENOSPC.

Exit statuses of the commands (README "Commands", docs/storage.md): these failures are expected ones
(:class:`~cyclegan.errors.CycleganError`), printed as one line; a full disk has its own status so a
scheduler can tell it from a bad input.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from cyclegan import exit_codes
from cyclegan.errors import CycleganError

# The texts a full disk shows up as when it reaches us through TensorFlow (its C++ error keeps the
# errno text only) or SQLite (MLflow's and Optuna's stores): both mean ENOSPC.
_DISK_FULL_TEXTS = ("no space left on device", "database or disk is full", "disk quota exceeded")


class PlaceError(CycleganError, OSError):
    """A folder the command must write to cannot be written."""


class DiskFull(CycleganError):
    """A write failed because the device is full. ``EXIT_STATUS`` is what the CLI exits with."""

    EXIT_STATUS = exit_codes.DISK_FULL  # distinct from bad input (2) and failed cells (1)


def writable_folder(folder: Path, what: str) -> Path:
    """``folder`` (created when missing), or :class:`PlaceError` naming it and why it cannot be
    written: tried with a real file, as permissions, read-only mounts and ACLs all answer there."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".cyclegan-write-test-"):
            pass
    except OSError as err:
        raise PlaceError(f"{folder}: cannot write the {what} here ({err.strerror or err}); choose another place") from None
    return folder


def is_disk_full(err: BaseException | None) -> bool:
    """True when ``err`` or an exception it was raised from or during says the disk is full."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(err).lower() for text in _DISK_FULL_TEXTS):
            return True
        err = err.__cause__ or err.__context__
    return False


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing parent)."""
    path = Path(os.path.abspath(path))
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def describe_device(path: Path) -> str:
    """``/dev/x mounted at /m (N MiB free)``: the device and mount point that hold ``path``."""
    mount = mount_point(path)
    device = "?"
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1] == str(mount):
                device = fields[0]  # the last mount at that point is the visible one
    except OSError:
        pass
    try:
        free = f", {shutil.disk_usage(mount).free / 2**20:.0f} MiB free"
    except OSError:
        free = ""
    return f"{device} mounted at {mount}{free}"

"""Stopping cleanly: a scheduler's SIGTERM is handled like Ctrl-C."""

from __future__ import annotations

import signal
import threading


class sigterm_as_interrupt:  # noqa: N801 (used as a context manager, reads like one)
    """Within the block, SIGTERM raises KeyboardInterrupt, so the code that checkpoints and
    requeues on Ctrl-C also runs when a cluster stops the job. Only the main thread may install
    signal handlers; elsewhere (tests, notebooks) the block changes nothing."""

    def __enter__(self) -> None:
        self._installed = threading.current_thread() is threading.main_thread()
        if self._installed:
            self._previous = signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)

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


class graceful_stop:  # noqa: N801
    """Within the block, the first SIGINT or SIGTERM only sets :attr:`requested`; the training loop
    checks it between steps, so a checkpoint never holds weights one step ahead of its step count.
    A second signal interrupts at once (the user insists). Main thread only, like any handler."""

    def __init__(self) -> None:
        self.requested: int | None = None

    def __enter__(self) -> graceful_stop:
        self._installed = threading.current_thread() is threading.main_thread()
        if self._installed:
            self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt(f"signal {signum} (second)")
        self.requested = signum

    def __exit__(self, *exc) -> None:
        if self._installed:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)

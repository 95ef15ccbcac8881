"""Stopping cleanly: a scheduler's SIGTERM is handled like Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def _handling(signals: tuple[signal.Signals, ...], handler: Callable) -> Iterator[None]:
    """Install ``handler`` for ``signals`` within the block and restore the previous handlers.
    Only the main thread may install signal handlers; elsewhere (tests, notebooks) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class StopSignal(KeyboardInterrupt):
    """A stop asked for by a signal, with its number (SIGINT from Ctrl-C, SIGTERM from a scheduler):
    ``cyclegan worker`` exits with its own status for SIGTERM (:mod:`cyclegan.exit_codes`)."""

    def __init__(self, signum: int, note: str = "") -> None:
        super().__init__(f"signal {signum}{note}")
        self.signum = signum


def _raise_interrupt(signum, frame):
    raise StopSignal(signum)


def sigterm_as_interrupt() -> contextlib.AbstractContextManager[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt, so the code that checkpoints and
    requeues on Ctrl-C also runs when a cluster stops the job."""
    return _handling((signal.SIGTERM,), _raise_interrupt)


class StopRequest:
    """The first SIGINT or SIGTERM only sets :attr:`requested`; a second interrupts at once."""

    def __init__(self) -> None:
        self.requested: int | None = None

    def handle(self, signum, frame) -> None:
        if self.requested is not None:
            raise StopSignal(signum, " (second)")
        self.requested = signum


@contextlib.contextmanager
def graceful_stop(*, hangup: bool = False) -> Iterator[StopRequest]:
    """Within the block, a stop signal is only recorded; the training loop checks it between
    steps, so a checkpoint never holds weights one step ahead of its step count. A second signal
    interrupts at once (the user insists). ``hangup``: SIGHUP (the terminal closed) too."""
    stop = StopRequest()
    with _handling((signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if hangup else ())), stop.handle):
        yield stop

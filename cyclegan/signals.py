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
    """The first SIGINT or SIGTERM only sets :attr:`requested`; a second interrupts at once, except
    within :meth:`holding`."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._holding = 0
        self._held: int | None = None  # a second signal that waits for the end of a holding block

    def handle(self, signum, frame) -> None:
        if self.requested is None:
            self.requested = signum
        elif self._holding and self._held is None:
            self._held = signum
        else:
            raise StopSignal(signum, " (second)")

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Within the block a second signal waits until the block has ended, then interrupts; a third
        interrupts at once. For a few moments' work that a stop must not cut in two, such as a training
        step and the counters that record it: Python runs a signal's handler as soon as the step's C++
        call returns, which is before the counters are updated, so a stop raised there would leave
        weights one step ahead of the step count. Holding it costs nothing in the usual case (the
        handler could not run inside the C++ call anyway); the third signal is the way out of a long
        hold, such as a first step still tracing (what it cuts is the caller's to handle)."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if not self._holding and self._held is not None:
            signum, self._held = self._held, None
            raise StopSignal(signum, " (second)")


@contextlib.contextmanager
def graceful_stop(*, hangup: bool = False) -> Iterator[StopRequest]:
    """Within the block, a stop signal is only recorded; the training loop checks it between
    steps, so a checkpoint never holds weights one step ahead of its step count. A second signal
    interrupts at once (the user insists), or at the end of a :meth:`StopRequest.holding` block.
    ``hangup``: SIGHUP (the terminal closed) too."""
    stop = StopRequest()
    with _handling((signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if hangup else ())), stop.handle):
        yield stop

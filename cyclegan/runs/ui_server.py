"""Running ``mlflow ui`` for ``cyclegan ui``: refuse a busy port before anything starts, and stop
every process the server started when the UI stops.

MLflow's server is a process tree: uvicorn, its worker, and, when its job execution is on (off for
``cyclegan ui`` unless the user turns it on: :func:`cyclegan.runs.store.ui_command`), ``huey_consumer``
job runners (and, for jobs, processes in sessions of their own). Replacing this process with it (``exec``) left the tree to
MLflow: a busy port made the server exit 0 after its retries, and Ctrl-C left the consumers behind.
Here the server runs in a session of its own; stopping it signals that whole process group, then
kills whatever of the tree it had started still lives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess

import psutil

from cyclegan.errors import CycleganError
from cyclegan.signals import StopSignal, graceful_stop

STOP_SECONDS = 15.0  # how long the server gets to stop on SIGTERM before what is left is killed


class PortInUse(CycleganError):
    """The UI's port is taken."""


def check_port(host: str, port: int) -> None:
    """:class:`PortInUse` naming the port when something listens on it. Bound with SO_REUSEADDR like
    the server, so a port of a just-closed connection (TIME_WAIT) does not count as busy."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise PortInUse(f"port {port} on {host} is in use ({err.strerror}); another MLflow UI may be running there. "
                            f"Choose another port: cyclegan ui --port {port + 1 if port < 65535 else 5001}") from None


def serve(command: list[str], env: dict[str, str], poll_seconds: float = 0.5) -> int:
    """Run the server until it ends or this process is stopped (Ctrl-C, SIGTERM, the terminal's
    hangup: :class:`StopSignal`); returns its exit status. Nothing it started outlives it."""
    server = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        # A stop is recorded and raised here, between waits, as workers.wait does: raised from the
        # signal handler inside Popen.wait it could leave the process's wait lock held, and the
        # wait in stop() below hang for good. A closed terminal stops the server too: in its own
        # session, it would not get the hangup and would serve on with nobody to stop it.
        with graceful_stop(hangup=True) as stop_request:
            while stop_request.requested is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    return server.wait(timeout=poll_seconds)
            raise StopSignal(stop_request.requested)
    finally:
        stop(server)


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then SIGKILL to every process of its tree still alive."""
    try:
        tree = psutil.Process(server.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    _, alive = psutil.wait_procs(tree, timeout=2.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    server.wait()

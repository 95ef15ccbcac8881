"""Quiet by default, complete with ``-v`` / ``--verbose``: the frameworks' own chatter off.

What a default command hides, and how (each chosen before TensorFlow or MLflow is imported, since
both read their settings at import):

- TensorFlow's C++ log lines (``oneDNN custom operations are on``, ``Could not find cuda drivers``,
  ``failed call to cuInit``): ``TF_CPP_MIN_LOG_LEVEL=3``. Since TensorFlow 2.19 part of them go
  through absl's C++ logging before ``absl::InitializeLog`` is called, which ignores that variable
  and writes straight to file descriptor 2 (tensorflow/tensorflow issue 100442), so a default command
  also reads its native stderr through :class:`NativeLogFilter`, which drops lines in the C++ log
  formats (a fatal ``F`` line is kept) and passes everything else on unchanged.
- MLflow's INFO records (database set-up, system-metrics monitor start and stop):
  ``MLFLOW_LOGGING_LEVEL=WARNING``, MLflow's documented switch, so its warnings still show.
- MLflow's two lines printed to stdout each time a run ends on a tracking server ("View run ... at:
  http://...", "View experiment at: ..."; every cell of a cluster task's log had them):
  ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=true``, its documented switch.
- Optuna's warning for each failed trial, with its traceback ("Trial N failed with parameters ...
  because of the following error"): ``cyclegan tune`` says each trial's outcome in its own line
  (``trial 3 FAIL: RuntimeError: ...``), and a failure that stops the tune is one line of the CLI's.
  A filter on the logger that emits it; Optuna's other warnings still show.

Our own output is untouched: progress bars, result lines, every warning and error. The choice is
passed to worker processes through ``CYCLEGAN_VERBOSE`` (they run this same entry point) and the
TensorFlow and MLflow variables they inherit. A variable the user set is respected.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
import sys
import threading

VERBOSE_ENV = "CYCLEGAN_VERBOSE"
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_LOGGING_LEVEL": "WARNING", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}

# A C++ log line: absl's "I0000 00:00:1796462663.346324    9154 cudart_stub.cc:31] ..." and TSL's
# "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] ...", of
# severity I(nfo), W(arning) or E(rror); and absl's notice that it has not been initialised.
NATIVE_LOG_LINE = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\s:]+:\d+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] [^\s:]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)"
)


OPTUNA_TRIAL_LOGGER = "optuna.study._optimize"  # the logger of Optuna's "Trial N failed ..." warning


def drop_failed_trial_warning(record: logging.LogRecord) -> bool:
    """False for Optuna's failed-trial warning (see the module docstring), True for anything else."""
    message = str(record.msg)
    return not (message.startswith("Trial ") and "failed with parameters" in message)


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false", "False")


def configure(verbose: bool) -> None:
    """Set this process (and the processes it starts) quiet or verbose. Call before TensorFlow and
    MLflow are imported; idempotent."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    if "mlflow" in sys.modules:  # imported already (in-process callers): its logger read the variable then
        logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"])
    logging.getLogger(OPTUNA_TRIAL_LOGGER).addFilter(drop_failed_trial_warning)  # once: addFilter keeps one copy
    NativeLogFilter.install()


def drop_native_logs(chunk: bytes) -> bytes:
    """The lines of ``chunk`` (complete, each ending in a newline) that are not C++ log lines."""
    return b"".join(line for line in chunk.splitlines(keepends=True) if not NATIVE_LOG_LINE.match(line))


class NativeLogFilter:
    """File descriptor 2 becomes a pipe read by a thread that drops C++ log lines and writes the rest
    to the real stderr; Python's own ``sys.stderr`` writes go to the real stderr directly (progress
    bars redraw in place, nothing waits for a newline). Installed once, only when ``sys.stderr`` is
    file descriptor 2 (not under a test runner that captured it); at exit, whatever is left is
    passed on before the process ends."""

    _installed: NativeLogFilter | None = None

    @classmethod
    def install(cls) -> None:
        if cls._installed is not None:
            return
        try:
            if sys.stderr is None or sys.stderr.fileno() != 2:
                return
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return
        cls._installed = cls()

    def __init__(self) -> None:
        sys.stderr.flush()
        self.terminal = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self.read_end = read_end
        self.thread = threading.Thread(target=self._pump, name="native-log-filter", daemon=True)
        self.thread.start()
        stream = sys.stderr
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(self.terminal), "wb", buffering=0), encoding=stream.encoding,
                                      errors=stream.errors, line_buffering=True, write_through=True)
        atexit.register(self.close)

    def _pump(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            complete, newline, rest = pending.rpartition(b"\n")
            if newline:
                self._write(drop_native_logs(complete + newline))
                pending = rest
        if pending:
            self._write(drop_native_logs(pending))
        os.close(self.read_end)

    def _write(self, data: bytes) -> None:
        while data:
            data = data[os.write(self.terminal, data):]

    def close(self) -> None:
        """Hand file descriptor 2 back and pass on what the pipe still holds (a worker process
        started by this one may hold the pipe open; it is not waited for)."""
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self.terminal, 2)
        self.thread.join(timeout=2.0)

"""The cyclegan command line, held just before a known training step, for tests that signal or kill it there.

    python tests/hold_at_step.py STEP MARKER cyclegan-arguments...

Before the training loop gets the batch of step STEP (counted over the whole run), this process
writes MARKER and waits until the file MARKER.go exists, then trains on. A test that waits for
MARKER knows exactly where training stands, so it can send a signal there (then write MARKER.go)
or kill the process, instead of sleeping and hoping the process is where it should be: with a
sleep the run had to be long enough to survive a slow machine, with the marker it can be a few
steps. Everything else is the unchanged command line; only the first run of a test goes through
here, the resumed one is plain ``cyclegan``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# An orphan never waits forever: a test that failed before writing MARKER.go leaves no process behind.
HOLD_LIMIT_SECONDS = 900


def main() -> None:
    step, marker = int(sys.argv[1]), Path(sys.argv[2])
    from cyclegan.cli import quiet

    # Before TensorFlow's import below, as the command line would choose it (cli() again is a no-op):
    # the process's log is then what a user's `cyclegan` prints, with no C++ line of the test's making.
    quiet.configure(verbose=quiet.is_verbose() or bool({"-v", "--verbose"} & set(sys.argv[3:])))
    import cyclegan.core.trainer
    from cyclegan.cli.main import main as cli

    real_dataset = cyclegan.core.trainer.training_dataset

    def held_dataset(*args, start_step: int, **kwargs):
        for number, batch in enumerate(real_dataset(*args, start_step=start_step, **kwargs), start=start_step + 1):
            if number == step:
                marker.write_text(f"{os.getpid()}\n")
                go, deadline = Path(f"{marker}.go"), time.monotonic() + HOLD_LIMIT_SECONDS
                while not go.exists():  # the main thread sleeps in short steps: a signal's Python handler runs at once
                    if time.monotonic() > deadline:
                        os._exit(3)
                    time.sleep(0.05)
            yield batch

    cyclegan.core.trainer.training_dataset = held_dataset
    sys.argv = ["cyclegan", *sys.argv[3:]]
    cli()


if __name__ == "__main__":
    main()

"""The ``cyclegan worker`` arguments every scheduler task runs with, as shell words.

No store URL is ever among them: the queue storage and the tracking URI reach a worker through its
environment (``CYCLEGAN_STORAGE``, ``MLFLOW_TRACKING_URI``), because a command line is visible to
every user of a machine (``ps``, ``squeue``, ``kubectl describe``)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

STORE_VARIABLES = ("CYCLEGAN_STORAGE", "MLFLOW_TRACKING_URI")


@dataclass(frozen=True)
class WorkerArgs:
    study_file: str
    runs_dir: str
    max_cells: int
    heartbeat: int
    grace: int
    overrides: tuple[str, ...] = ()

    def shell(self) -> str:
        words = ["worker", self.study_file, "--runs-dir", self.runs_dir, "--max-cells", str(self.max_cells), "--no-progress",
                 "--heartbeat", str(self.heartbeat), "--grace", str(self.grace)]
        words += [word for text in self.overrides for word in ("--set", text)]
        return " ".join(shlex.quote(word) for word in words)


_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def fill(template: str, **values: object) -> str:
    """``template`` with every ``{{key}}`` replaced; a placeholder of the template left without a value
    is a bug here. One pass over the template: a value is inserted as it is and never scanned again,
    so user text holding ``{{...}}`` (a ``--set`` value, a ``--setup`` line) can neither be rewritten
    by a later placeholder's value nor be taken for an unfilled placeholder."""
    missing = sorted(set(_PLACEHOLDER.findall(template)) - values.keys())
    if missing:
        raise AssertionError("unfilled template placeholders: " + ", ".join("{{" + key + "}}" for key in missing))
    return _PLACEHOLDER.sub(lambda match: str(values[match[1]]), template)

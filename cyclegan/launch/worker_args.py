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


def fill(template: str, **values: object) -> str:
    """``template`` with every ``{{key}}`` replaced; a placeholder left unfilled is a bug here."""
    text = template
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    left = re.findall(r"\{\{\w+\}\}", text)
    if left:
        raise AssertionError(f"unfilled template placeholders: {sorted(set(left))}")
    return text

"""What a finished run keeps on disk (docs/storage.md "What a run keeps on disk").

A single ``cyclegan train`` run keeps everything (its checkpoints are what extending
``train.mini_epochs`` resumes from). A finished study cell keeps what translating, reporting and the
MLflow UI need: the generators' trainable weights, sample grids, evaluation outputs, history and
config. Its checkpoints (optimizer state, discriminators) go: extending a study's ``mini_epochs``
makes new cells anyway. ``train.keep_final_checkpoint: true`` keeps them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cyclegan import names
from cyclegan.core.runfolder.generators import point_models_elsewhere
from cyclegan.core.runfolder.layout import RunDir
from cyclegan.spec.config import RunConfig


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def finish_study_cell(run_dir: str | Path, config: RunConfig, *, models_stored_at: dict[str, str] | str | None = None) -> int:
    """Drop what a finished study cell does not need; returns the bytes freed.

    ``models_stored_at``: ``{generator name: local folder}`` where the cell's MLflow models hold the same
    generator weights files; for those, the run folder keeps a pointer instead of a second copy (one copy of each artifact)."""
    run = RunDir(Path(run_dir))
    freed = 0
    if not config.train.keep_final_checkpoint:
        freed += folder_bytes(run.checkpoints)
        shutil.rmtree(run.checkpoints, ignore_errors=True)
    if isinstance(models_stored_at, str):  # one folder (or file:// URI) holding both generators' files
        models_stored_at = dict.fromkeys(names.GENERATORS, models_stored_at)
    if models_stored_at:
        freed += point_models_elsewhere(run, models_stored_at)
    return freed

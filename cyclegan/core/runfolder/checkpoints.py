"""Checked checkpoints without the frozen encoder: what is saved, how it is verified, what resumes.

A checkpoint holds the trainable parts of the four networks, both optimizers' state and the
progress counters. A frozen encoder is left out (~59 MB of VGG16 at any size): one with file or
ImageNet weights is rebuilt from its weights file, whose content fingerprint is part of the run's
identity, so :meth:`RunDir.check_compatible` refuses a resume after that file changed; a random one
is rebuilt from the run's seed and checked against its recorded fingerprint
(:mod:`cyclegan.core.runfolder.random_encoders`).

After each save the checkpoint's files are hashed (size and SHA-256) into ``checkpoints/manifest.json``
(written atomically). On resume the newest recorded checkpoint is verified first; a damaged one is
named with the reason and the newest complete one is used instead. With none left,
:class:`CheckpointDamagedError` names the run folder and the two ways out.

Run folders written before the manifest existed (full checkpoints, encoder included, no manifest) are
not resumed: the restore names the folder and the way out (start over, or finish the run with the
version that began it). Their finished generators still load (docs/storage.md "Older run folders").
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from cyclegan import names
from cyclegan.atomic import atomic_write_text
from cyclegan.core.runfolder.layout import manifest_entries
from cyclegan.errors import CycleganError

# A damaged newest checkpoint needs an older complete one to fall back to.
MIN_KEPT = 2


class CheckpointDamagedError(CycleganError, RuntimeError):
    """No complete checkpoint is left in a run folder that has some."""


def trainable_part(model: keras.Model, frozen_encoder_rebuildable: bool) -> keras.Model:
    """What of a generator a checkpoint (and its stored weights file) holds: its decoder when the
    encoder is frozen and rebuilt (from its weights file or its seed), else the whole model. Models without an
    encoder/decoder split are always whole."""
    if frozen_encoder_rebuildable:
        decoder = next((layer for layer in model.layers if layer.name == f"{model.name}_decoder"), None)
        if decoder is not None:
            return decoder
    return model


@dataclass(frozen=True)
class Recorded:
    """One manifest entry: the checkpoint prefix (``ckpt-N``, N the step) and its files' size and SHA-256."""

    prefix: str
    files: dict[str, dict[str, object]]

    @property
    def step(self) -> int:
        return int(self.prefix.rsplit("-", 1)[1])


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_files(directory: Path, prefix: str) -> list[Path]:
    """The files TensorFlow wrote for ``prefix``: its ``.index`` and its ``.data-*`` shards."""
    return sorted(p for p in directory.glob(f"{prefix}.*") if p.name == f"{prefix}.index" or ".data-" in p.name)


def problem(directory: Path, entry: Recorded) -> str | None:
    """Why a recorded checkpoint cannot be trusted (naming the file), or None if it is complete."""
    for name, record in entry.files.items():
        path = directory / name
        if not path.is_file():
            return f"{path}: missing"
        size = path.stat().st_size
        if size != record["size"]:
            return f"{path}: {size} bytes, {record['size']} recorded at save (truncated or replaced)"
        if sha256(path) != record["sha256"]:
            return f"{path}: SHA-256 differs from the one recorded at save (the content changed)"
    return None


class CheckpointStore:
    """Saves and restores one run's checkpoints in ``directory``; ``objects`` are the tracked parts
    (``tf.train.Checkpoint`` keyword arguments)."""

    def __init__(self, directory: Path, objects: dict, keep: int):
        self.directory, self.keep = directory, max(keep, MIN_KEPT)
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.manifest_file = directory / names.CHECKPOINT_MANIFEST

    # -- manifest ---------------------------------------------------------------------------
    def recorded(self) -> list[Recorded]:
        """Manifest entries, oldest first; an unreadable manifest is an error naming it."""
        try:
            return [Recorded(e["prefix"], e["files"]) for e in manifest_entries(self.manifest_file)]
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointDamagedError(self._none_left(f"{self.manifest_file}: unreadable ({type(err).__name__}: {err})")) from None

    def _write_manifest(self, entries: list[Recorded]) -> None:
        body = {"checkpoints": [{"prefix": e.prefix, "files": e.files} for e in entries]}
        atomic_write_text(self.manifest_file, json.dumps(body, indent=1))

    @property
    def latest_step(self) -> int:
        entries = self.recorded()
        return entries[-1].step if entries else -1

    # -- save -------------------------------------------------------------------------------
    def save(self, step: int) -> Path:
        """Write ``ckpt-<step>``, record its files once they are complete, then drop the oldest
        beyond ``keep`` (so the previous complete one survives a crash mid-write)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        prefix = f"ckpt-{step}"
        for stale in checkpoint_files(self.directory, prefix):  # a half-written save of this step
            stale.unlink()
        self.checkpoint.write(str(self.directory / prefix))
        files = {p.name: {"size": p.stat().st_size, "sha256": sha256(p)} for p in checkpoint_files(self.directory, prefix)}
        entries = [e for e in self.recorded() if e.prefix != prefix] + [Recorded(prefix, files)]
        kept, dropped = entries[-self.keep:], entries[:-self.keep]
        self._write_manifest(kept)
        for entry in dropped:
            for name in entry.files:
                (self.directory / name).unlink(missing_ok=True)
        return self.directory / prefix

    # -- restore ----------------------------------------------------------------------------
    def restore(self, run_root: Path) -> int | None:
        """Restore the newest complete checkpoint; returns its step (None: nothing saved yet).
        Damaged newer ones are named in a warning, moved aside (``damaged-*``) and trained again."""
        entries = self.recorded()
        if not entries:
            self._refuse_unchecked(run_root)
            return None
        skipped: list[str] = []
        for entry in reversed(entries):
            why = problem(self.directory, entry)
            if why is None:
                self._restore(entry, run_root, skipped)
                return entry.step
            skipped.append(why)
        raise CheckpointDamagedError(self._none_left("\n  ".join(skipped), run_root))

    def _restore(self, entry: Recorded, run_root: Path, skipped: list[str]) -> None:
        try:
            self.checkpoint.read(str(self.directory / entry.prefix)).assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as err:
            raise CheckpointDamagedError(self._none_left(f"{self.directory / entry.prefix}: cannot be read ({type(err).__name__}: {err})", run_root)) from None
        if skipped:
            entries = self.recorded()
            newer = [e for e in entries if e.step > entry.step]
            for damaged in newer:
                for path in checkpoint_files(self.directory, damaged.prefix):
                    path.replace(path.with_name(f"damaged-{path.name}"))
            self._write_manifest([e for e in entries if e.step <= entry.step])
            warnings.warn(
                f"{run_root}: damaged checkpoint(s) skipped:\n  " + "\n  ".join(skipped)
                + f"\nresuming from {entry.prefix}: the steps after step {entry.step} are trained again "
                "(their files are kept as damaged-*)", CheckpointFallbackWarning, stacklevel=3,
            )

    def _refuse_unchecked(self, run_root: Path) -> None:
        """Checkpoints without a manifest were written by a version before checked checkpoints (their
        object graph held the whole generators): say so instead of starting over silently."""
        if tf.train.latest_checkpoint(str(self.directory)) is None:
            return
        raise CheckpointDamagedError(
            f"{run_root}: its checkpoints in {self.directory} were written by a cyclegan version before checked "
            f"checkpoints (no {names.CHECKPOINT_MANIFEST}); this version does not resume them. Either finish the run "
            "with the version that began it, or start it over: `cyclegan train CONFIG --run-dir "
            f"{run_root} --restart` (in a study: remove {run_root}, then run the study again with --retry-failed)."
        )

    def _none_left(self, why: str, run_root: Path | None = None) -> str:
        root = run_root or self.directory.parent
        return (
            f"{root}: no complete checkpoint to resume from:\n  {why}\n"
            f"Either restore the checkpoint files in {self.directory} (e.g. copy them again), or start "
            "the run over: `cyclegan train CONFIG --run-dir "
            f"{root} --restart` (in a study: remove {root}, then run the study again with --retry-failed)."
        )


class CheckpointFallbackWarning(UserWarning):
    """A damaged checkpoint was skipped; the run resumes from an older complete one."""

"""What a run writes, where: the layout of a run directory and the rules for resuming into one.

::

    RUN_DIR/config.yaml        the resolved config (the run's identity)
    RUN_DIR/history.csv        one row per mini-epoch: losses, accuracies, eval metrics
    RUN_DIR/precision.txt      what train.precision resolved to where the run started (``auto``:
                               float16, bfloat16 or float32 by device); a resume must resolve the same
    RUN_DIR/samples/           sample grid PNG per mini-epoch (inputs over outputs)
    RUN_DIR/checkpoints/       checked checkpoints (the last few, at least 2) and their manifest.json
                               (cyclegan.core.runfolder.checkpoints); a finished study cell drops them
    RUN_DIR/models/            the two generators' trainable weights (<name>.weights.h5), written at
                               the end; rebuilt with config.yaml (cyclegan.core.runfolder.generators)
    RUN_DIR/eval/photo2monet/  final translations of the held-out photos (lossless PNG)
    RUN_DIR/random_encoders.json  a frozen random encoder's fingerprint per generator: the
                               encoder is rebuilt from the run's seed, not stored
                               (cyclegan.core.runfolder.random_encoders)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from cyclegan import names
from cyclegan.atomic import atomic_write_text
from cyclegan.errors import CycleganError
from cyclegan.spec.config import RunConfig, build_config, flatten
from cyclegan.spec.identity import differences, identity

# Keys that may change when a run is resumed: extending the schedule does not change what the
# checkpoint means.
RESUMABLE_CHANGES = frozenset({"train.mini_epochs"})  # operational keys are not in the identity at all


class RunDirError(CycleganError, RuntimeError):
    """The run directory cannot be used for this config."""


def manifest_entries(manifest_file: Path) -> list[dict]:
    """The checkpoint manifest's entries, oldest first (``{"prefix": "ckpt-N", "files": {...}}``);
    [] without a manifest. Raises ValueError, KeyError or TypeError when it cannot be read as one."""
    if not manifest_file.exists():
        return []
    entries = json.loads(manifest_file.read_text())["checkpoints"]
    if not isinstance(entries, list):
        raise TypeError(f"'checkpoints' is a {type(entries).__name__}, not a list")
    return entries


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / names.CONFIG_FILE

    @property
    def history_file(self) -> Path:
        return self.root / names.HISTORY_FILE

    @property
    def checkpoint_manifest(self) -> Path:
        return self.checkpoints / names.CHECKPOINT_MANIFEST

    @property
    def samples(self) -> Path:
        return self.root / names.SAMPLES_DIR

    @property
    def checkpoints(self) -> Path:
        return self.root / names.CHECKPOINTS_DIR

    @property
    def models(self) -> Path:
        return self.root / names.MODELS_DIR

    @property
    def eval_outputs(self) -> Path:
        return self.root / names.EVAL_OUTPUTS_DIR

    def sample_grid(self, mini_epoch: int) -> Path:
        return self.samples / names.sample_grid_name(mini_epoch)

    def generator_weights(self, name: str) -> Path:
        return self.models / f"{name}{names.GENERATOR_WEIGHTS_SUFFIX}"

    def start_over(self) -> None:
        """Remove what a run has trained (checkpoints, history, samples, generators, eval outputs),
        keeping nothing to resume from: ``cyclegan train --restart``."""
        for folder in (self.checkpoints, self.samples, self.models, self.eval_outputs):
            if folder.exists():
                shutil.rmtree(folder)
        self.history_file.unlink(missing_ok=True)
        self.random_encoders_file.unlink(missing_ok=True)

    @property
    def random_encoders_file(self) -> Path:
        return self.root / names.RANDOM_ENCODERS_FILE

    def has_trained(self) -> bool:
        """Whether a checkpoint or a generator file was ever written here."""
        return any(folder.is_dir() and any(folder.iterdir()) for folder in (self.checkpoints, self.models))

    @property
    def identity_file(self) -> Path:
        return self.root / names.IDENTITY_FILE

    @property
    def precision_file(self) -> Path:
        return self.root / names.PRECISION_FILE

    def claim(self, config: RunConfig, precision: str) -> None:
        """Check :meth:`check_compatible`, then write ``config.yaml``, ``identity.json`` and the
        resolved ``precision``."""
        self.check_compatible(config)
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_file, config.to_yaml())
        atomic_write_text(self.identity_file, _identity_json(config))
        atomic_write_text(self.precision_file, precision + "\n")

    def check_compatible(self, config: RunConfig, precision: str | None = None) -> None:
        """Refuse a directory whose ``config.yaml`` describes another run.

        Resuming a directory that was made for another config would silently mix two experiments,
        so any difference outside :data:`RESUMABLE_CHANGES` is an error listing the keys. With
        ``precision`` (what ``train.precision`` resolves to here), a folder that has trained in
        another precision is refused too: ``auto`` resolves by device, and a run must not change
        its numerics half-way (nor can its checkpoint, with or without a loss scale, be restored
        into the other precision's optimizers). Folders of earlier versions record no precision."""
        if precision is not None and self.precision_file.exists() and self.has_trained():
            recorded = self.precision_file.read_text().strip()
            if recorded != precision:
                raise RunDirError(
                    f"{self.root} has trained in {recorded} (train.precision: {config.train.precision}, resolved on the "
                    f"machine that started it); here it resolves to {precision}. Resume it on a machine of that kind, "
                    f"or start it over here with --restart (or in another --run-dir).")
        if self.config_file.exists():
            try:
                saved = build_config(yaml.safe_load(self.config_file.read_text()), source=str(self.config_file))
            except Exception as err:
                raise RunDirError(f"{self.config_file}: cannot read the saved config ({err}); refusing to resume into {self.root}") from None
            # Compare identities (content, not paths): a resumed cell may run on a machine whose
            # data lives elsewhere. The identity recorded when the run started is the reference.
            recorded = self.identity_file.read_text() if self.identity_file.exists() else _identity_json(saved)
            old, new = json.loads(recorded), json.loads(_identity_json(config))
            lines = differences(old, new, then="the run", ignore=RESUMABLE_CHANGES)
            if lines:
                raise RunDirError(
                    f"{self.root} belongs to a different config; refusing to resume into it:\n{lines}\n"
                    "Use another --run-dir, or the saved config."
                )

    def describe_kept(self) -> str:
        """What a resume would start from, in words (for a message written when the disk is full:
        never raises, whatever state the folder is in)."""
        try:
            entries = manifest_entries(self.checkpoint_manifest)
            checkpoint = f"checkpoint {entries[-1]['prefix']}" if entries else "no checkpoint yet"
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            checkpoint = "no readable checkpoint"
        try:
            rows = max(0, len(self.history_file.read_text().splitlines()) - 1)
        except OSError:
            rows = 0
        return f"kept {checkpoint} and {rows} mini-epoch(s) of {names.HISTORY_FILE} in {self.root}"

    def read_history(self) -> pd.DataFrame:
        if not self.history_file.exists():
            return pd.DataFrame()
        return pd.read_csv(self.history_file)

    def append_history(self, row: dict[str, float]) -> None:
        history = self.read_history()
        history = pd.concat([history, pd.DataFrame([row])], ignore_index=True) if len(history) else pd.DataFrame([row])
        atomic_write_text(self.history_file, history.to_csv(index=False))

    def truncate_history(self, mini_epoch: int) -> int:
        """Drop rows after ``mini_epoch`` (written after the last checkpoint, so they will be
        trained again). Returns how many rows were dropped."""
        history = self.read_history()
        if history.empty:
            return 0
        kept = history[history["mini_epoch"] <= mini_epoch]
        if len(kept) != len(history):
            atomic_write_text(self.history_file, kept.to_csv(index=False))
        return len(history) - len(kept)


def _identity_json(config: RunConfig) -> str:
    return json.dumps(identity(config), indent=1, sort_keys=True, default=str)




def flat_row(prefix: str, values: dict[str, object]) -> dict[str, float]:
    """``{"grid_score": 1.2, "collapsed": True}`` -> ``{"eval/grid_score": 1.2, "eval/collapsed": 1.0}``."""
    return {f"{prefix}{k}": float(v) for k, v in flatten(values).items() if isinstance(v, (int, float, bool))}

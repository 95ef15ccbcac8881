"""A run's generators as stored files: trainable weights only, rebuilt from the run's config.

::

    RUN_DIR/models/gen_photo2monet.weights.h5   G's trainable part (its decoder when the VGG16
    RUN_DIR/models/gen_monet2photo.weights.h5   encoder is frozen; else all of it)
    RUN_DIR/config.yaml, RUN_DIR/identity.json  what rebuilds the rest, and the encoder file's fingerprint
    RUN_DIR/random_encoders.json                a frozen random encoder's fingerprint (rebuilt from the seed)

:func:`load_run_generator` rebuilds a generator from those files (the encoder from its weights
file, refusing one whose content changed since training); :func:`export_generator` writes a
self-contained ``.keras`` file (encoder included) that loads in Keras safe mode anywhere.
A finished study cell whose generators were logged to MLflow keeps only a pointer
(``models/stored_elsewhere.json``) naming where they are; loading follows it when it is a local folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import keras
import yaml

from cyclegan import names
from cyclegan.atomic import atomic_write_text
from cyclegan.core.models import build_generator
from cyclegan.core.runfolder.checkpoints import trainable_part
from cyclegan.core.runfolder.layout import RunDir
from cyclegan.core.runfolder.random_encoders import encoder_left_out
from cyclegan.core.weights_files import first_line, load_weights_strictly
from cyclegan.errors import CycleganError
from cyclegan.places import writable_folder
from cyclegan.spec.config import RunConfig, build_config
from cyclegan.spec.identity import differences, identity


class GeneratorFileError(CycleganError, RuntimeError):
    """A run folder's generator cannot be rebuilt from what it stores."""


def save_run_generators(run: RunDir, config: RunConfig, models: tuple[keras.Model, ...]) -> list[Path]:
    """Write each generator's trainable part to ``models/<name>.weights.h5`` (atomically: a crash
    never leaves a broken file under the final name)."""
    run.models.mkdir(parents=True, exist_ok=True)
    rebuildable = encoder_left_out(run, config, models, starting=False)
    written = []
    for model in models:
        target = run.generator_weights(model.name)
        tmp = target.with_name(f".{model.name}.tmp.weights.h5")
        trainable_part(model, rebuildable).save_weights(tmp)
        tmp.replace(target)
        written.append(target)
    (run.models / names.MODELS_POINTER).unlink(missing_ok=True)
    return written


def point_models_elsewhere(run: RunDir, locations: dict[str, str]) -> int:
    """Remove the run folder's generator weights, leaving a pointer to where the cell's MLflow
    models hold the same files (``{name: folder or file:// URI of a folder with <name>.weights.h5}``).
    Only for generators whose location is a local folder holding a file of the same size: otherwise
    (a remote store, another layout) that local copy stays. Returns the bytes freed."""
    pointed, freed = {}, 0
    for name, location in locations.items():
        local = run.generator_weights(name)
        folder = _local_folder(location)
        if not local.is_file() or folder is None:
            continue
        stored = folder / local.name
        if stored.is_file() and stored.stat().st_size == local.stat().st_size:
            pointed[name] = location
    if not pointed:
        return 0
    atomic_write_text(run.models / names.MODELS_POINTER, json.dumps({"models": pointed}, indent=1))
    for name in pointed:
        local = run.generator_weights(name)
        freed += local.stat().st_size
        local.unlink()
    return freed


def _local_folder(location: str) -> Path | None:
    """A local folder from a plain path or a ``file://`` URI (percent-decoded); None for other schemes."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(location) if parsed.scheme == "" else None


def _weights_file(run: RunDir, name: str) -> Path:
    local = run.generator_weights(name)
    if local.is_file():
        return local
    pointer = run.models / names.MODELS_POINTER
    if pointer.is_file():
        location = json.loads(pointer.read_text())["models"]
        location = location.get(name, "") if isinstance(location, dict) else location
        folder = _local_folder(location) if location else None
        if folder is not None and (folder / local.name).is_file():
            return folder / local.name
        raise GeneratorFileError(f"{run.root}: generator {name} is stored at {location} (the cell's MLflow run), "
                                 f"which is not a readable local folder here; download {local.name} from there into {run.models}")
    legacy = run.models / f"{name}.keras"
    if legacy.is_file():
        return legacy
    raise GeneratorFileError(f"{run.root}: no generator {name} ({local} missing); has the run finished?")


def load_run_generator(run_dir: str | Path, name: str = names.GENERATORS[0]) -> keras.Model:
    """The generator ``name`` of a finished run: (B, S, S, 3) in [0, 1] -> same, as trained.

    Rebuilt from ``config.yaml``; the encoder's weights file must be the one trained with
    (its fingerprint in ``identity.json``), else :class:`GeneratorFileError` names the key."""
    if name not in names.GENERATORS:
        raise GeneratorFileError(f"generator {name!r}: expected one of {', '.join(names.GENERATORS)}")
    run = RunDir(Path(run_dir))
    if not run.config_file.is_file():
        raise GeneratorFileError(f"{run.root}: not a run folder (no {names.CONFIG_FILE})")
    config = build_config(yaml.safe_load(run.config_file.read_text()), source=str(run.config_file))
    weights = _weights_file(run, name)
    if weights.suffix == ".keras":  # a run folder of an earlier version: a full model file
        return load_generator(weights)
    _check_encoder_unchanged(run, config)
    model = build_generator(config.generator, config.data.image_size, name, fused_norm=config.train.fused_instance_norm,
                            seed=config.train.seed)
    part = trainable_part(model, encoder_left_out(run, config, (model,), starting=False))
    try:
        load_weights_strictly(part, weights)
    except Exception as err:  # h5py/Keras raise many types for a damaged file or another network's
        raise GeneratorFileError(f"{weights}: not the weights of this run's generator {name} ({first_line(err)})") from None
    return model


def load_generator(path: str | Path, name: str | None = None) -> keras.Model:
    """A generator from ``path``: a ``.keras`` file (``cyclegan export``), loaded in Keras safe mode
    (no arbitrary code from the file runs); a run folder (generator ``name``, default G:
    photo -> monet); or a run folder's ``models/<name>.weights.h5``."""
    path = Path(path)
    if path.is_dir():
        return load_run_generator(path, name or names.GENERATORS[0])
    if path.name.endswith(names.GENERATOR_WEIGHTS_SUFFIX) and path.parent.name == names.MODELS_DIR:
        return load_run_generator(path.parent.parent, path.name.removesuffix(names.GENERATOR_WEIGHTS_SUFFIX))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such generator file or run folder")
    # The custom layers (VGGPreprocess, InstanceNormalization, ReflectionPadding2D) are registered for
    # deserialisation by this module's import of cyclegan.core.models (which imports norm and resnet).
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # h5py/Keras raise many types for a file that is not a saved model
        raise GeneratorFileError(f"{path}: not a generator file that loads: a .keras file from `cyclegan export`, "
                                 f"a run folder or its models/<name>{names.GENERATOR_WEIGHTS_SUFFIX} ({first_line(err)})") from None


def _check_encoder_unchanged(run: RunDir, config: RunConfig) -> None:
    if not run.identity_file.is_file():
        return
    recorded = json.loads(run.identity_file.read_text())
    now = identity(config)
    keys = frozenset(k for k in recorded.keys() | now.keys() if not k.startswith("generator.") or "weights" not in k)
    lines = differences(recorded, now, then="training", ignore=keys)
    if lines:
        raise GeneratorFileError(
            f"{run.root}: the encoder weights file is not the one this run trained with:\n{lines}\n"
            f"Restore that file, or edit {run.config_file} to point at a copy of it."
        )


def export_generator(run_dir: str | Path, output: str | Path, name: str = names.GENERATORS[0]) -> Path:
    """Write the generator as one self-contained ``.keras`` file (encoder included), checked by
    loading it back in safe mode."""
    output = Path(output)
    if output.suffix != ".keras":
        raise ValueError(f"{output}: the exported file must end in .keras")
    writable_folder(output.parent, "exported generator")  # before the model is built
    model = load_run_generator(run_dir, name)
    tmp = output.with_name(f".{output.stem}.tmp.keras")
    model.save(tmp)
    load_generator(tmp)
    tmp.replace(output)
    return output

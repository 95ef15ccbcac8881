"""The two generators as MLflow models: listed in the UI's Models view and the runs table's Model
column, loadable by any MLflow tool.

``mlflow.pyfunc.load_model(uri).predict(images)`` translates a batch: ``images`` float32
(N, S, S, 3) in [0, 1] (S = the generator's training size) -> the same shape and range. The model
is logged as code (:mod:`cyclegan.runs.generator_model_code`) and wraps the generator file the
trainer wrote; it is the one tracked copy (the raw ``models/`` folder
is no longer logged next to it). TensorFlow is imported only when a model is loaded
(``load_context``), never when this module is imported, so the report and ``--help`` stay TF-free.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
import numpy as np
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import Schema, TensorSpec

import cyclegan
from cyclegan.core.runfolder.layout import RunDir  # paths only: no TensorFlow
from cyclegan.names import GENERATORS, MODELS_DIR
from cyclegan.runs import provenance

GENERATOR_ARTIFACT = "generator"  # the wrapped generator file inside each MLflow model
# What MLflow runs to rebuild a logged generator (models from code; see that file).
MODEL_CODE = Path(__file__).with_name("generator_model_code.py")


def load_generator_file(path: str | Path, name: str | None = None):
    """THE one place an MLflow model turns its artifact into a Keras generator: a mini run folder
    (``config.yaml``, ``identity.json``, ``models/<name>.weights.h5``, for a random encoder
    ``random_encoders.json``; the frozen encoder is rebuilt from its weights file or its seed) or, for models logged by earlier versions, a ``.keras`` file."""
    from cyclegan.core.runfolder.generators import load_generator

    return load_generator(path, name)


class GeneratorModel(PythonModel):
    """pyfunc wrapper of one generator: ``predict`` maps float32 (N, S, S, 3) in [0, 1] to the same."""

    def load_context(self, context) -> None:
        from cyclegan.core.translate import Translator

        artifact = Path(context.artifacts[GENERATOR_ARTIFACT])
        # Models logged by earlier versions name their generator in model_config; a model's mini run
        # folder holds one generator's weights, whose file name says which.
        name = (context.model_config or {}).get("generator") or _staged_generator(artifact)
        self.translator = Translator(load_generator_file(artifact, name))

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:
        images = np.asarray(model_input, dtype=np.float32)
        size = self.translator.image_size
        if images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected images of shape (N, {size}, {size}, 3) in [0, 1], got {images.shape}")
        return self.translator(images)


def _staged_generator(artifact: Path) -> str | None:
    """The generator whose weights a logged mini run folder holds (None for a ``.keras`` file)."""
    staged = [name for name in GENERATORS if RunDir(artifact).generator_weights(name).is_file()]
    return staged[0] if len(staged) == 1 else None


def signature(image_size: int) -> ModelSignature:
    """float32 (N, S, S, 3) in, the same out. Unnamed tensors: ``predict`` then gets the array itself, not a dict."""
    spec = Schema([TensorSpec(np.dtype(np.float32), (-1, image_size, image_size, 3))])
    return ModelSignature(inputs=spec, outputs=spec)


def log_generators(run_dir: Path, image_size: int) -> dict[str, str]:
    """Log each generator of the run folder as a pyfunc model named after it (``gen_photo2monet``,
    ``gen_monet2photo``) into the ACTIVE MLflow run. A model's artifact is a mini run folder: the
    generator's stored weights (without the frozen encoder) and the config and identity that rebuild
    it. Returns ``{name: local folder holding <name>.weights.h5 inside the logged model}`` for the
    models whose artifacts are on a local file system (empty for a remote store)."""
    run = RunDir(Path(run_dir))
    stored: dict[str, str] = {}
    previous = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # logging would draw a bar per model
    try:
        for name in GENERATORS:
            weights = run.generator_weights(name)
            if not weights.is_file():
                continue
            with tempfile.TemporaryDirectory(prefix="cyclegan-model-") as tmp:
                staged = RunDir(Path(tmp) / GENERATOR_ARTIFACT)
                staged.models.mkdir(parents=True)
                for file, copy in ((run.config_file, staged.config_file), (run.identity_file, staged.identity_file),
                                   (run.random_encoders_file, staged.random_encoders_file)):
                    if file.is_file():
                        shutil.copy2(file, copy)
                shutil.copy2(weights, staged.generator_weights(name))
                info = _log_one(name, staged.root, image_size)
            folder = _local_models_folder(info)
            if folder is not None:
                stored[name] = str(folder)
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = previous
    return stored


def _local_models_folder(info) -> Path | None:
    """Where the logged model keeps the staged ``models/`` folder, when that is a local folder."""
    location = mlflow.get_logged_model(info.model_id).artifact_location
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return None
    # Where pyfunc put the artifact inside the model, as its MLmodel flavor records it (not a layout guessed here).
    relative = info.flavors["python_function"]["artifacts"][GENERATOR_ARTIFACT]["path"]
    folder = Path(unquote(parsed.path)) / relative / MODELS_DIR
    return folder if folder.is_dir() else None


def _log_one(name: str, path: Path, image_size: int):
    with warnings.catch_warnings():
        # MLflow recommends an example when none is given; the explicit signature is what it validates against.
        warnings.filterwarnings("ignore", message=".*An input example was not provided", category=UserWarning)
        return mlflow.pyfunc.log_model(
            # No model_config: MLflow logs it as parameters of the cell's run, where a "generator" column
            # would be wrong and the second model's value a conflict (a warning per cell).
            # The model as code (a file that sets it), not a pickled object: nothing to unpickle on load,
            # hence no CloudPickle warning from MLflow, and a load runs only this package's code.
            name=name, python_model=str(MODEL_CODE), artifacts={GENERATOR_ARTIFACT: str(path)},
            # The signature, not an input example: with an example, MLflow validates it by loading the model
            # (rebuilding its VGG16) and predicting, 3.4 s of the 3.75 s that logging both generators took
            # (a 64x64 quick-study cell, measured in one process); load_model is tested instead.
            signature=signature(image_size),
            # Given, so MLflow does not infer them by loading the model in a subprocess (TensorFlow, seconds).
            pip_requirements=[f"cyclegan=={cyclegan.__version__}"],
            tags=provenance.run_tags(),  # the Models view's "Logged from" is then the command, not __main__.py
        )


MODEL_URI_SCHEMES = ("runs:/", "models:/")  # what `cyclegan translate --generator` loads through MLflow


def load_keras(uri: str, tracking_uri: str):
    """The Keras generator inside a logged MLflow model (``runs:/<run id>/gen_photo2monet``,
    ``models:/<model id>``, ``models:/<registered name>/<version>``) of the store ``tracking_uri``."""
    from mlflow.exceptions import MlflowException

    from cyclegan.runs.store import TrackingError

    mlflow.set_tracking_uri(tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as err:
        raise TrackingError(f"{uri}: cannot load this MLflow model: {str(err).splitlines()[0][:300]}") from None
    wrapped = model.unwrap_python_model()
    if not isinstance(wrapped, GeneratorModel):
        raise TrackingError(f"{uri}: not a cyclegan generator model ({type(wrapped).__name__})")
    return wrapped.translator.generator

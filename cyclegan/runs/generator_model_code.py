"""The code MLflow runs to rebuild a logged generator model ("models from code").

``mlflow.pyfunc.log_model`` is given this file's PATH as ``python_model`` (see
:func:`cyclegan.runs.mlflow_model.log_generators`): MLflow copies the file into the model and, to
load the model, runs it, so nothing is pickled and loading executes only this project's code. The
generator itself comes from the model's artifact (weights and config), in ``load_context``.
Models logged before this file existed hold a pickled :class:`GeneratorModel` and still load.
"""

import mlflow

from cyclegan.runs.mlflow_model import GeneratorModel

mlflow.models.set_model(GeneratorModel())

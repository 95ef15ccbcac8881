"""A runs folder that was moved (or copied): MLflow's embedded store keeps ABSOLUTE artifact paths.

An experiment created in ``RUNS_DIR`` records ``RUNS_DIR/mlartifacts/<study>`` as its artifact
location, and every run and logged model below it, as absolute ``file://`` URIs; MLflow resolves a
relative location to an absolute one when the experiment is created (``resolve_uri_if_local``), and
its public API has no way to change it afterwards. After ``mv runs elsewhere`` the store would read
from, and write to, the old place. So, for the embedded store only (the database inside the runs
folder the user named):

* reading follows the move: an artifact URI under the old location is read from the same relative
  place under ``RUNS_DIR/mlartifacts`` (``report``'s figures, ``translate --generator runs:/...``);
* writing is refused (:class:`RunsFolderMoved`): it would create or overwrite files at the old place,
  outside the folder the user named. ``report`` then skips publishing with a warning; ``ablate`` and
  ``tune`` stop with one line saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from cyclegan import names
from cyclegan.runs.probe import TrackingError


class RunsFolderMoved(TrackingError):
    """Writing to a moved runs folder's store would write at its old place."""


@dataclass(frozen=True)
class Move:
    """Artifact URIs starting with ``old`` are read from ``new`` (both ``file://`` URIs of an experiment's location)."""

    old: str
    new: str
    runs_dir: Path
    study: str

    def uri(self, artifact_uri: str) -> str:
        return self.new + artifact_uri[len(self.old):] if artifact_uri.startswith(self.old) else artifact_uri

    def refusal(self) -> str:
        old_folder = _path(self.old).parent.parent
        return (f"{self.runs_dir}: this runs folder was moved or copied from {old_folder} (MLflow's store records absolute "
                f"artifact paths there), so writing to study {self.study!r} here would write into {old_folder}. "
                f"Reading works from here (cyclegan report, translate); to train on, move the folder back to {old_folder} "
                "or train in a fresh --runs-dir")


def embedded(store) -> bool:
    """True when ``store`` is the runs folder's own SQLite file (``RUNS_DIR/mlflow.db``, however it was named)."""
    return store.uri == names.sqlite_url(store.runs_dir / names.MLFLOW_DB)


def find_move(store, experiment) -> Move | None:
    """The move of ``experiment``'s artifacts (an MLflow Experiment or None), or None when they are
    where the runs folder is (or the store is not the embedded one)."""
    if experiment is None or not embedded(store):
        return None
    location = experiment.artifact_location or ""
    if urlparse(location).scheme not in ("", "file"):
        return None
    here = (store.runs_dir / names.MLFLOW_ARTIFACTS / experiment.name).resolve()
    old = _path(location)
    # Only this project's layout (RUNS_DIR/mlartifacts/<study>) at another place is a move.
    if old == here or old.parts[-2:] != (names.MLFLOW_ARTIFACTS, experiment.name):
        return None
    return Move(old=location.rstrip("/"), new=here.as_uri(), runs_dir=store.runs_dir, study=experiment.name)


def refuse_writes(store, experiment) -> None:
    """:class:`RunsFolderMoved` when writing to ``experiment`` would write outside the runs folder."""
    move = find_move(store, experiment)
    if move is not None:
        raise RunsFolderMoved(move.refusal())


def model_uri(store, uri: str) -> str:
    """``runs:/<run id>/<model name>`` of a moved store as the file URI of that logged model where it
    is now (the MLflow URI itself, which would resolve to the old place, otherwise)."""
    import mlflow

    if not uri.startswith("runs:/"):
        return uri
    run_id, _, name = uri.removeprefix("runs:/").partition("/")
    try:
        run = store.client.get_run(run_id)
    except Exception:
        return uri
    move = find_move(store, store.client.get_experiment(run.info.experiment_id))
    if move is None:
        return uri
    models = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list",
                                         filter_string=f"source_run_id = '{run_id}' AND name = '{name.strip('/')}'")
    if models:
        return move.uri(models[0].artifact_location)
    return move.uri(f"{run.info.artifact_uri}/{name}")


def _path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path) if parsed.scheme == "file" else uri).resolve()

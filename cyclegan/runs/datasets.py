"""The photo and painting sets as MLflow run inputs, so the runs table's Dataset column and the run's
dataset view show what a cell was trained on.

One MLflow dataset per domain (``monet``, ``photo``), built from the data index ``ROOT/data.csv``
(:func:`cyclegan.data.dataset.read_index`): its digest is a hash of the domain's rows of the index
(file names, so adding, removing or renaming an image changes it), its source the resolved domain
folder, its profile the image count and the held-out count. The images themselves are not read:
logging must not cost a pass over the data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from cyclegan.data.dataset import DOMAINS, read_index
from cyclegan.names import DATASET_CONTEXT
from cyclegan.spec.config import DataConfig

LOCAL_SOURCE = "local"  # MLflow's source type for a local path; the source is then {"uri": path}


def index_digest(names: list[str]) -> str:
    """16 hex digits over the sorted file names of one domain."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


def domain_datasets(data: DataConfig) -> list[DatasetInput]:
    """One DatasetInput per domain of ``data.root`` (raises DataError when the index is missing)."""
    root = Path(data.root).resolve()
    index = read_index(root)
    inputs = []
    for domain in DOMAINS:
        files = index.loc[index["path"] == domain, "name"].tolist()
        profile = {"num_images": len(files), "num_holdout": min(data.holdout, len(files)), "image_size": data.image_size,
                   "index": str(root / "data.csv")}
        entity = Dataset(name=f"{root.name}/{domain}", digest=index_digest(files), source_type=LOCAL_SOURCE,
                         source=json.dumps({"uri": str(root / domain)}), profile=json.dumps(profile))
        inputs.append(DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, DATASET_CONTEXT)]))
    return inputs

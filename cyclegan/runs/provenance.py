"""Where a run's code came from: MLflow's usual context tags plus the package version and a code
fingerprint, set on every run the project creates.

Runs are created with ``MlflowClient.create_run``, which (unlike ``mlflow.start_run``) adds no
context tags, so they are made here: ``mlflow.source.name`` / ``mlflow.source.type`` (the command),
``mlflow.user``, ``mlflow.source.git.commit`` when the package sits in a git checkout, and
``cyclegan.version`` / ``cyclegan.code_fingerprint``. The fingerprint is a hash of the package's
``.py`` files, so an edited but uncommitted checkout (or an installed copy) is told apart from the
release it claims to be; the report names every code version a study's cells were trained by.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import subprocess
import sys
from pathlib import Path

from mlflow.entities import SourceType
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE, MLFLOW_USER

import cyclegan
from cyclegan.names import CODE_TAG, VERSION_TAG

PACKAGE_DIR = Path(cyclegan.__file__).resolve().parent


def code_fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """16 hex digits: SHA-256 over every ``.py`` file of the package (relative path and bytes, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_commit(folder: Path = PACKAGE_DIR) -> str | None:
    """The checked-out commit of the git work tree holding ``folder``; None outside one (or without git)."""
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


@functools.cache
def run_tags() -> dict[str, str]:
    """The provenance tags of a run created by this process (computed once per process)."""
    tags = {
        MLFLOW_SOURCE_NAME: f"cyclegan {' '.join(sys.argv[1:2])}".strip() if Path(sys.argv[0]).name in ("cyclegan", "__main__.py") else Path(sys.argv[0]).name,
        MLFLOW_SOURCE_TYPE: SourceType.to_string(SourceType.LOCAL),
        MLFLOW_USER: _user(),
        VERSION_TAG: cyclegan.__version__,
        CODE_TAG: code_fingerprint(),
    }
    commit = git_commit()
    if commit:
        tags[MLFLOW_GIT_COMMIT] = commit
    return tags


def code_version(tags: dict) -> str:
    """``<version> (code <fingerprint>)``: how the report names a code version."""
    return f"{tags.get(VERSION_TAG) or '?'} (code {tags.get(CODE_TAG) or '?'})"

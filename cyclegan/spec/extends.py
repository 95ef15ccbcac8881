"""``extends:``: an experiment or tuning file that states only what differs from a shared file.

``extends: shared/cpu64.yaml`` (or a list of such paths, relative to the file that names them)
merges those files beneath this one: mappings merge key by key, any other value (a list of
levels, seeds or hypotheses) is replaced whole by the later file, and a ``null`` in the later file
removes the key the earlier one set (``factors: {generator.norm: null}`` drops an inherited
factor; a removed run config key takes its default). Bases may extend other bases; a cycle is an
error naming the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cyclegan.spec.config import ConfigError, read_yaml

EXTENDS_KEY = "extends"


def read_extended_yaml(path: str | Path) -> dict[str, Any]:
    """The file's mapping with every file it extends merged beneath it."""
    return _read(Path(path), ())


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: nested mappings merge, everything else in ``top`` replaces, and a
    ``None`` in ``top`` deletes ``base``'s key. Without the deletion a file could never take away
    what it extends: its ``factors:`` only added to the base's, and a null level list is invalid.
    A ``None`` for a key ``base`` does not have is kept: there it is an explicit null, as before."""
    out = dict(base)
    for key, value in top.items():
        if value is None and key in out:
            del out[key]
        else:
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigError(f"{path}: extends: the files extend each other in a circle: {cycle}")
    tree = read_yaml(path)
    targets = tree.pop(EXTENDS_KEY, None)
    if targets is None:
        return tree
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets):
        raise ConfigError(f"{path}: extends: expected a file path or a list of file paths, got {targets!r}")
    merged: dict[str, Any] = {}
    for target in targets:
        base_path = path.parent / target
        if not base_path.is_file():
            raise ConfigError(f"{path}: extends: {target}: no such file (looked for {base_path})")
        merged = merge(merged, _read(base_path, (*chain, resolved)))
    return merge(merged, tree)


def run_tree(path: str | Path) -> dict[str, Any]:
    """The run config a file stands for: a run file's own mapping, or an experiment file's ``base``
    (with everything it extends merged in), for commands such as ``bench`` that take either."""
    tree = read_extended_yaml(path)
    is_experiment = "factors" in tree or "base" in tree
    return dict(tree.get("base") or {}) if is_experiment else tree

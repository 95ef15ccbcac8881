"""The package's layers and their import rules (docs/development.md "Layers and modules"), checked on the source and
in fresh interpreters: what may import what, and that reading results never loads TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cyclegan"
BOTTOM = {"names", "errors", "masking", "signals", "atomic", "host", "places", "exit_codes"}  # standard library only
# For each layer, the project packages it may import (itself included). Lower layers never import higher ones.
MAY_IMPORT = {
    "bottom": {"bottom"},
    "spec": {"bottom", "spec"},
    "data": {"bottom", "data"},
    "metrics": {"bottom", "metrics", "data"},
    "analysis": {"bottom", "analysis"},
    "core": {"bottom", "spec", "data", "metrics", "core"},
    "runs": {"bottom", "spec", "data", "analysis", "core", "runs"},  # analysis: ablate's design warnings
    "report": {"bottom", "spec", "data", "metrics", "analysis", "runs", "report"},
    "launch": {"bottom", "spec", "runs", "launch"},  # cluster job scripts over the run layer's queue
    "cli": {"bottom", "spec", "data", "metrics", "analysis", "core", "runs", "report", "launch", "cli"},
}
# Third-party packages that belong to one layer: TensorFlow in the core, MLflow and Optuna in the run layer.
OWNED_BY = {"tensorflow": "core", "keras": "core", "mlflow": "runs", "optuna": "runs"}
STDLIB = set(sys.stdlib_module_names)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in BOTTOM:
        return "bottom"  # the package's __init__ (its version) and the standard-library modules
    return "cli" if parts[1] == "__main__" else parts[1]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path


def _imports(path: Path):
    """Every import in the file, at module level or deferred inside a function."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "cyclegan":
                yield from (f"cyclegan.{alias.name}" for alias in node.names)
            else:
                yield node.module


def test_every_module_belongs_to_a_known_layer():
    layers = {_layer(name) for name, _ in _modules()}
    assert layers <= set(MAY_IMPORT), layers - set(MAY_IMPORT)


@pytest.mark.parametrize("module, path", list(_modules()), ids=[name for name, _ in _modules()])
def test_imports_follow_the_layers(module, path):
    layer = _layer(module)
    for imported in _imports(path):
        top = imported.split(".")[0]
        if top == "cyclegan":
            target = _layer(imported)
            assert target in MAY_IMPORT[layer], f"{module} ({layer}) imports {imported} ({target})"
        elif top in OWNED_BY:
            assert layer == OWNED_BY[top], f"{module} ({layer}) imports {top}, which belongs in {OWNED_BY[top]}/"
        elif layer == "bottom":
            assert top in STDLIB or top == "__future__", f"{module} must use the standard library only, imports {imported}"


def _loaded_after(code: str) -> set[str]:
    """Top-level packages loaded by a fresh interpreter after running ``code``."""
    probe = code + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    return set(out.stdout.split())


@pytest.mark.slow
def test_reading_results_and_the_help_never_load_tensorflow():
    loaded = _loaded_after(
        "import cyclegan.report.build, cyclegan.analysis.stats, cyclegan.analysis.verdict, cyclegan.spec.study\n"
        "import cyclegan.spec.tune_space, cyclegan.runs.reader\n"
        "from click.testing import CliRunner\nfrom cyclegan.cli.main import main\n"
        "for args in ([\"--help\"], [\"report\", \"--help\"], [\"ablate\", \"--help\"], [\"train\", \"--help\"]):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0, args\n")
    assert "tensorflow" not in loaded and "keras" not in loaded
    assert "cyclegan" in loaded  # the probe ran


def test_the_layers_import_their_own_heavy_packages_only():
    loaded = _loaded_after("import cyclegan.spec.study, cyclegan.analysis.verdict, cyclegan.metrics, cyclegan.names")
    assert not loaded & {"tensorflow", "keras", "mlflow", "optuna"}


def _module_edges() -> dict[str, set[str]]:
    """Module -> the project modules it imports (at module level or deferred), package __init__s resolved
    to the module named in ``from package import module``."""
    modules = dict(_modules())
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("cyclegan"):
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            edges[name] |= {t for t in targets if t in modules and t != name and not name.startswith(f"{t}.")}
    return edges


def test_no_module_imports_itself_back_also_through_deferred_imports():
    """Import circles hidden by imports inside functions (issue 31) stay gone: depth-first search for a
    back edge over every import, deferred ones included."""
    edges = _module_edges()
    assert edges["cyclegan.core.models"] >= {"cyclegan.core.norm", "cyclegan.core.resnet"}  # the search sees real edges
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []
    circles: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_linter_reads_every_module_of_the_package_and_the_tests():
    """``make lint`` leaves out the output folders ``runs/`` and ``data/`` at the top, and nothing else:
    written without its leading slash, the pattern also left out ``cyclegan/runs/`` and ``cyclegan/data/``,
    and a missing import there passed the lint."""
    root = PACKAGE.parent
    listed = subprocess.run([sys.executable, "-m", "ruff", "check", "--show-files", "."], cwd=root,
                            capture_output=True, text=True, timeout=120, check=True).stdout
    read = {Path(line.strip()).resolve() for line in listed.splitlines() if line.strip().endswith(".py")}
    ours = {*PACKAGE.rglob("*.py"), *(root / "tests").rglob("*.py")}
    assert ours - read == set()

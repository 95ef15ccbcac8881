"""An experiment file: a hypothesis plus the values that change.

::

    name: quick                      # MLflow experiment and Optuna study name (default: file stem)
    base: {data: ..., train: ...}    # a run config (cyclegan.spec.config) shared by every cell
    factors:                         # any config key -> its levels; the full factorial is trained
      generator.norm: [instance, none]
    seeds: [0, 1]                    # every cell is trained once per seed (the unit of replication)
    hypotheses:
      - name: H2
        claim: instance normalization removes the grid
        factor: generator.norm
        levels: [instance, none]     # compare metric(levels[0]) with metric(levels[1])
        metric: eval/grid_score
        direction: lower             # predicted: levels[0] gives a lower metric than levels[1]
        threshold: 1.0               # practical threshold: metric units, or "10%" of levels[1]'s mean
      - name: H2-removes             # a bound claim on one level
        claim: with instance normalization no grid is left
        factor: generator.norm
        level: instance
        metric: eval/grid_score
        below: 1.0                   # or above:; optional where: {factor: level}, settle: false,
                                     # exploratory: true (outside the corrected family)
    correction: holm                 # the confirmatory family's correction: holm (default) or bh

A cell is one combination of factor levels and one seed; its id names the levels and carries a
hash of its identity (the resolved config without machine-local paths, plus the content of the
data index and weights file), so editing ``base`` or swapping the weights creates new cells
instead of reusing old results, while moving the data elsewhere does not.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cyclegan.names import FINAL_METRICS
from cyclegan.spec.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
    build_config,
    config_keys,
    describe_validation_error,
    set_dotted,
)
from cyclegan.spec.extends import read_extended_yaml
from cyclegan.spec.identity import identity_digest

# Final-value metrics a hypothesis may name: the per-mini-epoch losses (last value), the evaluation
# metrics of the last mini-epoch, and the convergence figures derived from the cycle-loss curve.
HYPOTHESIS_METRICS = FINAL_METRICS

_THRESHOLD = re.compile(r"^\s*\d+(\.\d+)?\s*%\s*$")
# A study's name becomes a folder under --runs-dir, an MLflow experiment and an Optuna study: letters,
# digits, '.', '_' and '-' only (no path separator, so it cannot leave the runs folder), not '.' or '..',
# and short enough that its cell folders stay far below file systems' 255-byte name limit.
STUDY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
STUDY_NAME_MAX = 64
# A cell id names a folder (runs/<study>/cells/<id>), so it must fit file systems' 255-byte name
# limit whatever its levels (deep data.root paths made every cell fail with ENAMETOOLONG). An id
# longer than CELL_ID_MAX (255 less room for a suffix such as the report's "<id>.png") has its
# levels' part shortened to CELL_SLUG_MAX characters (see _short_slug), which leaves it far below
# the limit. Only ids that long change: every id that could name a folder before is kept exactly,
# since runs already tracked are found by their cell id.
CELL_ID_MAX = 250
CELL_SLUG_MAX = 150
NULL_LEVEL = "null"  # a null level's text (YAML's), read back as None


class Hypothesis(BaseModel):
    """A comparison (``levels`` [a, b], ``direction``, ``threshold``) or a bound on one level (``level`` with
    ``below`` or ``above``). ``where`` restricts it to strata; ``settle: false`` states a fixed-budget claim
    (decided at the last mini-epoch only, without the settling rule of cyclegan.analysis.settle)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1)
    claim: str = Field(min_length=1)
    factor: str
    metric: str
    levels: tuple[str, str] | None = None
    direction: Literal["lower", "higher"] | None = None
    threshold: float | str | None = None
    level: str | None = None
    below: float | None = None
    above: float | None = None
    where: dict[str, str] = Field(default_factory=dict)
    settle: bool = True
    exploratory: bool = False  # outside the confirmatory family: decided alone, reported as exploratory
    # Prose, like `claim`: what this study's budget can and cannot show about the claim (e.g. how often
    # the effect appeared in calibration runs); printed with the verdict, not part of what is tested.
    scope: str = ""

    @property
    def is_bound(self) -> bool:
        return self.level is not None

    @field_validator("levels", mode="before")
    @classmethod
    def _levels_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in HYPOTHESIS_METRICS:
            hint = difflib.get_close_matches(value, HYPOTHESIS_METRICS, n=1)
            raise ValueError(f"unknown metric {value!r}{f'; did you mean {hint[0]!r}' if hint else ''}. Known: {', '.join(HYPOTHESIS_METRICS)}")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold_form(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str) and not _THRESHOLD.match(value):
            raise ValueError(f"threshold must be a number in metric units or a percentage like '10%', got {value!r}")
        if isinstance(value, float) and value < 0:
            raise ValueError(f"threshold must not be negative, got {value}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Hypothesis:
        if self.level is not None:  # a bound claim
            wrong = [k for k in ("levels", "direction", "threshold") if getattr(self, k) is not None]
            if wrong:
                raise ValueError(f"a bound claim (level: {self.level}) takes below: or above:, not {', '.join(wrong)}")
            if (self.below is None) == (self.above is None):
                raise ValueError("a bound claim needs exactly one of below: or above:"
                                 + (" (got both)" if self.below is not None else ""))
            return self
        wrong = [k for k in ("below", "above") if getattr(self, k) is not None]
        if wrong:
            raise ValueError(f"{' and '.join(wrong)} bound one level: add level: <the level>, and drop levels/direction/threshold")
        missing = [k for k in ("levels", "direction", "threshold") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a comparison needs {', '.join(missing)} (or state a bound claim with level: and below:/above:)")
        return self


class _StudyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str | None = None
    description: str = ""
    base: dict[str, Any] = Field(default_factory=dict)
    factors: dict[str, list[Any]]
    seeds: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)  # a run's train.seed is >= 0
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    correction: Literal["holm", "bh"] = "holm"  # the confirmatory family's: Holm (FWER) or Benjamini-Hochberg (FDR)


@dataclass(frozen=True)
class Cell:
    """One training run of the study: a level per factor and a seed."""

    cell_id: str
    levels: dict[str, str]
    seed: int
    config: RunConfig


@dataclass(frozen=True)
class Study:
    name: str
    path: Path
    description: str
    base: RunConfig
    factors: dict[str, tuple[str, ...]]
    seeds: tuple[int, ...]
    hypotheses: tuple[Hypothesis, ...]
    cells: tuple[Cell, ...]
    correction: str = "holm"  # multiplicity correction of the confirmatory hypotheses (cyclegan.analysis.family)

    def cell(self, cell_id: str) -> Cell:
        for cell in self.cells:
            if cell.cell_id == cell_id:
                return cell
        raise KeyError(f"{self.path}: no cell {cell_id!r} in study {self.name!r}")


def same_runs(study: Study) -> list[str]:
    """One line per group of cells that train the same run: their levels differ only in keys their
    configuration does not use (``generator.encoder_weights`` under ``generator.arch: resnet``), so
    their identities (:func:`cyclegan.spec.identity.identity_digest`) are equal and each is trained again."""
    groups: dict[str, list[Cell]] = {}
    for cell in study.cells:
        groups.setdefault(identity_digest(cell.config), []).append(cell)
    lines = []
    for cells in (group for group in groups.values() if len(group) > 1):
        unused = sorted(key for key in cells[0].levels if len({c.levels[key] for c in cells}) > 1)
        lines.append(f"cells {', '.join(c.cell_id for c in cells)} train the same run: they differ only in {', '.join(unused)}, "
                     "which their configuration does not use; each trains it again (a factor crossed with one that "
                     "makes it moot, e.g. generator.encoder_weights with generator.arch: resnet)")
    return lines


def level_text(value: Any) -> str:
    """Levels are compared and tagged as text: ``true``/``false`` for booleans and ``null`` for a null
    level, like YAML, so :func:`_typed` reads each back as what the file said (``str(None)`` gave
    ``None``, which the config got as the text 'None')."""
    if value is None:
        return NULL_LEVEL
    return str(value).lower() if isinstance(value, bool) else str(value)


def load_study(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> Study:
    """Read and validate an experiment file; ``overrides`` (``key=value``) apply to ``base``."""
    path = Path(path)
    tree = read_extended_yaml(path)
    # Only a list is normalised here; anything else (``hypotheses: 1``) is left for the schema to
    # refuse by name instead of failing here with a TypeError.
    hypotheses = tree.get("hypotheses")
    for hypothesis in hypotheses if isinstance(hypotheses, list) else []:
        if isinstance(hypothesis, dict) and isinstance(hypothesis.get("levels"), list):
            hypothesis["levels"] = [level_text(v) for v in hypothesis["levels"]]
        if isinstance(hypothesis, dict) and "level" in hypothesis and not isinstance(hypothesis["level"], (dict, list)):
            hypothesis["level"] = level_text(hypothesis["level"])
        if isinstance(hypothesis, dict) and isinstance(hypothesis.get("where"), dict):
            hypothesis["where"] = {str(k): level_text(v) for k, v in hypothesis["where"].items()}
    try:
        spec = _StudyFile.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, str(path), _StudyFile)) from None
    protected = {**dict.fromkeys(spec.factors, "would override a factor of the study; edit its levels in the file"),
                 # each cell's seed comes from `seeds:`: a --set train.seed would be accepted and never used
                 "train.seed": "is each cell's seed, taken from the study's seeds: list; edit seeds: in the file"}
    base_tree = apply_overrides(spec.base, overrides, source=str(path), protected=protected)
    base = build_config(base_tree, source=f"{path} (base)")
    _refuse_duplicates(path, spec)
    name = check_study_name(path, spec.name, path.stem)
    factors = _validate_factors(path, spec.factors)
    cells = tuple(_expand(path, base_tree, factors, tuple(spec.seeds)))  # first: a bad level is the root cause
    for hypothesis in spec.hypotheses:
        _validate_hypothesis(path, hypothesis, factors)
    return Study(
        name=name, path=path, description=spec.description, base=base, factors=factors,
        seeds=tuple(spec.seeds), hypotheses=tuple(spec.hypotheses), cells=cells, correction=spec.correction,
    )


def check_study_name(path: Path, given: str | None, stem: str) -> str:
    """The study's name (``name:``, else the file's stem), refused unless it is a safe folder name."""
    name = given if given is not None else stem
    key = "name" if given is not None else "name (the file's stem, as no name: is given)"
    if len(name) > STUDY_NAME_MAX:
        raise ConfigError(f"{path}: {key}: {name[:40]!r}... is {len(name)} characters; at most {STUDY_NAME_MAX}")
    if not STUDY_NAME.match(name):
        raise ConfigError(f"{path}: {key}: {name!r} is not a safe study name: use letters, digits, '.', '_' and '-' "
                          "(no '/', no '..', not starting with '.' or '-'); it names folders under --runs-dir")
    return name


def _refuse_duplicates(path: Path, spec: _StudyFile) -> None:
    """A repeated seed would train one cell twice over; two hypotheses of one name would share a figure and a tag."""
    repeated = sorted({s for s in spec.seeds if spec.seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"{path}: seeds: seed {repeated[0]} is listed more than once in {list(spec.seeds)}")
    hypothesis_names = [h.name for h in spec.hypotheses]
    twice = [n for i, n in enumerate(hypothesis_names) if n in hypothesis_names[:i]]
    if twice:
        raise ConfigError(f"{path}: hypotheses: two hypotheses are named {twice[0]!r}; give each its own name")


def _validate_factors(path: Path, factors: dict[str, list[Any]]) -> dict[str, tuple[str, ...]]:
    if not factors:
        raise ConfigError(f"{path}: factors: empty matrix; declare at least one factor with its levels")
    known = config_keys()
    out = {}
    for key, levels in factors.items():
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            raise ConfigError(f"{path}: factors.{key}: not a config key{f'; did you mean {hint[0]!r}' if hint else ''}")
        if key == "train.seed":
            raise ConfigError(f"{path}: factors.train.seed: seeds are replications, declare them under 'seeds:'")
        texts = tuple(level_text(v) for v in levels)
        if not texts:
            raise ConfigError(f"{path}: factors.{key}: no levels")
        if len(set(texts)) != len(texts):
            raise ConfigError(f"{path}: factors.{key}: repeated level in {list(texts)}")
        out[key] = texts
    return out


def _validate_hypothesis(path: Path, hypothesis: Hypothesis, factors: dict[str, tuple[str, ...]]) -> None:
    where = f"{path}: hypothesis {hypothesis.name!r}"
    if hypothesis.factor not in factors:
        raise ConfigError(f"{where}: factor {hypothesis.factor!r} is not a factor of this study ({', '.join(factors)})")
    key = "level" if hypothesis.is_bound else "levels"
    for level in (hypothesis.level,) if hypothesis.is_bound else hypothesis.levels:
        if level not in factors[hypothesis.factor]:
            raise ConfigError(f"{where}: {key}: level {level!r} is not a level of {hypothesis.factor} ({', '.join(factors[hypothesis.factor])})")
    if not hypothesis.is_bound and hypothesis.levels[0] == hypothesis.levels[1]:
        raise ConfigError(f"{where}: compares level {hypothesis.levels[0]!r} with itself")
    for factor, level in hypothesis.where.items():
        if factor == hypothesis.factor:
            raise ConfigError(f"{where}: where.{factor}: restricts the hypothesis's own factor; name other factors only")
        if factor not in factors:
            raise ConfigError(f"{where}: where.{factor}: not a factor of this study ({', '.join(factors)})")
        if level not in factors[factor]:
            raise ConfigError(f"{where}: where.{factor}: level {level!r} is not a level of {factor} ({', '.join(factors[factor])})")


def _expand(path: Path, base_tree: dict[str, Any], factors: dict[str, tuple[str, ...]], seeds: tuple[int, ...]):
    raw_levels = {key: levels for key, levels in factors.items()}
    for combination in itertools.product(*raw_levels.values()):
        levels = dict(zip(raw_levels, combination, strict=True))
        for seed in seeds:
            tree = base_tree
            for key, value in levels.items():
                tree = set_dotted(tree, key, _typed(value))
            tree = set_dotted(tree, "train.seed", seed)
            slug = "-".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in levels.items())
            try:
                config = build_config(tree, source=f"{path} cell {slug} seed={seed}")
            except ConfigError as err:
                raise ConfigError(f"{err}\n  (a level of factors: {', '.join(f'{k}={v}' for k, v in levels.items())})") from None
            # Content identity, not paths: see cyclegan.spec.identity.
            yield Cell(cell_id=_cell_id(levels, seed, identity_digest(config)), levels=levels, seed=seed, config=config)


def _cell_id(levels: dict[str, str], seed: int, digest: str) -> str:
    """``norm=none-output=patch-seed=0-1a2b3c4d``: the levels, the seed and the identity digest."""
    parts = [(key.rsplit(".", 1)[-1], _safe(value)) for key, value in levels.items()]
    cell_id = f"{'-'.join(f'{key}={value}' for key, value in parts)}-seed={seed}-{digest}"
    return cell_id if len(cell_id) <= CELL_ID_MAX else f"{_short_slug(parts)}-seed={seed}-{digest}"


def _short_slug(parts: list[tuple[str, str]]) -> str:
    """The levels' part of a too long cell id in at most CELL_SLUG_MAX characters.

    The longest level texts are cut in the middle to ``head..tail`` (the end of a path,
    ``.../monet2photo_b``, is what usually tells levels apart), and a digest of the full text is
    appended. That digest, not the identity digest, keeps the ids apart: the identity leaves out
    where the data lives, so two data.root levels holding the same files share an identity."""
    import hashlib

    full = "-".join(f"{key}={value}" for key, value in parts)
    digest = hashlib.sha1(full.encode()).hexdigest()[:8]
    budget = CELL_SLUG_MAX - len(digest) - 1 - sum(len(key) + 2 for key, _ in parts)  # "key=" and "-" each
    # The longest width w at which the values, each cut to at most w, fit the budget.
    width = max((w for w in range(8, max(len(v) for _, v in parts) + 1) if sum(min(len(v), w) for _, v in parts) <= budget),
                default=0)
    if width == 0:  # too many factors to keep 8 characters of each value: the whole text is cut at its end
        return f"{full[:CELL_SLUG_MAX - len(digest) - 1]}-{digest}"
    return "-".join(f"{key}={_cut(value, width)}" for key, value in parts) + f"-{digest}"


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: its start, ``..``, and a longer end."""
    if len(text) <= width:
        return text
    head = (width - 2) // 3
    return f"{text[:head]}..{text[len(text) - (width - 2 - head):]}"


def _typed(level: str) -> Any:
    """Levels are kept as text for tags; the config gets them back typed (``none`` stays a word,
    ``null`` is a null level: see level_text)."""
    import yaml

    if level == NULL_LEVEL:
        return None
    value = yaml.safe_load(level)
    return level if value is None else value


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9=._-]+", "_", text.replace("/", "_"))

"""A tuning file: a base run config, a search space over config keys, and the objective.

::

    name: tune                          # MLflow experiment, Optuna study and runs/<name>/ (default: file stem)
    base: {data: ..., train: ...}       # a run config (cyclegan.spec.config) shared by every trial
    search_space:                       # any config key -> a distribution
      optimizer.lr_generator: {type: float, low: 5.0e-5, high: 1.0e-3, log: true}
      discriminator.base_filters: {type: int, low: 16, high: 64, step: 16}
      loss.adversarial: {type: categorical, choices: [bce, lsgan]}
    objective:                          # computed from every evaluated mini-epoch's metrics
      metric: eval/swd
      direction: minimize
      penalties:                        # each adds weight x max(0, value - above) in the worse direction
        - {metric: eval/grid_score, weight: 50, above: 1.0}
    trials: 20                          # trials one invocation ADDS to the study (--trials overrides)
    sampler: {seed: 0, startup_trials: 6}
    pruner: {type: median, startup_trials: 3, warmup_mini_epochs: 2, prune_collapsed: true}

The objective is a structure, not an expression, so a typo is a validation error naming the key
instead of a crash in the middle of a study. Every bound and choice is checked against the run
config's own schema before anything trains.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cyclegan.names import CONVERGENCE_METRICS, MINI_EPOCH_METRICS, TUNE_OBJECTIVE
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

# The objective is reported after every mini-epoch, so it may only use names that a mini-epoch's
# record carries; the convergence figures exist only once a run has ended.
_INT_VALUES_CHECKED = 256  # an int range this small has each value checked against the config schema

OBJECTIVE_METRIC = TUNE_OBJECTIVE  # the value Optuna optimises, logged per mini-epoch


class _Lax(BaseModel):
    # Not strict: PyYAML reads ``5e-5`` (no dot) as text, and anybody writing it means a number.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatRange(_Lax):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> FloatRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        return self

    def bounds(self) -> list[Any]:
        return [self.low, self.high]

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)


class IntRange(_Lax):
    type: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> IntRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and (self.low < 1 or self.step != 1):
            raise ValueError("log: true needs low >= 1 and step 1")
        if (self.high - self.low) % self.step:
            raise ValueError(f"high - low ({self.high - self.low}) must be a multiple of step ({self.step})")
        return self

    def bounds(self) -> list[Any]:
        values = range(self.low, self.high + 1, self.step)
        return list(values) if len(values) <= _INT_VALUES_CHECKED else [self.low, self.high]

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)


class Choice(_Lax):
    type: Literal["categorical"]
    choices: tuple[Any, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> Choice:
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise ValueError(f"repeated choice in {list(self.choices)}")
        return self

    def bounds(self) -> list[Any]:
        return list(self.choices)

    def suggest(self, trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))


Distribution = FloatRange | IntRange | Choice
_DISTRIBUTIONS: dict[str, type[Distribution]] = {"float": FloatRange, "int": IntRange, "categorical": Choice}


class Penalty(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    metric: str
    weight: float = Field(gt=0)
    above: float | None = None
    """Only the excess over this value is penalised (None: the whole value)."""


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    metric: str
    direction: Literal["minimize", "maximize"]
    penalties: list[Penalty] = Field(default_factory=list)

    def metrics(self) -> tuple[str, ...]:
        return (self.metric, *(p.metric for p in self.penalties))

    def describe(self) -> str:
        """``minimize eval/swd + 50 x max(0, eval/grid_score - 1.0)``."""
        sign = "+" if self.direction == "minimize" else "-"
        terms = [self.metric]
        for p in self.penalties:
            value = p.metric if p.above is None else f"max(0, {p.metric} - {p.above:g})"
            terms.append(f"{sign} {p.weight:g} x {value}")
        return f"{self.direction} {' '.join(terms)}"


class SamplerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    seed: int = Field(0, ge=0)
    """Seeds Optuna's TPE sampler (combined with the trial count and worker index, so a continued
    study or a second worker does not replay the same random start)."""
    startup_trials: int = Field(6, ge=1)
    """Trials sampled at random before TPE models the results."""


class PrunerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: Literal["median", "none"] = "median"
    """``median``: stop a trial whose objective is worse than the median of complete trials at the
    same mini-epoch. ``none``: only the collapse and non-finite rules below."""
    startup_trials: int = Field(3, ge=0)
    """Complete trials the median rule needs before it judges anything."""
    warmup_mini_epochs: int = Field(2, ge=0)
    """Mini-epochs 1..N are never judged by the median or the collapse rule: a freshly initialised
    generator emits near-constant images, which the collapse indicator rightly flags."""
    prune_collapsed: bool = True
    """Stop a trial at once when ``eval/collapsed`` is 1 after the warm-up."""


class _TuneFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str | None = None
    description: str = ""
    base: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, dict[str, Any]] = Field(min_length=1)
    objective: Objective
    trials: int = Field(20, ge=1)
    sampler: SamplerSettings = SamplerSettings()
    pruner: PrunerSettings = PrunerSettings()


@dataclass(frozen=True)
class TuneSpec:
    name: str
    path: Path
    description: str
    base: RunConfig
    base_tree: dict[str, Any]
    space: dict[str, Distribution]
    objective: Objective
    trials: int
    sampler: SamplerSettings
    pruner: PrunerSettings

    def trial_config(self, params: dict[str, Any]) -> RunConfig:
        """The base config with a trial's values (``{"loss.lambda_cycle": 7.5, ...}``) set."""
        tree = self.base_tree
        for key, value in params.items():
            tree = set_dotted(tree, key, value)
        return build_config(tree, source=f"{self.path} trial {params}")


def load_tune_spec(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> TuneSpec:
    """Read and validate a tuning file; ``overrides`` (``key=value``) apply to ``base``."""
    path = Path(path)
    try:
        spec = _TuneFile.model_validate(read_extended_yaml(path))
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, str(path), _TuneFile)) from None
    from cyclegan.spec.study import check_study_name  # the one rule for names that become folders

    name = check_study_name(path, spec.name, path.stem)
    base_tree = apply_overrides(spec.base, overrides, source=str(path),
                                protected=dict.fromkeys(spec.search_space, "is searched by the tuner; change its range in search_space instead"))
    base = build_config(base_tree, source=f"{path} (base)")
    space = {key: _parse_distribution(path, key, raw, base_tree) for key, raw in spec.search_space.items()}
    for where, metric in [("objective.metric", spec.objective.metric),
                          *((f"objective.penalties[{i}].metric", p.metric) for i, p in enumerate(spec.objective.penalties))]:
        _check_metric(path, where, metric)
    return TuneSpec(name=name, path=path, description=spec.description, base=base, base_tree=base_tree, space=space,
                    objective=spec.objective, trials=spec.trials, sampler=spec.sampler, pruner=spec.pruner)


def _parse_distribution(path: Path, key: str, raw: dict[str, Any], base_tree: dict[str, Any]) -> Distribution:
    where = f"{path}: search_space.{key}"
    known = config_keys()
    if key not in known:
        hint = difflib.get_close_matches(key, known, n=1)
        raise ConfigError(f"{where}: not a config key{f'; did you mean {hint[0]!r}' if hint else ''}")
    if key == "train.seed":
        raise ConfigError(f"{where}: the seed is a replication, not a hyper-parameter; trials share base train.seed")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _DISTRIBUTIONS:  # a list or mapping is not hashable: test the type first
        raise ConfigError(f"{where}.type: unknown distribution {kind!r}; use one of {', '.join(_DISTRIBUTIONS)}")
    model = _DISTRIBUTIONS[kind]
    try:
        distribution = model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, where, model)) from None
    typed = []
    for value in distribution.bounds():  # the config's own schema decides (types, ranges, levels)
        try:
            typed.append(build_config(set_dotted(base_tree, key, value), source=f"{where} = {value!r}").flat()[key])
        except ConfigError as err:
            raise ConfigError(f"{err}\n  (a value of search_space.{key}, type {kind})") from None
    if isinstance(distribution, Choice):  # store the values typed as the config reads them
        distribution = Choice(type="categorical", choices=tuple(typed))
    return distribution


def _check_metric(path: Path, where: str, metric: str) -> None:
    if metric in MINI_EPOCH_METRICS:
        return
    if metric in CONVERGENCE_METRICS:
        raise ConfigError(f"{path}: {where}: {metric!r} exists only when a run has ended; the objective is "
                          f"reported every mini-epoch, so use a loss/, acc/ or eval/ metric")
    hint = difflib.get_close_matches(metric, MINI_EPOCH_METRICS, n=1)
    raise ConfigError(f"{path}: {where}: unknown metric {metric!r}{f'; did you mean {hint[0]!r}' if hint else ''}. "
                      f"Known: {', '.join(MINI_EPOCH_METRICS)}")


def objective_value(objective: Objective, metrics: dict[str, float]) -> float | None:
    """The objective of one mini-epoch's metrics: None when a name is missing (a mini-epoch
    without evaluation), NaN when any value it uses is not finite."""
    if any(name not in metrics for name in objective.metrics()):
        return None
    values = {name: float(metrics[name]) for name in objective.metrics()}
    if not all(math.isfinite(v) for v in values.values()):
        return math.nan  # explicit: max(0, nan) would quietly drop a NaN penalty
    worse = 1.0 if objective.direction == "minimize" else -1.0
    total = values[objective.metric]
    for penalty in objective.penalties:
        value = values[penalty.metric]
        total += worse * penalty.weight * (value if penalty.above is None else max(0.0, value - penalty.above))
    return total


def nested(params: dict[str, Any]) -> dict[str, Any]:
    """``{"loss.lambda_cycle": 7.5}`` -> ``{"loss": {"lambda_cycle": 7.5}}``: a config tree."""
    tree: dict[str, Any] = {}
    for key, value in sorted(params.items()):
        tree = set_dotted(tree, key, value)
    return tree


def set_options(params: dict[str, Any]) -> list[str]:
    """The same values as ``--set key=value`` arguments (floats round-trip through ``repr``)."""
    return [f"--set {key}={_cli_text(value)}" for key, value in sorted(params.items())]


def _cli_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)

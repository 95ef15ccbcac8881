"""What a tuning study found: the best trial as a ready-to-use override file, importances, and
the summary printed and logged to the study's MLflow parent run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from cyclegan.atomic import atomic_write_text
from cyclegan.runs.tracking import Tracker
from cyclegan.spec.tune_space import OBJECTIVE_METRIC, TuneSpec, nested, set_options


@dataclass(frozen=True)
class TuneSummary:
    """What the whole study found so far (every invocation's and worker's trials)."""

    study: str
    objective: str
    states: dict[str, int]
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    importances: dict[str, float] | None
    importance_note: str
    files: tuple[Path, ...]

    def text(self) -> str:
        counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(self.states.items()))
        lines = [f"tune {self.study}: {sum(self.states.values())} trials ({counts})", f"objective: {self.objective}"]
        if self.best_number is None:
            lines.append("no complete trial yet: nothing to recommend")
        else:
            lines.append(f"best trial {self.best_number}: {OBJECTIVE_METRIC} = {self.best_value:.6g}")
            lines += [f"  {key} = {value!r}" for key, value in sorted(self.best_params.items())]
            lines.append("as options: " + " ".join(set_options(self.best_params)))
        if self.importances:
            lines.append(f"parameter importances ({self.importance_note}):")
            lines += [f"  {key:34s} {value:.3f}" for key, value in self.importances.items()]
        else:
            lines.append(f"parameter importances: {self.importance_note}")
        if self.states.get("WAITING") or self.states.get("RUNNING"):
            lines.append("waiting/running trials (retries of dead or interrupted ones) are trained by the next `cyclegan tune`")
        return "\n".join(lines + [f"wrote {path}" for path in self.files])

    def log_to(self, tracker: Tracker, parent_id: str) -> None:
        """The summary on the study's parent run: tags, metrics and the written files."""
        tags = {"objective": self.objective, "trials": str(sum(self.states.values()))}
        metrics = {f"importance/{key}": value for key, value in (self.importances or {}).items()}
        if self.best_number is not None:
            tags.update(best_trial=str(self.best_number), best_value=f"{self.best_value:.6g}")
            metrics["tune/best_objective"] = self.best_value
        tracker.set_tags(parent_id, tags)
        tracker.log_metrics(parent_id, metrics, step=sum(self.states.values()))
        tracker.log_artifacts(parent_id, [(path, None) for path in self.files])


def summarize(study: optuna.Study, spec: TuneSpec, out_dir: Path) -> TuneSummary:
    """Write trials.csv, best_overrides.yaml, best_config.yaml and summary.txt to ``out_dir``."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "trials.csv"]
    atomic_write_text(files[0], study.trials_dataframe().to_csv(index=False))
    best = study.best_trial if complete else None
    if best is not None:
        files += [out_dir / "best_overrides.yaml", out_dir / "best_config.yaml"]
        header = (f"# Best trial {best.number} of tuning study {spec.name!r} ({spec.path}): {OBJECTIVE_METRIC} = {best.value:.6g}\n"
                  f"# ({spec.objective.describe()}). Merge this tree into the study's base config, or pass it as options:\n"
                  f"#   {' '.join(set_options(best.params))}\n"
                  f"# The merged, complete config is best_config.yaml beside this file (cyclegan train {files[2]}).\n")
        atomic_write_text(files[1], header + yaml.safe_dump(nested(best.params), sort_keys=True))
        atomic_write_text(files[2], spec.trial_config(best.params).to_yaml())
    importances, note = _importances(study, len(complete))
    summary = TuneSummary(spec.name, spec.objective.describe(), dict(Counter(t.state.name for t in trials)),
                          best.number if best else None, best.value if best else None, dict(best.params) if best else {},
                          importances, note, (*files, out_dir / "summary.txt"))
    atomic_write_text(out_dir / "summary.txt", summary.text() + "\n")
    return summary


def _importances(study: optuna.Study, n_complete: int) -> tuple[dict[str, float] | None, str]:
    if n_complete < 2:
        return None, f"not computed: they need at least 2 complete trials, the study has {n_complete}"
    try:
        importances = optuna.importance.get_param_importances(study)
    except Exception as err:  # e.g. every complete trial has the same values: a summary must not crash
        return None, f"not computable: {type(err).__name__}: {err}"
    return {k: float(v) for k, v in importances.items()}, f"Optuna's default evaluator over {n_complete} complete trials"

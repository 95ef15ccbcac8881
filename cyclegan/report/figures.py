"""The report's pictures (matplotlib, object API on the Agg canvas; no pyplot global state).

- ``samples/<cell>.png``: each run's final sample grid (rows: photos, G(photos), paintings, F(paintings)),
  copied losslessly;
- ``spectra.png``: per factor-level combination, the mean log power spectrum of the held-out inputs,
  of the generator outputs (all finished seeds pooled) and their difference, where grid peaks show;
- ``curves.png``: cycle loss and grid score per mini-epoch, seeds thin, the seed mean thick;
- ``evidence.png``: per hypothesis, every finished run's value at the two levels, per stratum;
- ``effect_<hypothesis>.png``: the hypothesis's statistic at every evaluated mini-epoch with its CI band,
  the threshold (or bound) and zero lines, and where the settling window starts.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from cyclegan.analysis.rules import LEVEL_LABEL
from cyclegan.analysis.settle import window
from cyclegan.analysis.stats import rows_at
from cyclegan.metrics.folders import load_folder, read_image
from cyclegan.metrics.grid import mean_log_spectrum
from cyclegan.names import ARTIFACT_EVAL_OUTPUTS, IMAGE_SUFFIXES, SAMPLE_GRID_GLOB, SAMPLES_ARTIFACT
from cyclegan.report.model import Report, combinations
from cyclegan.runs.reader import RunReader, local_run
from cyclegan.spec.study import Study

DPI = 110


@dataclass(frozen=True)
class FigureFile:
    kind: str  # "sample" | "spectra" | "curves" | "evidence"
    file: str  # relative to the report's folder, POSIX separators
    title: str
    caption: str = ""  # for "sample": empty, or why the run did not finish
    levels: dict = field(default_factory=dict)  # for "sample": the cell's factor levels
    seed: int | None = None


def label(levels: dict) -> str:
    """``generator.norm=instance, discriminator.output=patch`` -> ``norm=instance, output=patch``."""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in levels.items())


def make_figures(report: Report, artifacts: RunArtifacts, out_dir: Path) -> list[FigureFile]:
    """Write every figure into ``out_dir``; a figure without data is skipped, never an error."""
    figures = _samples(report, artifacts, out_dir)
    figures += _effects(report, out_dir)
    for make in (_spectra, _curves, _evidence):
        made = make(report, artifacts, out_dir) if make is _spectra else make(report, out_dir)
        if made is not None:
            figures.append(made)
    return figures


_VERDICT_COLOURS = {"confirmed": "#1a7f37", "refuted": "#cf222e", "heterogeneous": "#8250df"}


def _effects(report: Report, out_dir: Path) -> list[FigureFile]:
    """One figure per hypothesis with a trajectory: statistic vs mini-epoch, CI band, threshold and zero lines."""
    out = []
    for v in report.verdicts:
        points = list(v.trajectory)
        if not points:
            continue
        x = np.array([p.mini_epoch for p in points], dtype=float)
        y, lo, hi = (np.array([getattr(p, k) for p in points], dtype=float) for k in ("statistic", "ci_low", "ci_high"))
        fig = Figure(figsize=(5.6, 3.6), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        ax.fill_between(x, lo, hi, color="C0", alpha=0.2, lw=0,
                        label=f"one-sided {LEVEL_LABEL} bounds" if v.kind == "bound" else f"{LEVEL_LABEL} CI")
        ax.plot(x, y, color="C0", lw=2, marker="o", ms=3,
                label=f"mean at {v.levels[0]}" if v.kind == "bound" else f"{v.levels[0]} − {v.levels[1]}")
        for px, py, p in zip(x, y, points, strict=True):
            ax.plot(px, py, "o", ms=5, color=_VERDICT_COLOURS.get(p.verdict, "#9a6700"))
        if v.kind == "bound":
            ax.axhline(v.threshold, color="#cf222e", ls="--", lw=1.2, label=f"bound ({v.direction} {v.threshold:.3g})")
        else:
            ax.axhline(0.0, color="black", lw=0.8)
            sign = -1.0 if v.direction == "lower" else 1.0
            ax.axhline(sign * v.threshold, color="#cf222e", ls="--", lw=1.2, label=f"threshold ({sign * v.threshold:+.3g})")
            ax.axhline(-sign * v.threshold, color="#cf222e", ls=":", lw=0.8)
        k = window(len(points))
        if len(points) >= k:
            ax.axvspan(x[-k] - 0.5, x[-1] + 0.5, color="grey", alpha=0.12, lw=0, label=f"settling window (last {k})")
        ax.set_xlabel("mini-epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(v.metric if v.kind == "bound" else f"difference in {v.metric}")
        ax.set_title(f"{v.name}: {v.label}" + (f" (since mini-epoch {v.since})" if v.since and v.settled else ""),
                     fontsize=10, color=_VERDICT_COLOURS.get(v.verdict, "#9a6700"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        rel = f"effect_{_safe(v.name)}.png"
        fig.savefig(out_dir / rel)
        out.append(FigureFile("effect", rel, f"{v.name} over training",
                              "Dots: the verdict at that mini-epoch (green confirmed, red refuted, purple heterogeneous, "
                              "amber inconclusive); the shaded strip is the settling window."))
    return out


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9=._-]+", "_", text)


def _samples(report: Report, artifacts: RunArtifacts, out_dir: Path) -> list[FigureFile]:
    out = []
    for run in report.runs.to_dict("records"):
        grid = artifacts.sample_grid(run)
        if grid is None:
            continue
        rel = f"samples/{_safe(run['cell'])}.png"
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
        with Image.open(grid) as image:  # re-encoded: always a PNG, whatever the store held
            image.convert("RGB").save(out_dir / rel, format="PNG")
        levels = {f: run[f] for f in report.factors}
        status = "" if run["status"] == "FINISHED" else f"{run['status']}: last grid before it stopped"
        out.append(FigureFile("sample", rel, f"{label(levels)}, seed {run['seed']}", status, levels, int(run["seed"])))
    return out


def _groups(report: Report):
    """(levels, finished runs as dicts) per factor-level combination that has finished runs."""
    finished = report.finished.to_dict("records")
    for levels in combinations(report.study):
        runs = [r for r in finished if all(str(r[k]) == v for k, v in levels.items())]
        if runs:
            yield levels, runs


def _spectra(report: Report, artifacts: RunArtifacts, out_dir: Path) -> FigureFile | None:
    rows = []
    for levels, runs in _groups(report):
        outputs, inputs = [], None
        for run in runs:
            folder = artifacts.eval_outputs(run)
            if folder is None:
                continue
            names, images = load_folder(folder)
            if outputs and images.shape[1:] != outputs[0].shape[1:]:
                continue
            outputs.append(images)
            if inputs is None:
                paths = artifacts.eval_inputs(run, [Path(n).stem for n in names])
                if paths is not None:
                    inputs = np.stack([read_image(p, images.shape[1:3]) for p in paths])
        if outputs:
            out_spec = mean_log_spectrum(np.concatenate(outputs))
            rows.append((levels, len(outputs), out_spec, None if inputs is None else mean_log_spectrum(inputs)))
    if not rows:
        return None
    fig = Figure(figsize=(9.6, 3.0 * len(rows)), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(rows), 3, squeeze=False)
    for ax_row, (levels, n, out_spec, in_spec) in zip(axes, rows, strict=True):
        both = out_spec if in_spec is None else np.concatenate([out_spec.ravel(), in_spec.ravel()])
        lo, hi = np.percentile(both, [1, 99.8])
        score = report.cells
        for ax, spec, title in ((ax_row[0], in_spec, "inputs (held-out photos)"),
                                (ax_row[1], out_spec, f"outputs ({n} seed{'s' if n > 1 else ''})")):
            if spec is None:
                ax.text(0.5, 0.5, "input photos not found\n(data.root not readable here)", ha="center", va="center")
            else:
                im = ax.imshow(spec, cmap="magma", vmin=lo, vmax=hi)
            ax.set_title(title, fontsize=9)
        if in_spec is not None:
            diff = out_spec - in_spec
            lim = float(np.percentile(np.abs(diff), 99.8)) or 1.0
            dm = ax_row[2].imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim)
            fig.colorbar(dm, ax=ax_row[2], shrink=0.8, label="nats")
        ax_row[2].set_title("outputs - inputs (peaks = grid)", fontsize=9)
        fig.colorbar(im, ax=ax_row[1], shrink=0.8, label="ln power")
        match = score.loc[np.logical_and.reduce([score[k] == v for k, v in levels.items()])]
        grid = match["eval/grid_score_mean"].iloc[0] if len(match) else float("nan")
        # One factor per line: a row is ~3 inches tall, too short for all levels on one line.
        ax_row[0].set_ylabel(label(levels).replace(", ", "\n") + f"\ngrid score {grid:.3g} nats", fontsize=9)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Mean log power spectrum (luma, DC at the centre)", fontsize=11)
    fig.savefig(out_dir / "spectra.png")
    return FigureFile("spectra", "spectra.png", "Power spectra of inputs and outputs",
                      "Per combination: the held-out input photos, the final outputs of its finished seeds pooled, "
                      "and their difference; a grid artifact shows as bright points on a regular lattice.")


def _curves(report: Report, out_dir: Path) -> FigureFile | None:
    groups = list(_groups(report))
    has = {k: any(report.histories.get(r["run_id"], pd.DataFrame()).get(k) is not None
                  and report.histories[r["run_id"]][k].notna().any() for _, runs in groups for r in runs)
           for k in ("loss/cycle", "eval/grid_score", "eval/kid")}
    keys = ("loss/cycle", "eval/grid_score", *(("eval/kid",) if has["eval/kid"] else ()))  # KID: when evaluated
    if not any(has.values()):
        return None
    fig = Figure(figsize=(5.5 * len(keys), 4.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(keys))
    colors = [f"C{i % 10}" for i in range(len(groups))]
    for ax, key in zip(axes, keys, strict=True):
        for color, (levels, runs) in zip(colors, groups, strict=True):
            curves = [report.histories[r["run_id"]][key].dropna() for r in runs if key in report.histories[r["run_id"]]]
            curves = [c for c in curves if len(c)]
            for c in curves:
                ax.plot(c.index, c.values, color=color, lw=0.8, alpha=0.45)
            if curves:
                mean = pd.concat(curves, axis=1).mean(axis=1)
                ax.plot(mean.index, mean.values, color=color, lw=2.4, label=f"{label(levels)} (n={len(curves)})")
        ax.set_xlabel("mini-epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.set_title(key, fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        longest = max(len(t) for t in labels)
        fig.legend(handles, labels, loc="outside lower center", ncols=max(1, min(len(handles), 150 // (longest + 6), 4)),
                   fontsize=8)
    fig.savefig(out_dir / "curves.png")
    return FigureFile("curves", "curves.png", "Learning curves",
                      "Finished runs; thin lines are seeds, the thick line is the seed mean of each combination.")


def _evidence(report: Report, out_dir: Path) -> FigureFile | None:
    hyps = [(h, v) for h, v in zip(report.study.hypotheses, report.verdicts, strict=True)]
    finished = report.finished
    if not hyps or finished.empty:
        return None
    fig = Figure(figsize=(4.6 * len(hyps), 5.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(hyps), squeeze=False)[0]
    for ax, (h, v) in zip(axes, hyps, strict=True):
        others = [f for f in report.factors if f != h.factor]
        levels = h.levels if h.levels is not None else (h.level,)
        sub = rows_at(finished[finished[h.factor].isin(levels) & finished[h.metric].notna()], h.where)
        strata = sub.groupby(others, sort=True) if others else [((), sub)]
        for i, (key, g) in enumerate(strata):
            color, offset = f"C{i % 10}", (i - 0.5 * (len(strata) - 1)) * 0.06
            means = [g.loc[g[h.factor] == lv, h.metric].mean() for lv in levels]
            for x, lv in enumerate(levels):
                y = g.loc[g[h.factor] == lv, h.metric].to_numpy(float)
                ax.scatter(np.full(len(y), x + offset), y, color=color, s=22, alpha=0.8)
            key = key if isinstance(key, tuple) else (key,)
            ax.plot([offset + x for x in range(len(levels))], means, color=color, lw=1.5, marker="_" if len(levels) == 1 else None,
                    ms=14, label=label(dict(zip(others, key, strict=True))) if others else "all runs")
        ax.set_xticks(range(len(levels)), [f"{h.factor.rsplit('.', 1)[-1]}={lv}" for lv in levels])
        ax.set_xlim(-0.5, len(levels) - 0.5)
        ax.set_ylabel(h.metric)
        colour = {"confirmed": "#1a7f37", "refuted": "#cf222e", "heterogeneous": "#8250df"}.get(v.verdict, "#9a6700")
        if v.kind == "bound":
            ax.axhline(v.threshold, color="#cf222e", ls="--", lw=1.2)
            ax.set_title(f"{h.name}: {v.label} (claimed {v.direction} {v.threshold:.3g})\n"
                         f"mean {v.difference:.3g}, one-sided {LEVEL_LABEL} [{v.ci_low:.3g}, {v.ci_high:.3g}]", fontsize=9, color=colour)
        else:
            ax.set_title(f"{h.name}: {v.label} (predicted {h.levels[0]} {h.direction})\n"
                         f"diff {v.difference:.3g} [{v.ci_low:.3g}, {v.ci_high:.3g}], g {v.hedges_g:.2g}, p {v.p_value:.2g}",
                         fontsize=9, color=colour)
        ax.grid(alpha=0.3)
        if others and ax.get_legend_handles_labels()[1]:  # a metric no run logged draws no stratum
            ax.legend(fontsize=7, title="stratum (other factors)", title_fontsize=7, loc="upper center",
                      bbox_to_anchor=(0.5, -0.1), ncols=1 if len(strata) > 4 else 2)
    fig.savefig(out_dir / "evidence.png")
    return FigureFile("evidence", "evidence.png", "Evidence per hypothesis",
                      "Every finished run (dots) at the compared levels (one level for a bound claim, dashed: the bound); "
                      "lines join the stratum means.")


class RunArtifacts:
    """A run's files (``run``: a row of ``Report.runs`` as a dict or Series): from MLflow first, else
    from its local run directory; downloads go to ``work``."""

    def __init__(self, tracker: RunReader, study: Study, runs_dir: Path, work: Path):
        self.tracker, self.study, self.runs_dir, self.work = tracker, study, runs_dir, work

    def local_run(self, run):
        """The cell's run folder (a ``RunDir``) in this machine's runs directory (it may be absent)."""
        return local_run(self.runs_dir, self.study.name, str(run["cell"]))

    def sample_grid(self, run) -> Path | None:
        """The last sample grid PNG: the run's ``samples/mini_epoch_<k>.png`` artifact with the highest
        ``k`` (names the project chooses, :func:`cyclegan.names.sample_grid_name`), else the local run folder's."""
        logged = sorted(p for p in self.tracker.list_artifacts(run["run_id"], SAMPLES_ARTIFACT)
                        if fnmatch.fnmatch(Path(p).name, SAMPLE_GRID_GLOB))
        if logged:  # zero-padded mini-epochs: the name order is the step order
            path = self.tracker.download_artifact(run["run_id"], logged[-1], self.work / run["run_id"] / "grid")
            if path is not None:
                return path
        local = sorted(self.local_run(run).samples.glob(SAMPLE_GRID_GLOB))
        return local[-1] if local else None

    def eval_outputs(self, run) -> Path | None:
        """Folder of the final translations of the held-out photos (PNG)."""
        path = self.tracker.download_artifact(run["run_id"], ARTIFACT_EVAL_OUTPUTS, self.work / run["run_id"] / "eval")
        if path is not None and any(path.glob("*.png")):
            return path
        local = self.local_run(run).eval_outputs
        return local if any(local.glob("*.png")) else None

    def data_root(self, run) -> Path | None:
        """``data.root`` of the run (params, else the local config.yaml), resolved against the cwd or the study file."""
        root = run.get("params.data.root")
        root = root if isinstance(root, str) and root else None
        config = self.local_run(run).config_file
        if root is None and config.exists():
            root = (yaml.safe_load(config.read_text()) or {}).get("data", {}).get("root")
        if not root:
            return None
        for base in (Path.cwd(), self.study.path.parent, self.study.path.parent.parent):
            candidate = Path(root) if Path(root).is_absolute() else base / root
            if (candidate / "photo").is_dir():
                return candidate
        return None

    def eval_inputs(self, run, stems: list[str]) -> list[Path] | None:
        """The input photos of the eval outputs (same stems, under ``<data.root>/photo/``); None if any is missing."""
        root = self.data_root(run)
        if root is None:
            return None
        by_stem = {p.stem: p for p in (root / "photo").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
        paths = [by_stem.get(s) for s in stems]
        return None if any(p is None for p in paths) else paths

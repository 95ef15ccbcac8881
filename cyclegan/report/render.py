"""Writing the report: Markdown, HTML (one file, figures referenced beside it) and a terminal summary.

Every text that leaves this module goes through ``cyclegan.masking.mask``: a URI with a password anywhere in it (a
tracking server, a failure reason quoting a database URL) is masked.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from pathlib import Path

import pandas as pd

from cyclegan.analysis.rules import ALPHA, LEVEL, LEVEL_LABEL, MIN_G
from cyclegan.analysis.settle import SHARE
from cyclegan.analysis.verdict import strata_by_outcome
from cyclegan.masking import mask
from cyclegan.metrics.collapse import COLLAPSE_KIND_NAMES
from cyclegan.names import OUTSIDE_SHARE, RUN_SECONDS
from cyclegan.report.figures import FigureFile, label
from cyclegan.report.model import KEY_METRICS, QUALITY_SHOWN, TABLE_METRICS, Report, combinations

FORMATS = ("md", "html")
_SHORT = {"eval/grid_score": "grid", "eval/edge_sigma": "edge_sigma", "eval/edge_f1": "edge_f1",
          "eval/contrast_ratio": "contrast", "eval/collapsed": "collapsed", "eval/swd": "swd",
          "convergence/cycle_auc": "cycle_auc", "eval/input_identifiability": "ident", "eval/shared_texture": "shared_tex",
          "eval/collapse_kind": "collapse_kind", "convergence/cycle_epochs_to_half": "epochs_to_half",
          "eval/kid": "kid", "eval/fid": "fid", "eval/precision": "precision", "eval/recall": "recall",
          "convergence/kid_epochs_to_margin": "kid_epochs"}
SAMPLES_NOTE = "Each grid, top to bottom: held-out photos, G(photo) (photo -> Monet), paintings, F(painting)."
INTERACTIONS_NOTE = ("Means of the finished runs per pair of two-level factors, for each hypothesis metric (grid score when "
                     "none is declared). Contrast = (a1b1 - a1b2) - (a2b1 - a2b2); p: Freedman-Lane permutation test "
                     "(approximate; meaningless with one seed per cell).")
_COLOURS = {"confirmed": "#1a7f37", "refuted": "#cf222e", "heterogeneous": "#8250df",
            "inconclusive: not settled": "#9a6700", "inconclusive": "#9a6700"}
RULES_NOTE = (f"Rules (docs/statistics.md): a comparison is confirmed when p <= {ALPHA} (exact stratified permutation), "
              f"|g| >= {MIN_G} and |difference| >= threshold in the predicted direction; refuted by the same in the opposite "
              f"direction or by equivalence (TOST p <= {ALPHA} that |difference| < threshold); heterogeneous when the effect "
              "differs between strata (F test of Cochran's Q) and the claim does not hold in every one. A bound claim is "
              f"confirmed when the one-sided {LEVEL:.0%} t bound of the level's stratified mean is on the claimed side. "
              "Runs without a value are dropped; when the two levels lost different numbers of runs (a convergence time "
              "not reached within the budget is censored: the slow runs are lost), or a bound's level lost any, the "
              "verdict is inconclusive. The "
              "hypotheses recorded before training and not declared exploratory form the confirmatory family: their p's "
              "are adjusted together (Holm's step-down, or Benjamini-Hochberg with correction: bh) and the adjusted p "
              "decides; exploratory ones (declared so, or added or changed after training) are decided alone on their raw "
              "p. Confirmed, refuted and heterogeneous must also have held, on the same basis, at each of the last "
              f"max(2, ceil({SHARE:.0%})) evaluated mini-epochs, and the trend over that window must not cross the "
              "threshold or bound one window later; otherwise: inconclusive: not settled.")



def fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _interval(row, m: str, compact: bool = False) -> str:
    mean, lo, hi = row.get(f"{m}_mean"), row.get(f"{m}_ci_low"), row.get(f"{m}_ci_high")
    if mean is None or pd.isna(mean):
        return "n/a"
    # Runs whose value is not finite (e.g. no edge to measure, a diverged run) are left out: say how many remain.
    used, finished = row.get(f"{m}_n"), row.get("n_finished", row.get("n_runs"))
    part = "" if used is None or finished is None or pd.isna(used) or used >= finished else (
        f" ({int(used)}/{int(finished)})" if compact else f" ({int(used)} of {int(finished)} runs)")
    if pd.isna(lo):
        return fmt(float(mean)) + part
    return (f"{mean:.3g}±{(hi - lo) / 2:.2g}" if compact else f"{fmt(float(mean))} [{lo:.3g}, {hi:.3g}]") + part


COLLAPSE_KIND = "eval/collapse_kind"


def collapse_kinds_text(values) -> str:
    """A cell's collapse kinds over its seeds, e.g. ``none x1, layout x1``: a code is a category, and
    the mean of a layout collapse (1) and a none (0) would read as half a collapse."""
    kinds = Counter(int(v) for v in values if not pd.isna(v))
    ordered = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))  # most frequent first, then by code
    return ", ".join(f"{COLLAPSE_KIND_NAMES.get(code, f'kind {code}')} x{n}" for code, n in ordered) or "n/a"


def _kinds_by_cell(report: Report) -> dict[tuple[str, ...], str]:
    """{factor levels as strings (report.cells' keys): collapse_kinds_text of its finished runs}."""
    finished = report.finished
    if COLLAPSE_KIND not in finished or finished.empty:
        return {}
    keys = finished[report.factors].astype(str)
    return {key if isinstance(key, tuple) else (key,): collapse_kinds_text(group[COLLAPSE_KIND])
            for key, group in finished.groupby([keys[f] for f in report.factors], sort=False)}


def cell_table(report: Report, metrics=None, compact: bool = False) -> pd.DataFrame:
    """Display table: one row per combination, counts, ``mean [95% t-interval over seeds]`` per metric
    (the collapse kind as counts of its categories)."""
    metrics = list(metrics or dict.fromkeys([*TABLE_METRICS, *(h.metric for h in report.study.hypotheses)]))
    declared = {h.metric for h in report.study.hypotheses}
    metrics = [m for m in metrics if m not in QUALITY_SHOWN or m in declared or _any_value(report.cells, m)]
    kinds = _kinds_by_cell(report) if COLLAPSE_KIND in metrics else {}
    rows = []
    for row in report.cells.to_dict("records"):
        out = {f.rsplit(".", 1)[-1]: row[f] for f in report.factors}
        out.update(finished=row["n_finished"], failed=row["n_failed"])
        if not compact:
            out.update(interrupted=row.get("n_interrupted", 0), running=row["n_running"], missing=row["n_missing"])
        out.update({(_SHORT.get(m, m) if compact else m):
                    kinds.get(tuple(str(row[f]) for f in report.factors), "n/a") if m == COLLAPSE_KIND
                    else _interval(row, m, compact)
                    for m in metrics})
        seconds = row.get(f"{RUN_SECONDS}_mean")
        out["s/run" if compact else "train time per run (s)"] = "n/a" if pd.isna(seconds) else f"{seconds:.0f}"
        # Where the rest of a run's wall time went (build, tracing, evaluation, samples, checkpoints, logging).
        share = row.get(f"{OUTSIDE_SHARE}_mean")
        out["outside" if compact else "time outside training steps"] = "n/a" if pd.isna(share) else f"{share:.0%}"
        rows.append(out)
    return pd.DataFrame(rows)


def _any_value(cells: pd.DataFrame, metric: str) -> bool:
    column = f"{metric}_mean"
    return column in cells and bool(cells[column].notna().any())


def _compared(v) -> str:
    where = f" where {', '.join(f'{k}={x}' for k, x in v.where)}" if v.where else ""
    if v.kind == "bound":
        return f"{v.factor} = {v.levels[0]}: {v.metric} {v.direction} {fmt(v.threshold)}{where}"
    return f"{v.factor}: {v.levels[0]} vs {v.levels[1]} (predicted {v.levels[0]} {v.direction}){where}"


def verdict_rows(report: Report) -> pd.DataFrame:
    rows = [{"hypothesis": v.name, "verdict": v.label, "decided by": v.basis or "—",
             "since": f"mini-epoch {v.since}" if v.since else "—",
             "metric": v.metric, "claim tested": _compared(v),
             (f"estimate [{LEVEL_LABEL} CI]"): _estimate(v),
             "Hedges' g": fmt(v.hedges_g), f"P(A>B) [{LEVEL_LABEL}]": _superiority(v), "p": fmt(v.p_value),
             "p adjusted": fmt(v.p_adjusted) if not math.isnan(v.p_adjusted) else ("exploratory" if v.exploratory else "—"),
             "n": f"{v.n_a}" if v.kind == "bound" else f"{v.n_a} / {v.n_b}",
             "next step": _next_step(v)} for v in report.verdicts]
    return pd.DataFrame(rows)


def _estimate(v) -> str:
    """The verdict table's estimate and interval. A bound's interval is a pair of one-sided bounds (each a
    one-sided 95% test: together a 90% interval), so its cell says so under the column's "95% CI"."""
    interval = f"{fmt(v.difference)} [{fmt(v.ci_low)}, {fmt(v.ci_high)}]"
    return f"{interval} one-sided {LEVEL_LABEL} bounds" if v.kind == "bound" else interval


def _pairs_won(v) -> str:
    """The empirical count beside the model's P(A > B): "instance beat none in 7 of 9 run pairs"."""
    if not v.pairs:
        return ""
    return f"; observed: {v.levels[0]} beat {v.levels[1]} in {fmt(float(v.pairs_won))} of {v.pairs} run pairs within strata"


def _superiority(v) -> str:
    if v.kind == "bound" or math.isnan(v.superiority):
        return "—"
    return f"{fmt(v.superiority)} [{fmt(v.superiority_low)}, {fmt(v.superiority_high)}]"


def _family_facts(v) -> list[tuple[str, str]]:
    facts = [("family", v.family)] if v.family else []
    if not math.isnan(v.p_adjusted):
        facts.append(("adjusted p", f"{fmt(v.p_adjusted)} (raw {fmt(v.p_value)}); the adjusted p decides"))
    if v.changed:
        facts.append(("since the record before training", v.changed))
    return facts


def _next_step(v) -> str:
    if v.verdict == "heterogeneous":
        return f"{strata_summary(v)}; state it per stratum (where:)"
    if not v.settled:
        return f"train longer (~{v.suggested_mini_epochs} mini-epochs)"
    return f"~{v.seeds_needed} seeds per cell" if v.seeds_needed else ""


def strata_summary(v) -> str:
    """Where a heterogeneous claim holds and where not, short: "holds where upsample=transpose (-2.46
    [-3.35, -1.57]); unclear where upsample=resize_conv (0.255 [-0.632, 1.14])"."""
    return "; ".join(f"{words} " + ", ".join(f"{s.label} ({fmt(s.difference)} [{fmt(s.ci_low)}, {fmt(s.ci_high)}])" for s in ss)
                     for words, ss in strata_by_outcome(v.strata_effects, v.strata_outcomes))


def _verdict_facts(v, factors) -> list[tuple[str, str]]:
    others = [f for f in factors if f != v.factor and f not in dict(v.where)]
    strata = f"within strata of {', '.join(others)}" if others else "no other factor"
    where = f"; only where {', '.join(f'{k}={x}' for k, x in v.where)}" if v.where else ""
    if v.kind == "bound":
        facts = [("claim tested", f"{v.metric} at {v.factor} = {v.levels[0]} {v.direction} {fmt(v.threshold)} "
                                  f"(n={v.n_a} finished runs, {strata}, strata weighted equally{where})"),
                 ("level mean", f"{fmt(v.difference)}, one-sided {LEVEL_LABEL} t bounds [{fmt(v.ci_low)}, {fmt(v.ci_high)}]"),
                 ("p-value", f"{fmt(v.p_value)} (one-sided t, H0: the mean is not {v.direction} the bound)")]
    else:
        facts = [("compared", (f"{v.metric} at {v.factor} = {v.levels[0]} (n={v.n_a} finished runs) vs {v.levels[1]} "
                               f"(n={v.n_b}), {strata}{where}; predicted: {v.levels[0]} {v.direction}")),
                 (f"difference ({v.levels[0]} − {v.levels[1]})",
                  f"{fmt(v.difference)}, {LEVEL:.0%} t interval [{fmt(v.ci_low)}, {fmt(v.ci_high)}]"),
                 ("Hedges' g", fmt(v.hedges_g)),
                 (f"P({v.levels[0]} > {v.levels[1]})",
                  f"{_superiority(v)}: under normal noise with a common SD, Phi(difference / (pooled SD sqrt 2)) "
                  f"with its {LEVEL_LABEL} interval from the non-central t (McGraw & Wong's common-language effect size)"
                  + _pairs_won(v)),
                 ("p-value", f"{fmt(v.p_value)} ({'exact' if v.exact else 'Monte Carlo'} stratified permutation, two-sided)"),
                 ("equivalence", f"TOST p = {fmt(v.p_equivalence)} for |difference| < threshold {fmt(v.threshold)}")]
        if v.strata_effects:
            facts.append(("per stratum", "; ".join(
                f"{s.label}: {fmt(s.difference)} [{fmt(s.ci_low)}, {fmt(s.ci_high)}] ({o})"
                for s, o in zip(v.strata_effects, v.strata_outcomes, strict=True))
                + f" — heterogeneity F p = {fmt(v.heterogeneity_p)}"))
    facts += _family_facts(v)
    facts.append(("decided by", v.rule))
    if v.settle_rule:
        facts.append(("over training", v.settle_rule))
    if v.verdict == "inconclusive" and v.settled:
        facts.append(("to settle it", f"roughly {v.seeds_needed} seeds per cell" if v.seeds_needed
                      else "unknown (no spread between seeds to size it)"))
    return facts


def _interaction_frame(it) -> pd.DataFrame:
    t = it.table
    frame = t.map(lambda x: fmt(float(x)))
    frame.index = [f"{it.factor_a.rsplit('.', 1)[-1]}={i}" for i in t.index]
    frame.columns = [f"{it.factor_b.rsplit('.', 1)[-1]}={c}" for c in t.columns]
    return frame.reset_index(names=it.metric)


def _interaction_note(it) -> str:
    a = it.table.attrs
    dropped = a.get("n_dropped", 0)
    return (f"interaction contrast {fmt(a.get('contrast'))}, p = {fmt(a.get('p_value'))} ({a.get('p_method')})"
            + (f"; {dropped} run(s) without a finite value left out" if dropped else ""))


def _missing_frame(report: Report) -> pd.DataFrame:
    m = report.missing.copy()
    m["reason"] = m["reason"].fillna("").astype(str).map(lambda r: (r[:400] + "…") if len(r) > 400 else r)
    return m.rename(columns={f: f.rsplit(".", 1)[-1] for f in report.factors})


def _sample_rows(report: Report, figures: list[FigureFile]):
    """(seeds, [(combination label, [figure or None per seed])]) for the grid of final sample images."""
    samples = [f for f in figures if f.kind == "sample"]
    seeds = list(report.study.seeds)
    rows = []
    for levels in combinations(report.study):
        by_seed = [next((f for f in samples if f.levels == levels and f.seed == s), None) for s in seeds]
        if any(by_seed):
            rows.append((label(levels), by_seed))
    return seeds, rows


# -- Markdown --------------------------------------------------------------------------------------------


def _md_table(df: pd.DataFrame) -> str:
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _figures(figures, kinds) -> list:
    return [f for f in figures if f.kind in kinds]


def markdown(report: Report, figures: list[FigureFile]) -> str:
    s = report.study
    out = [f"# Report: study `{s.name}`", ""]
    out += [f"> **{w}**" if w.startswith("LOUD") else f"> {w}" for w in report.warnings] + [""]
    out += ["## Verdicts", ""]
    if report.verdicts:
        out += [_md_table(verdict_rows(report).assign(verdict=lambda d: d["verdict"].str.upper())), "", f"_{RULES_NOTE}_", ""]
    else:
        out += ["No hypotheses are declared in the study file.", ""]
    glance = _figures(figures, ("effect", "evidence"))
    if glance:
        out += ["## Effects over training and evidence", ""]
        for f in glance:
            out += [f"![{f.title}]({f.file})", "", f"_{f.title}: {f.caption}_", ""]
    if report.verdicts:
        out += ["## Each hypothesis", ""]
        for h, v in zip(s.hypotheses, report.verdicts, strict=True):
            out += [f"### {v.name}: **{v.label.upper()}**", "", f"> {h.claim}", ""]
            out += [f"_Scope: {h.scope}_", ""] if h.scope else []
            out += [f"- **{k}**: {val}" for k, val in _verdict_facts(v, report.factors)] + [""]
    out += ["## What this is based on", ""] + [f"- **{k}**: {v}" for k, v in report.basis.items()] + [""]
    out += ["## Comparison table", "",
            f"Final metrics per combination: mean over finished seeds [{LEVEL_LABEL} t-interval; n/a with fewer than 2 seeds].", "",
            _md_table(cell_table(report)), "", "Every metric of every cell: `cells.csv`.", ""]
    if report.interactions:
        out += ["## Interactions", "", INTERACTIONS_NOTE, ""]
        for it in report.interactions:
            out += [_md_table(_interaction_frame(it)), "", f"_{_interaction_note(it)}_", ""]
    out += ["## Missing and failed runs", ""]
    out += [_md_table(_missing_frame(report)), ""] if len(report.missing) else ["Every cell has a finished run.", ""]
    out += ["## Pictures", ""]
    for f in _figures(figures, ("curves", "spectra")):
        out += [f"### {f.title}", "", f"![{f.title}]({f.file})", "", f.caption, ""]
    seeds, rows = _sample_rows(report, figures)
    if rows:
        out += ["### Final sample grids", "", SAMPLES_NOTE, ""]
        table = [[name] + [f"![{f.title}]({f.file})" + (f" {f.caption}" if f.caption else "") if f else "—"
                           for f in by_seed] for name, by_seed in rows]
        out += [_md_table(pd.DataFrame(table, columns=["combination", *(f"seed {s}" for s in seeds)])), ""]
    return "\n".join(out) + "\n"


# -- HTML ------------------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#1f2328}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left}
th{background:#f6f8fa}.warn{border-left:4px solid #9a6700;background:#fff8c5;padding:.4em .8em;margin:.3em 0}
.loud{border-left-color:#cf222e;background:#ffebe9;font-weight:bold}.v{font-weight:bold;text-transform:uppercase}
figure{display:inline-block;margin:.5em;vertical-align:top}figcaption{font-size:.85em}img{max-width:100%}
.grids img{image-rendering:pixelated;width:360px;max-width:none}.rules{font-size:.85em;color:#57606a}
.glance figure{max-width:48%}.glance img{width:100%}.glance figure.wide{max-width:100%;display:block}
.glance figure.wide img{width:auto}
.scroll{overflow-x:auto;max-width:100%}"""


def _verdict_span(word: str) -> str:
    return f'<span class="v v-{word}" style="color:{_COLOURS.get(word, "#000")}">{html.escape(word)}</span>'


def _html_table(df: pd.DataFrame, verdict_col: str | None = None) -> str:
    text = df.to_html(index=False, escape=True, border=0, na_rep="n/a")
    if verdict_col:
        for word in _COLOURS:  # longest first: "inconclusive: not settled" before "inconclusive"
            text = text.replace(f"<td>{html.escape(word)}</td>", f"<td>{_verdict_span(word)}</td>")
    # A wide table (the comparison table has ~20 metric columns) scrolls inside its box, not the page.
    return f"<div class='scroll'>{text}</div>"


def to_html(report: Report, figures: list[FigureFile]) -> str:
    e, s = html.escape, report.study
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Report: {e(s.name)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>Report: study <code>{e(s.name)}</code></h1>"]
    out += [f"<div class='warn{' loud' if w.startswith('LOUD') else ''}'>{e(w)}</div>" for w in report.warnings]
    out.append("<h2>Verdicts</h2>")
    if report.verdicts:
        out += [_html_table(verdict_rows(report), "verdict"), f"<p class='rules'>{e(RULES_NOTE)}</p>"]
    else:
        out.append("<p>No hypotheses are declared in the study file.</p>")
    glance = _figures(figures, ("effect", "evidence"))
    if glance:
        out.append("<h2>Effects over training and evidence</h2><div class='glance'>")
        out += [f"<figure{' class=wide' if f.kind == 'evidence' else ''}><img src='{e(f.file)}' alt='{e(f.title)}'>"
                f"<figcaption>{e(f.title)}: {e(f.caption)}</figcaption></figure>" for f in glance]
        out.append("</div>")
    if report.verdicts:
        out.append("<h2>Each hypothesis</h2>")
        for h, v in zip(s.hypotheses, report.verdicts, strict=True):
            out += [f"<h3>{e(v.name)}: {_verdict_span(v.label)}</h3>", f"<blockquote>{e(h.claim)}</blockquote>"]
            out += [f"<p><i>Scope: {e(h.scope)}</i></p>"] if h.scope else []
            out.append("<ul>")
            out += [f"<li><b>{e(k)}</b>: {e(val)}</li>" for k, val in _verdict_facts(v, report.factors)] + ["</ul>"]
    out += ["<h2>What this is based on</h2><ul>"] + [f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in report.basis.items()]
    out += ["</ul><h2>Comparison table</h2>",
            (f"<p>Final metrics per combination: mean over finished seeds [{LEVEL_LABEL} t-interval; n/a with fewer than 2 seeds]. "
             "Every metric of every cell: <a href='cells.csv'>cells.csv</a>.</p>"), _html_table(cell_table(report))]
    if report.interactions:
        out.append(f"<h2>Interactions</h2><p>{e(INTERACTIONS_NOTE)}</p>")
        for it in report.interactions:
            out += [_html_table(_interaction_frame(it)), f"<p><i>{e(_interaction_note(it))}</i></p>"]
    out.append("<h2>Missing and failed runs</h2>")
    out.append(_html_table(_missing_frame(report)) if len(report.missing) else "<p>Every cell has a finished run.</p>")
    out.append("<h2>Pictures</h2>")
    for f in _figures(figures, ("curves", "spectra")):
        out += [f"<h3>{e(f.title)}</h3><figure><img src='{e(f.file)}' alt='{e(f.title)}'>",
                f"<figcaption>{e(f.caption)}</figcaption></figure>"]
    seeds, rows = _sample_rows(report, figures)
    if rows:
        out.append(f"<h3>Final sample grids</h3><p>{e(SAMPLES_NOTE)}</p><table class='grids'><tr><th>combination</th>"
                   + "".join(f"<th>seed {s}</th>" for s in seeds) + "</tr>")
        for name, by_seed in rows:
            cells = [f"<td><img src='{e(f.file)}' alt='{e(f.title)}'>" + (f"<br><small>{e(f.caption)}</small>" if f.caption else "")
                     + "</td>" if f else "<td>—</td>" for f in by_seed]
            out.append(f"<tr><th>{e(name)}</th>{''.join(cells)}</tr>")
        out.append("</table>")
    out.append(f"<p><small>generated {e(report.created)} by cyclegan report</small></p></body></html>")
    return "\n".join(out) + "\n"


# -- terminal and files ----------------------------------------------------------------------------------


def terminal(report: Report) -> str:
    """Compact text for the console: warnings, the key-metric table, one line per verdict."""
    lines = [f"study {report.study.name}: {report.basis.get('runs', '')}"]
    if "machine use" in report.basis:
        lines.append(f"machine use: {report.basis['machine use']}")
    lines += [f"! {w}" for w in report.warnings]
    lines += ["", cell_table(report, KEY_METRICS, compact=True).to_string(index=False), ""]
    scope = {h.name: h.scope for h in report.study.hypotheses}
    for v in report.verdicts:
        what = (f"{v.metric} at {v.levels[0]} {v.direction} {fmt(v.threshold)}: mean" if v.kind == "bound"
                else f"{v.metric} {v.levels[0]}-{v.levels[1]} =")
        step = _next_step(v)
        basis = f" (by {v.basis})" if v.basis else ""
        lines.append(f"{v.name}: {v.label.upper()}{basis}  {what} {fmt(v.difference)} [{fmt(v.ci_low)}, {fmt(v.ci_high)}], "
                     f"p {fmt(v.p_value)}" + (f" (adjusted {fmt(v.p_adjusted)})" if not math.isnan(v.p_adjusted) else
                                              " (exploratory)" if v.exploratory else "") + f", n {v.n_a}" + ("" if v.kind == "bound" else f"/{v.n_b}, g {fmt(v.hedges_g)}")
                     + (f", since mini-epoch {v.since}" if v.since and v.settled else "") + (f"; {step}" if step else ""))
        if scope.get(v.name):
            lines.append(f"  scope: {scope[v.name]}")
    return mask("\n".join(lines))


def write(report: Report, figures: list[FigureFile], out_dir: Path, formats=FORMATS) -> list[Path]:
    """Write ``report.md`` / ``report.html`` (as asked) and ``cells.csv``; returns the report files."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {', '.join(FORMATS)}")
    written = []
    for fmt_name, render in (("md", markdown), ("html", to_html)):
        if fmt_name in formats:
            path = out_dir / f"report.{fmt_name}"
            path.write_text(mask(render(report, figures)), encoding="utf-8")
            written.append(path)
    (out_dir / "cells.csv").write_text(mask(report.cells.to_csv(index=False)), encoding="utf-8")
    return written

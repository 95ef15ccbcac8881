"""Hypotheses fixed before training: a canonical form of each, its hash, and what changed since.

When a study's first cell starts, `record(study)` is stored in the study's parent MLflow run and in the runs
folder (cyclegan.runs.tracking.Tracker.record_hypotheses). The report compares the study file's current
hypotheses with that record (`late_or_changed`): one added or changed afterwards is exploratory (declared
after training) and stays out of the confirmatory family. The canonical form holds every key that changes
what is tested (not `claim`, the prose): editing the wording of a claim does not make it exploratory.
"""
from __future__ import annotations

import hashlib
import json

RECORD_FILE = "hypotheses.json"  # in RUNS_DIR/<study>/ and as the parent run's artifact
RECORD_TAG = "hypotheses.sha256"  # the parent run's tag: the hash of the whole record
_TESTED = ("factor", "metric", "levels", "direction", "threshold", "level", "below", "above", "where", "settle",
           "exploratory")


def canonical(hypothesis) -> dict:
    """The keys that define the test, JSON-ready (tuples as lists), without the prose `claim`."""
    data = hypothesis.model_dump() if hasattr(hypothesis, "model_dump") else dict(hypothesis)
    out = {k: data.get(k) for k in _TESTED if data.get(k) is not None}
    if "levels" in out:
        out["levels"] = list(out["levels"])
    return out


def digest(form: dict) -> str:
    return hashlib.sha256(json.dumps(form, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def record(study) -> dict:
    """{"study": name, "hypotheses": {name: {"form": canonical, "sha256": digest}}, "sha256": of all}."""
    hypotheses = {h.name: {"form": canonical(h), "sha256": digest(canonical(h))} for h in study.hypotheses}
    return {"study": study.name, "hypotheses": hypotheses,
            "sha256": digest({name: h["sha256"] for name, h in hypotheses.items()})}


def late_or_changed(recorded: dict | None, hypotheses) -> dict[str, str]:
    """{name: what is new or changed} for each current hypothesis that the pre-training record does not hold
    as it is now (empty without a record: nothing to compare with, the caller says so)."""
    if not recorded:
        return {}
    before = recorded.get("hypotheses", {})
    out = {}
    for h in hypotheses:
        now = canonical(h)
        if h.name not in before:
            out[h.name] = "declared after training (not in the record made when the first cell started)"
            continue
        was = before[h.name].get("form", {})
        if digest(now) != before[h.name].get("sha256"):
            diffs = [f"{k}: {json.dumps(was.get(k))} -> {json.dumps(now.get(k))}"
                     for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]
            out[h.name] = "changed after training: " + "; ".join(diffs)
    return out

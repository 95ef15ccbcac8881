"""Null distributions and labelled real runs behind the collapse limits (docs/metrics.md, "Collapse").

Two parts, both printing figures (nothing is asserted here; the tests hold the labelled fixtures):

``nulls``: the two faces of collapse on real images that are NOT collapsed, at several sizes.
  - unrelated pairs: N real paintings scored as the "outputs" of N unrelated real photos, many
    random draws. Identifiability then has nothing to find: its count of matches must behave like
    chance (the binomial layout test's false-alarm rate is measured here), and shared texture reads
    what unrelated real detail shares by accident.
  - real paintings and real photos alone (each scored against itself shuffled): the same, within a domain.

``runs``: every saved snapshot of runs made by benchmarks/collapse_probe.py (``outputs_<step>.npz``
beside ``inputs.npz``), with the face indicators, the layout test's p-value and the decision, one
JSON line per snapshot, for labelling against contact sheets (``--sheets DIR`` writes one PNG per
snapshot: inputs over outputs, 16 of them).

    python benchmarks/collapse_calibration.py nulls --data ../shared/data/monet2photo --sizes 64 128 256 --draws 40
    python benchmarks/collapse_calibration.py runs /tmp/calib/runs --sheets /tmp/calib/sheets
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cyclegan.data.images import read_image, sample_grid, save_png
from cyclegan.metrics import score_batch
from cyclegan.metrics.batches import luma
from cyclegan.metrics.input_dependence import identifiability_matches, layout_p_value

FACE_KEYS = ("input_identifiability", "identifiability_p", "shared_texture", "contrast_ratio", "collapse_kind", "collapsed")


def _domain_paths(data: Path) -> dict[str, list[Path]]:
    rows = [line.split(",") for line in (data / "data.csv").read_text().splitlines()[1:] if line.strip()]
    paths: dict[str, list[Path]] = {}
    for _, name, folder in rows:
        paths.setdefault(folder, []).append(data / folder / name)
    return paths


def nulls(data: Path, sizes: list[int], draws: int, n: int, seed: int) -> None:
    domains = _domain_paths(data)
    rng = np.random.default_rng(seed)
    for size in sizes:
        images = {d: np.stack([read_image(p, size) for p in paths]) for d, paths in domains.items()}
        for name, pick in (("painting|photo", ("monet", "photo")), ("photo|photo", ("photo", "photo")), ("painting|painting", ("monet", "monet"))):
            textures, hits, false_alarms = [], [], 0
            for _ in range(draws):
                a = rng.choice(len(images[pick[0]]), n, replace=False)
                b = rng.choice(len(images[pick[1]]), n, replace=False)
                outputs, inputs = images[pick[0]][a], images[pick[1]][b]
                scores = score_batch(outputs, inputs)
                textures.append(scores["shared_texture"])
                k = identifiability_matches(luma(outputs), luma(inputs))
                hits.append(k)
                false_alarms += layout_p_value(k, n) <= 0.05
            t = np.array(textures)
            print(json.dumps({"size": size, "null": name, "draws": draws, "n": n,
                              "shared_texture_median": float(np.median(t)), "shared_texture_q99": float(np.quantile(t, 0.99)),
                              "shared_texture_max": float(t.max()), "matches_mean": float(np.mean(hits)), "matches_max": int(np.max(hits)),
                              "input_dependent_at_0.05": f"{false_alarms}/{draws}"}), flush=True)


def runs(root: Path, sheets: Path | None) -> None:
    for inputs_file in sorted(root.rglob("inputs.npz")):
        run = inputs_file.parent
        photos = np.load(inputs_file)["photos"].astype(np.float32) / 255.0
        for snapshot in sorted(run.glob("outputs_*.npz")):
            outputs = np.load(snapshot)["outputs"].astype(np.float32) / 255.0
            scores = score_batch(outputs, photos)
            step = int(snapshot.stem.split("_")[1])
            row = {"run": str(run.relative_to(root)), "step": step, **{k: scores[k] for k in FACE_KEYS if k in scores}}
            print(json.dumps(row), flush=True)
            if sheets is not None:
                name = f"{str(run.relative_to(root)).replace('/', '_')}_{step:05d}.png"
                save_png(sample_grid([photos[:16], outputs[:16]]), sheets / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("nulls")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--draws", type=int, default=40)
    p.add_argument("--n", type=int, default=64, help="images per draw (the evaluation's held-out count)")
    p.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("runs")
    r.add_argument("root", type=Path)
    r.add_argument("--sheets", type=Path)
    args = parser.parse_args()
    if args.part == "nulls":
        nulls(args.data, args.sizes, args.draws, args.n, args.seed)
    else:
        runs(args.root, args.sheets)


if __name__ == "__main__":
    main()

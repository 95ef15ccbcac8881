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
snapshot: the inputs' 8 x 8 tiles beside the outputs').

    python benchmarks/collapse_calibration.py nulls --data ../shared/data/monet2photo --sizes 64 128 256 --draws 40
    python benchmarks/collapse_calibration.py runs /tmp/calib/runs --sheets /tmp/calib/sheets

``fixture``: one labelled snapshot into the test set (tests/data/collapse): its 64 outputs as one 8x8
tiled PNG, the shared inputs once (``inputs.png``), and a row in ``labels.csv`` saying how the run was
made and why it got its label (tests/test_collapse_real_runs.py reads them).

    python benchmarks/collapse_calibration.py fixture /work/probe/scalarNone-s2 100 --label washed_out \
        --why "grey-purple, gridded; each output keeps its own input's skyline"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from cyclegan.data.images import read_image, sample_grid, save_png
from cyclegan.metrics import score_batch
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
                k = identifiability_matches(outputs, inputs)
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
                label = run.name if run == root else str(run.relative_to(root)).replace("/", "_")  # not "." for one run's folder
                name = f"{label}_{step:05d}.png"
                save_png(contact_sheet(photos, outputs), sheets / name)


FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "collapse"
LABEL_COLUMNS = ("name", "label", "discriminator", "norm", "lambda_cycle", "seed", "step", "precision", "why")


def fixture(run: Path, step: int, label: str, why: str, out: Path) -> None:
    import csv

    import yaml

    photos = np.load(run / "inputs.npz")["photos"]
    outputs = np.load(run / f"outputs_{step:05d}.npz")["outputs"]
    side = int(np.sqrt(len(outputs)))
    if side * side != len(outputs) or photos.shape != outputs.shape:
        raise SystemExit(f"{run}: need a square number of outputs shaped like the inputs, got {outputs.shape}, {photos.shape}")
    inputs_png = out / "inputs.png"
    if inputs_png.exists():
        kept = tiles(np.asarray(Image.open(inputs_png)), side)
        if not np.array_equal(kept, photos):
            raise SystemExit(f"{run}: its inputs differ from {inputs_png} (another data split or size)")
    else:
        save_png(tile(photos, side) / 255.0, inputs_png)
    config = yaml.safe_load((run / "config.yaml").read_text())
    name = f"{run.name}-{step:05d}"
    save_png(tile(outputs, side) / 255.0, out / f"{name}.png")  # exact: k / 255 rounds back to k
    labels = out / "labels.csv"
    rows = [row for row in csv.DictReader(labels.open())] if labels.exists() else []
    rows = [row for row in rows if row["name"] != name]
    rows.append({"name": name, "label": label, "discriminator": config["discriminator"]["output"], "norm": config["generator"]["norm"],
                 "lambda_cycle": config["loss"]["lambda_cycle"], "seed": config["train"]["seed"], "step": step, "precision": config["train"]["precision"], "why": why})
    with labels.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, LABEL_COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda row: row["name"]))
    print(out / f"{name}.png", label)


def contact_sheet(photos: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Every input and every output, to label a snapshot by eye: with a square number of them, the
    inputs' tiles beside the outputs' (same places); otherwise 16 inputs over their 16 outputs."""
    side = int(np.sqrt(len(outputs)))
    if side * side != len(outputs):
        return sample_grid([photos[:16], outputs[:16]])
    gap = np.ones((side * photos.shape[1], photos.shape[2] // 4, 3), np.float32)
    return np.concatenate([tile(photos, side), gap, tile(outputs, side)], axis=1)


def tile(images: np.ndarray, side: int) -> np.ndarray:
    """(side*side, H, W, 3) uint8 -> one (side*H, side*W, 3) picture, row-major."""
    n, h, w, c = images.shape
    return images.reshape(side, side, h, w, c).transpose(0, 2, 1, 3, 4).reshape(side * h, side * w, c)


def tiles(picture: np.ndarray, side: int) -> np.ndarray:
    """The inverse of :func:`tile`."""
    h, w = picture.shape[0] // side, picture.shape[1] // side
    return picture.reshape(side, h, side, w, -1).transpose(0, 2, 1, 3, 4).reshape(side * side, h, w, -1)


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
    f = sub.add_parser("fixture")
    f.add_argument("run", type=Path)
    f.add_argument("step", type=int)
    f.add_argument("--label", required=True, choices=("healthy", "washed_out", "texture_collapse", "layout_collapse", "total_collapse"))
    f.add_argument("--why", required=True)
    f.add_argument("--out", type=Path, default=FIXTURES)
    args = parser.parse_args()
    if args.part == "nulls":
        nulls(args.data, args.sizes, args.draws, args.n, args.seed)
    elif args.part == "runs":
        runs(args.root, args.sheets)
    else:
        fixture(args.run, args.step, args.label, args.why, args.out)


if __name__ == "__main__":
    main()

"""Contact sheets of a collapse probe's saved outputs, to look at a run before labelling it.

For each ``outputs_<step>.npz`` of a probe folder (benchmarks/collapse_probe.py), writes
``sheet_<step>.png``: the first N held-out photos in one row band, their translations below, so a
person sees at once whether the outputs follow their inputs (healthy, washed out) or repeat one
texture or layout (collapse).

    python benchmarks/collapse_sheet.py /work/probe/scalarIN-s3 --images 16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.util import montage


def sheet(inputs: np.ndarray, outputs: np.ndarray, columns: int) -> np.ndarray:
    """Rows of ``columns`` inputs, each followed by the row of their outputs (uint8 HxWx3 arrays)."""
    rows = []
    for start in range(0, len(inputs), columns):
        rows.append(montage(inputs[start:start + columns], grid_shape=(1, columns), channel_axis=-1, padding_width=1, fill=(255, 255, 255)))
        rows.append(montage(outputs[start:start + columns], grid_shape=(1, columns), channel_axis=-1, padding_width=1, fill=(255, 255, 255)))
    return np.concatenate(rows, axis=0).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--columns", type=int, default=8)
    args = parser.parse_args()
    for folder in args.folders:
        inputs = np.load(folder / "inputs.npz")["photos"][: args.images]
        for path in sorted(folder.glob("outputs_*.npz")):
            outputs = np.load(path)["outputs"][: args.images]
            target = folder / path.name.replace("outputs_", "sheet_").replace(".npz", ".png")
            Image.fromarray(sheet(inputs, outputs, args.columns)).save(target)
            print(target)


if __name__ == "__main__":
    main()

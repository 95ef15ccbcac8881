"""How long must the quick study train before the scalar discriminator collapses the generator?

Trains one config with the project's core (same step, data order and evaluation photos as
``cyclegan train``) and, every ``--every`` steps, translates the held-out photos with G and saves
them (uint8, ``outputs_<step>.npz`` beside their inputs) and prints the collapse and grid indicators
of ``cyclegan.metrics.score_batch`` at that step. The saved outputs let indicators added later be
computed on the same trajectory. Prints figures; it asserts nothing.

    python benchmarks/collapse_probe.py --data ../shared/data/monet2photo --steps 400 --every 40 \\
        --out runs/probe/real-scalar --set discriminator.output=scalar
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cyclegan.spec.config import apply_overrides, build_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="experiments/quick.yaml", help="study or run file whose base is used")
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=40)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    from cyclegan.core import device
    from cyclegan.core.pipeline import load_images, prepare_split, training_dataset
    from cyclegan.core.step import build_networks, build_optimizers, make_train_step
    from cyclegan.core.translate import Translator
    from cyclegan.metrics import score_batch
    from cyclegan.spec.extends import run_tree

    tree = apply_overrides(run_tree(args.config), [f"data.root={args.data}", *args.overrides], source=args.config)
    config = build_config(tree, source=args.config)
    precision = device.configure(config.train.precision)
    import keras

    keras.utils.set_random_seed(config.train.seed)
    split = prepare_split(config.data, config.train.batch_size)
    nets = build_networks(config)
    step_fn = make_train_step(config, nets, build_optimizers(config, nets, precision))
    photos = load_images(split.holdout["photo"][: config.eval.images], config.data.image_size)
    monets = load_images(split.holdout["monet"][: config.eval.images], config.data.image_size)
    translate = Translator(nets.gen_g)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "inputs.npz", photos=np.round(photos * 255).astype(np.uint8))
    (args.out / "config.yaml").write_text(config.to_yaml())
    batches = iter(training_dataset(split, config.data, config.train, start_step=0))
    keys = ("grid_score", "input_identifiability", "shared_texture", "collapse_kind", "collapsed", "inter_image_diff", "black_fraction")
    started = time.perf_counter()
    rows = []
    for step in range(1, args.steps + 1):
        photo, monet = next(batches)
        losses = step_fn(photo, monet)
        if step % args.every == 0 or step == args.steps:
            outputs = translate(photos)
            np.savez_compressed(args.out / f"outputs_{step:05d}.npz", outputs=np.round(outputs * 255).astype(np.uint8))
            scores = score_batch(outputs, photos, target=monets, seed=config.train.seed)
            row = {"step": step, "seconds": round(time.perf_counter() - started, 1), "cycle": float(losses["loss/cycle"]),
                   **{k: float(scores[k]) for k in keys}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "probe.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

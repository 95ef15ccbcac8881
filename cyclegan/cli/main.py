"""The ``cyclegan`` command line (click). Each command parses its arguments and calls one function
of the package; expected failures (bad config, bad data, missing weights) print one clear message
and exit with status 2, never a traceback."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click

from cyclegan.cli import launch as cli_launch
from cyclegan.cli import study as cli_study
from cyclegan.cli.options import add_verbose_option, progress_option, runs_dir_option, set_option

# TensorFlow's C++ start-up chatter and MLflow's INFO records would hide our own messages: every
# command is quiet unless -v/--verbose (cyclegan.cli.quiet, set up by the option before a command runs).

EXIT_USAGE = 2
EXIT_BUG = 1  # what Python exits with on an uncaught exception
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT
# Where store URLs (possibly with a password) come from besides --storage: masked from the start.
STORE_VARIABLES = ("MLFLOW_TRACKING_URI", "CYCLEGAN_STORAGE", "MLFLOW_BACKEND_STORE_URI")


# What Ctrl-C leaves behind, per command: training commands have checkpointed and requeued their
# work; the others have nothing to resume.
_CHECKPOINTED = "interrupted: progress is checkpointed; run the same command again to resume"
INTERRUPTED = {
    **dict.fromkeys(("train", "ablate", "worker", "tune", "launch"), _CHECKPOINTED),
    "report": "interrupted: the report was not finished and nothing was published to MLflow; "
              "run the same command again (it only reads the runs, which are unchanged)",
    "translate": "interrupted: some images may be written; run the same command again to translate them all",
    "ui": "stopped the MLflow UI",
    None: "interrupted: nothing was changed that a re-run would not redo; run the same command again",
}


class _ExpectedErrors(click.Group):
    """Turn the package's own error types into one-line messages with a non-zero exit. This is the
    one place errors are printed, and everything printed here goes through the credential masker
    (an exception text from MLflow, Optuna, SQLAlchemy or psycopg may quote a store URL)."""

    def invoke(self, ctx: click.Context):
        from cyclegan import masking
        from cyclegan.errors import CycleganError

        masking.install()
        for variable in STORE_VARIABLES:
            masking.remember(os.environ.get(variable))
        from cyclegan.places import DiskFull

        try:
            return super().invoke(ctx)
        except (CycleganError, FileNotFoundError, ValueError) as err:
            if os.environ.get("CYCLEGAN_DEBUG"):
                raise
            click.secho(masking.mask(f"error: {err}"), fg="red", err=True)
            sys.exit(DiskFull.EXIT_STATUS if isinstance(err, DiskFull) else EXIT_USAGE)
        except KeyboardInterrupt:
            click.secho(INTERRUPTED.get(ctx.invoked_subcommand, INTERRUPTED[None]), fg="yellow", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except click.ClickException as err:  # usage errors: click prints them, after masking
            err.message = masking.mask(err.message)
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as err:  # a bug: keep its traceback, masked (CYCLEGAN_DEBUG shows it raw)
            if os.environ.get("CYCLEGAN_DEBUG"):
                raise
            from cyclegan.places import is_disk_full

            if is_disk_full(err):  # a full disk where no step expected it (an MLflow or Optuna write): one line
                click.secho(masking.mask(f"error: the disk is full: {err}"), fg="red", err=True)
                sys.exit(DiskFull.EXIT_STATUS)
            if isinstance(err, OSError) and err.filename is not None:  # a path the user gave: not a folder, read-only, ...
                names = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
                click.secho(masking.mask(f"error: {names}: {err.strerror or err}"), fg="red", err=True)
                sys.exit(EXIT_USAGE)
            click.echo(masking.mask(traceback.format_exc()), err=True)
            sys.exit(EXIT_BUG)


@click.group(cls=_ExpectedErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cyclegan")
def main() -> None:
    """Turn CycleGAN folklore into evidence: train ablation matrices, track them in MLflow,
    score them with artifact and sharpness metrics, and print a verdict per hypothesis."""


@main.command()
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the run writes (default: runs/train/<config name>). Re-running resumes.")
@click.option("--restart", is_flag=True, help="Discard what RUN_DIR has trained (checkpoints, history, samples, "
              "generators) and start over, e.g. when every checkpoint is damaged.")
@progress_option
def train(config_file: Path, overrides: tuple[str, ...], run_dir: Path | None, restart: bool, progress: bool) -> None:
    """Train one CycleGAN from CONFIG_FILE; resume if RUN_DIR holds a checkpoint."""
    from cyclegan.core.trainer import train as run_training
    from cyclegan.spec.config import load_config

    config = load_config(config_file, overrides)
    run_dir = run_dir or Path("runs") / "train" / config_file.stem
    result = run_training(config, run_dir, progress=progress, restart=restart)
    resumed = f" (resumed from mini-epoch {result.resumed_from})" if result.resumed_from else ""
    click.echo(f"{result.run_dir.root}: {result.mini_epochs} mini-epochs, {result.steps} steps{resumed}")
    for key in ("loss/cycle", "eval/grid_score", "eval/edge_sigma", "eval/collapsed"):
        if key in result.final_metrics:
            click.echo(f"  {key:18s} {result.final_metrics[key]:.4f}")
    from cyclegan.names import OUTSIDE_SECONDS, OUTSIDE_SHARE, TRAIN_SECONDS

    times = result.final_metrics
    if OUTSIDE_SECONDS in times:
        click.echo(f"  time: {times[TRAIN_SECONDS]:.1f} s in training steps, {times[OUTSIDE_SECONDS]:.1f} s outside them "
                   f"({times[OUTSIDE_SHARE]:.0%}: build, first step's tracing, evaluation, samples, checkpoints, saving)")


DIRECTIONS = {"photo2monet": "gen_photo2monet", "monet2photo": "gen_monet2photo"}
direction_option = click.option("--direction", type=click.Choice(sorted(DIRECTIONS)), default="photo2monet", show_default=True,
                                help="Which of a run folder's two generators.")


@main.command()
@click.option("--generator", "generator", required=True,
              help="A run folder (RUN_DIR; see --direction), its models/<generator>.weights.h5, a .keras file from "
                   "`cyclegan export`, or a logged MLflow model: runs:/<run id>/gen_photo2monet, models:/<model id>.")
@click.option("--input", "input_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--output", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@direction_option
@runs_dir_option
def translate(generator: str, input_dir: Path, output_dir: Path, batch_size: int, direction: str, runs_dir: Path) -> None:
    """Translate every image in a folder and write one PNG per input."""
    from cyclegan.core.translate import translate_folder
    from cyclegan.runs.mlflow_model import MODEL_URI_SCHEMES

    if generator.startswith(MODEL_URI_SCHEMES):
        from cyclegan.runs.mlflow_model import load_keras
        from cyclegan.runs.relocation import model_uri
        from cyclegan.runs.store import connect

        cli_study.require_store(runs_dir, f"where {generator} is looked up")  # else connect() would create an empty one
        store = connect(runs_dir)  # the store of --runs-dir (or MLFLOW_TRACKING_URI)
        model = load_keras(model_uri(store, generator), store.uri)  # a moved runs folder: the model where it is now
    else:
        model = Path(generator)
    written = translate_folder(model, input_dir, output_dir, batch_size=batch_size, name=DIRECTIONS[direction])
    click.echo(f"{len(written)} images written to {output_dir}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@direction_option
def export(run_dir: Path, output: Path, direction: str) -> None:
    """Write one of RUN_DIR's generators as a self-contained OUTPUT.keras (VGG16 encoder included)
    that loads in Keras safe mode anywhere: keras.saving.load_model(OUTPUT, safe_mode=True)."""
    from cyclegan.core.runfolder.generators import export_generator

    written = export_generator(run_dir, output, DIRECTIONS[direction])
    click.echo(f"{written}: {written.stat().st_size / 2**20:.1f} MiB")


@main.group()
def data() -> None:
    """Index, check or synthesise a dataset in the original layout."""


@data.command("index")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
def data_index(root: Path) -> None:
    """Write ROOT/data.csv from ROOT/monet and ROOT/photo."""
    from cyclegan.data.dataset import write_index

    path = write_index(root)
    click.echo(f"wrote {path}")


@data.command("check")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--image-size", default=256, show_default=True, type=click.IntRange(min=1),
              help="Size the images will be trained at (other sizes are reported as resized).")
@click.option("--max-pixels", default=40_000_000, show_default=True, type=click.IntRange(min=1),
              help="Refuse images with more pixels (decompression-bomb guard).")
def data_check(root: Path, image_size: int, max_pixels: int) -> None:
    """Report every problem of the dataset at ROOT; exit 1 if any file is unusable."""
    from cyclegan.data.dataset import check_dataset

    report = check_dataset(root, image_size=image_size, max_image_pixels=max_pixels)
    click.echo(report.summary())
    if report.fatal:
        click.secho(f"{len(report.fatal)} unusable file(s)", fg="red", err=True)
        sys.exit(1)
    click.echo("ok: every indexed image is usable")


@data.command("synth")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--photos", default=400, show_default=True, type=click.IntRange(min=1))
@click.option("--paintings", default=300, show_default=True, type=click.IntRange(min=1))
@click.option("--size", default=256, show_default=True, type=click.IntRange(min=16))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
def data_synth(root: Path, photos: int, paintings: int, size: int, seed: int) -> None:
    """Write a deterministic synthetic photo/painting dataset to ROOT (offline)."""
    from cyclegan.data.synth import make_synthetic_dataset

    index = make_synthetic_dataset(root, photos=photos, paintings=paintings, size=size, seed=seed)
    click.echo(f"wrote {photos} photos and {paintings} paintings of {size}x{size} to {root} ({index.name})")


@main.command("bench")
@click.argument("config_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=1), help="Timed steps per variant.")
@click.option("--rounds", default=4, show_default=True, type=click.IntRange(min=1), help="Alternating rounds the steps are split into.")
@click.option("--compare", "comparisons", multiple=True, metavar="KEY=V1,V2",
              help="Variants to time side by side; repeated options are zipped (variant i takes value i of each).")
@click.option("--data", "data_root", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="JPEG dataset for timing the input pipeline (default: the config's data.root if indexed).")
@click.option("--probe-repeats", default=10, show_default=True, type=click.IntRange(min=1),
              help="Convolutions per conv throughput probe (one probe before each round, in each precision).")
def bench_command(config_file: Path | None, overrides: tuple[str, ...], steps: int, rounds: int,
                  comparisons: tuple[str, ...], data_root: Path | None, probe_repeats: int) -> None:
    """Time the train step (default: the original 256x256, batch 1) and the input pipeline.

    CONFIG_FILE is a run config or an experiment file (its base is used)."""
    from cyclegan.core.bench import bench, format_result, zip_comparisons
    from cyclegan.spec.config import apply_overrides, build_config, set_dotted
    from cyclegan.spec.extends import run_tree

    tree = run_tree(config_file) if config_file else {}
    tree = apply_overrides(tree, overrides, source=str(config_file or "defaults"))
    variants = zip_comparisons(comparisons)
    configs = {}
    for label, settings in variants:
        variant_tree = tree
        for key, value in settings:
            variant_tree = set_dotted(variant_tree, key, value)
        configs[label] = build_config(variant_tree, source=f"{config_file or 'defaults'} ({label})")
    first = next(iter(configs.values()))
    if data_root is None and (Path(first.data.root) / "data.csv").exists():
        data_root = Path(first.data.root)
    click.echo(format_result(bench(configs, steps=steps, rounds=rounds, data_root=data_root, probe_repeats=probe_repeats)))


def _weights_file_name(ctx: click.Context, param: click.Parameter, output: Path) -> Path:
    """Keras 3 writes weights only to a file named ``*.weights.h5``: said here, naming the value,
    rather than by Keras' error after the model is built."""
    if not output.name.endswith(".weights.h5"):
        raise click.BadParameter(f"{str(output)!r} must end in .weights.h5 (Keras 3 writes weights files only "
                                 f"under that name), e.g. {str(output.with_name(output.name.split('.')[0] + '.weights.h5'))!r}",
                                 ctx=ctx, param=param)
    return output


@main.command("standin-weights")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path), callback=_weights_file_name)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--model", type=click.Choice(["vgg16", "inception"]), default="vgg16", show_default=True,
              help="vgg16: the generator's encoder (generator.imagenet_weights); inception: the quality metrics' "
                   "InceptionV3 (eval.inception_weights, --inception-weights).")
def standin_weights(output: Path, seed: int, model: str) -> None:
    """Write a VGG16 (or InceptionV3) no-top weights file with RANDOM weights, for offline smoke runs only.

    OUTPUT must end in .weights.h5. It lets `generator.imagenet_weights=OUTPUT` exercise the
    pretrained code path on a machine that cannot download the real weights. It is not ImageNet:
    no H1 conclusion holds with it, and quality figures (KID, FID) computed with an Inception
    stand-in compare with nothing."""
    if model == "inception":
        from cyclegan.core.inception import write_standin_weights as write_inception_standin

        write_inception_standin(output, seed)
        click.echo(f"wrote {output} (random InceptionV3 weights, NOT ImageNet: quality figures made with it are stand-ins)")
        return
    from cyclegan.core.models import write_standin_weights

    write_standin_weights(output, seed)
    click.echo(f"wrote {output} (random VGG16 weights, NOT ImageNet)")


@main.command()
@click.option("--outputs", "outputs_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--inputs", "inputs_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--target", "target_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Images of the target domain, for the distribution distances (swd, lab_w_*).")
@click.option("--train", "train_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Training images of the target domain, for the memorisation distance (MiFID-style).")
@click.option("--inception-weights", default=None, metavar="FILE",
              help="InceptionV3 no-top weights for the quality metrics (default: $CYCLEGAN_INCEPTION_WEIGHTS).")
@click.option("--quality/--no-quality", default=None,
              help="Inception-feature quality (KID, FID, precision/recall, density/coverage, memorisation) against "
                   "--target. Default: on when --target is given and an Inception weights file is set; --quality "
                   "without a file uses Keras' ImageNet cache.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def metrics(outputs_dir: Path, inputs_dir: Path, target_dir: Path | None, train_dir: Path | None,
            inception_weights: str | None, quality: bool | None, as_json: bool) -> None:
    """Score generator outputs against their inputs (paired by file name)."""
    from cyclegan.core.inception import resolve_weights
    from cyclegan.metrics.folders import format_table, score_folders

    scores = score_folders(outputs_dir, inputs_dir, target_dir)
    weights = resolve_weights(inception_weights)
    if quality and target_dir is None:
        raise click.UsageError("--quality needs --target (the target domain's images to compare with)")
    if train_dir is not None and target_dir is None:
        raise click.UsageError("--train (memorisation) needs --target and the quality metrics")
    if quality is None:
        quality = target_dir is not None and weights is not None
        if target_dir is not None and weights is None:
            click.echo("quality metrics (KID, FID, ...) not computed: no Inception weights file "
                       "(--inception-weights or $CYCLEGAN_INCEPTION_WEIGHTS; --quality uses Keras' cache)", err=True)
    if quality:
        from cyclegan.core.quality_eval import score_quality_folders

        scores.update(score_quality_folders(outputs_dir, target_dir, train_dir, weights=weights))
        if scores.get("inception_standin"):
            click.echo(f"note: {weights} is a STAND-IN (random) Inception file: KID/FID/precision/recall here "
                       "compare with nothing published", err=True)
    if as_json:
        # Strict JSON has no NaN: an undefined metric (e.g. no edges to measure) is null.
        strict = {k: (None if isinstance(v, float) and v != v else v) for k, v in scores.items()}
        click.echo(json.dumps(strict, indent=2, sort_keys=True, allow_nan=False))
    else:
        from cyclegan.metrics.collapse import COLLAPSE_KIND_NAMES

        kind = scores["collapse_kind"]  # the code, and what it means
        click.echo(format_table({**scores, "collapse_kind": f"{kind} ({COLLAPSE_KIND_NAMES[kind]})"}))


# The study commands (ablate, worker, tune, ui, report) live in cli_study.
for _command in (cli_study.ablate, cli_study.worker, cli_study.tune, cli_study.ui, cli_study.report):
    main.add_command(_command)
main.add_command(cli_launch.launch)  # cyclegan launch slurm|kubernetes (docs/cluster.md)
add_verbose_option(main)  # after every command is registered: each gets -v/--verbose


if __name__ == "__main__":
    main()

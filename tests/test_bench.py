"""The speed benchmark: FLOPs are counted from the graph, variants are compared in one process,
and its output carries every figure benchmarks/PERFORMANCE.md quotes."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner

from cyclegan.cli.main import main
from cyclegan.core.bench import (
    BenchResult,
    ConvProbe,
    VariantResult,
    conv_throughput,
    count_step_flops,
    format_result,
    with_available_weights,
    zip_comparisons,
)
from cyclegan.core.bench_stats import spread
from cyclegan.spec.config import RunConfig


def test_flop_count_is_the_live_convolutions_of_the_graph():
    kernel = tf.constant(np.ones((3, 3, 3, 8), np.float32))

    @tf.function
    def step(photo, monet):
        used = tf.nn.conv2d(photo, kernel, 1, "SAME")
        tf.nn.conv2d(monet, kernel, 1, "SAME")  # nothing depends on it: TensorFlow never runs it
        return {"loss/cycle": tf.reduce_sum(used)}

    conv_gflop = 2 * (2 * 16 * 16 * 8) * (3 * 3 * 3) / 1e9  # 2 x outputs x multiply-adds per output
    counted = count_step_flops(step, image_size=16, batch_size=2)
    assert conv_gflop <= counted < 1.05 * conv_gflop  # plus the sum's few thousand additions


def test_conv_throughput_is_measured():
    assert conv_throughput(tf.float32, repeats=2) > 1.0  # GFLOP/s: any real CPU does more than one


def test_a_conv_probe_is_built_once_and_measured_again():
    probe = ConvProbe(tf.float32, repeats=1)
    first, second = probe.measure(), probe.measure()
    assert first > 1.0 and second > 1.0
    assert probe.flop == 2.0 * 4 * 64 * 64 * 256 * 256 * 9  # 2 x outputs x multiply-adds per output


def test_the_output_gives_each_figure_its_spread_over_rounds():
    """The round lines come from the recorded rounds (made up here: formatting, not speed)."""
    variant = VariantResult("config", 1000.0, 1.0, 100.0, 5.0, seconds_per_round=(0.9, 1.0, 1.25),
                            conv_share=spread([0.5, 0.6, 0.7]), share_dtype="float32")
    result = BenchResult("CPU: test", 64, 1, {"float32": 150.0, "bfloat16": 40.0}, [variant], 100.0, None,
                         conv_rounds={"float32": spread([140.0, 150.0, 160.0])})
    out = format_result(result)
    assert "measured conv throughput: float32 150 GFLOP/s, bfloat16 40 GFLOP/s (medians of the probes between rounds" in out
    assert "conv throughput probed before each round: float32 150 GFLOP/s (140-160 GFLOP/s, 3 rounds)" in out
    assert re.search(r"config +ms/step 1000 \(900-1250, 3 rounds\) +share 60% \(50-70%, 3 rounds\) of float32", out)
    assert re.search(r"^config\s.*\s67%\s+250%\s", out, re.M)  # 100 GFLOP/s over the medians 150 and 40


def test_missing_weights_are_replaced_by_a_random_file_and_said(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = RunConfig.model_validate({"generator": {"imagenet_weights": str(tmp_path / "absent.h5")}, "data": {"image_size": 32}})
    notes: list[str] = []
    replaced = with_available_weights(config, notes)
    assert replaced.generator.imagenet_weights == str(tmp_path / "cyclegan_bench_vgg16_random.weights.h5")
    assert (tmp_path / "cyclegan_bench_vgg16_random.weights.h5").is_file()
    assert len(notes) == 1 and "random weights" in notes[0]


def _column(output: str, label: str, column: str) -> float:
    header = next(line for line in output.splitlines() if line.startswith("variant"))
    row = next(line for line in output.splitlines() if line.startswith(label + " "))
    names, values = header.split()[1:], row[len(label):].split()
    return float(values[names.index(column)].rstrip("%"))


@pytest.mark.slow
def test_bench_compares_zipped_variants_and_the_two_generator_architectures(tiny_tree, tmp_path):
    """Three zipped variants in one process: the plain and the fused U-Net step, and the reference's
    ResNet generator (which has no encoder: the weights file is given as the U-Net's ImageNet weights)."""
    config_file = tmp_path / "run.yaml"
    tiny_tree["generator"] = {"imagenet_weights": tiny_tree["generator"]["encoder_weights"]}
    config_file.write_text(yaml.safe_dump(tiny_tree))
    result = CliRunner().invoke(main, [
        "bench", str(config_file), "--steps", "2", "--rounds", "2", "--probe-repeats", "2", "--compare", "generator.arch=vgg_unet,vgg_unet,resnet",
        "--compare", "train.fused_generator_calls=false,true,true", "--compare", "train.fused_instance_norm=false,true,true",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    plain, fused, resnet = (f"arch={arch}, fused_generator_calls={flag}, fused_instance_norm={flag}"
                            for arch, flag in (("vgg_unet", "false"), ("vgg_unet", "true"), ("resnet", "true")))
    # Sharing the frozen encoder between both generators' real inputs saves two encoder passes.
    assert 0 < _column(out, fused, "GFLOP/step") < _column(out, plain, "GFLOP/step")
    assert _column(out, plain, "ms/step") > 0 and _column(out, fused, "pairs/s") > 0
    assert _column(out, resnet, "GFLOP/step") > 0 and _column(out, resnet, "ms/step") > 0
    for variant in (fused, resnet):
        speedup = re.search(rf"speed-up of {variant} over {plain}: ([0-9.]+)x", out)
        assert speedup and float(speedup.group(1)) > 0, out
    assert re.search(r"measured conv throughput: float32 \d+ GFLOP/s, bfloat16 \d+ GFLOP/s", out)
    # Two rounds: a float32 probe before each, and each variant's share of it with its range.
    assert re.search(r"conv throughput probed before each round: float32 \d+ GFLOP/s \(\d+-\d+ GFLOP/s, 2 rounds\)$", out, re.M)
    for label in (plain, fused, resnet):
        share = re.search(rf"  {re.escape(label)} +ms/step \S+ \(\S+, 2 rounds\) +share (\d+)% \((\d+)-(\d+)%, 2 rounds\) of float32", out)
        assert share and int(share.group(2)) <= int(share.group(1)) <= int(share.group(3)), out
    assert re.search(r"input pipeline alone: \d+ images/s", out)  # the config's data.root is indexed
    assert re.search(r"peak memory: \d+ MiB", out)


def test_comparisons_are_zipped_with_typed_values_and_short_labels():
    variants = zip_comparisons(["train.precision=float32, auto", "train.fused_generator_calls=false,true"])
    assert variants == [
        ("precision=float32, fused_generator_calls=false", [("train.precision", "float32"), ("train.fused_generator_calls", False)]),
        ("precision=auto, fused_generator_calls=true", [("train.precision", "auto"), ("train.fused_generator_calls", True)]),
    ]
    assert zip_comparisons([]) == [("config", [])]


def test_bench_rejects_comparisons_of_different_lengths():
    result = CliRunner().invoke(main, ["bench", "--compare", "train.precision=float32,auto", "--compare", "train.jit_compile=true"])
    assert result.exit_code == 2
    assert "same number of values" in result.output and "Traceback" not in result.output

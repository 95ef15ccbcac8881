"""Config parsing: every mistake is an error naming the key and what is allowed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cyclegan.spec.config import ConfigError, RunConfig, build_config, config_keys, load_config, parse_override


def test_defaults_reproduce_the_original():
    config = RunConfig()
    assert config.data.image_size == 256
    assert config.generator.encoder_weights == "imagenet" and config.generator.norm == "instance"
    assert config.discriminator.output == "patch" and config.discriminator.base_filters == 48
    assert (config.loss.lambda_cycle, config.loss.lambda_identity) == (10.0, 0.5)
    assert (config.optimizer.lr_generator, config.optimizer.beta_1) == (2e-4, 0.5)
    assert config.train.mini_epoch_fraction == 0.1 and config.train.checkpoint_every == 5


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ({"generator": {"nrom": "none"}}, ["generator.nrom: unknown key", "Did you mean 'generator.norm'", "upsample"]),
        ({"genrator": {}}, ["genrator: unknown key", "Did you mean 'generator'"]),
        ({"generator": {"norm": "batch"}}, ["generator.norm", "'instance' or 'none'", "'batch'"]),
        ({"discriminator": {"output": "map"}}, ["discriminator.output", "'patch', 'scalar' or 'patch_weighted'"]),
        ({"train": {"batch_size": "4"}}, ["train.batch_size", "valid integer"]),
        ({"train": {"batch_size": 4.0}}, ["train.batch_size", "valid integer"]),
        ({"data": {"flip": "yes"}}, ["data.flip", "valid boolean"]),
        ({"data": {"image_size": 48}}, ["data.image_size", "multiple of 32"]),
        ({"data": {"image_size": 0}}, ["data.image_size"]),
        ({"train": {"mini_epochs": 0}}, ["train.mini_epochs", "greater than or equal to 1"]),
        ({"train": {"steps_per_mini_epoch": -3}}, ["train.steps_per_mini_epoch"]),
        ({"generator": {"encoder_weights": "vgg"}}, ["generator.encoder_weights", "'imagenet', 'random' or a path"]),
        ({"train": {"sample_images": 9}, "data": {"holdout": 4}}, ["sample_images=9 exceeds data.holdout=4"]),
    ],
)
def test_bad_values_name_the_key_and_allowed_values(tree, expected):
    with pytest.raises(ConfigError) as err:
        build_config(tree, source="study.yaml")
    message = str(err.value)
    assert message.startswith("study.yaml")
    for fragment in expected:
        assert fragment in message


def test_config_is_frozen():
    config = RunConfig()
    with pytest.raises(ValidationError, match="frozen"):
        config.train.seed = 5  # type: ignore[misc]


def test_overrides_are_typed_by_yaml(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("generator:\n  norm: none\noptimizer:\n  lr_generator: 1e-4\n")
    config = load_config(path, ["train.seed=7", "optimizer.lr_discriminator=5e-5", "data.flip=false"])
    assert config.generator.norm == "none"
    assert config.optimizer.lr_generator == 1e-4  # YAML 1.1 reads 1e-4 as a string; we don't
    assert config.train.seed == 7 and config.optimizer.lr_discriminator == 5e-5 and config.data.flip is False


def test_override_of_unknown_key_is_an_error(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("{}\n")
    with pytest.raises(ConfigError, match="train.sead: unknown key. Did you mean 'train.seed'"):
        load_config(path, ["train.sead=1"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.seed")


@pytest.mark.parametrize(("text", "expected"), [
    ("data.root=@shared/data", "--set data.root: '@shared/data' is not a YAML value: found character '@'"),
    ("x=[1", "--set x: '[1' is not a YAML value: expected ','"),
    ("data.root=`x", "--set data.root: '`x' is not a YAML value"),
])
def test_set_value_that_is_not_yaml_names_the_key_and_value(text, expected):
    """Was a yaml.YAMLError: a traceback and exit 1 instead of a bad-input error."""
    with pytest.raises(ConfigError) as err:
        parse_override(text)
    assert expected in str(err.value), str(err.value)
    assert "for a string, quote it" in str(err.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train:\n  seed: 1\n  batch_size: [1,\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: line \d+, column \d+: YAML syntax error"):
        load_config(path)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


def test_yaml_round_trip_and_flat_keys(tmp_path):
    config = build_config({"generator": {"norm": "none"}, "train": {"seed": 4}})
    path = tmp_path / "resolved.yaml"
    path.write_text(config.to_yaml())
    assert load_config(path) == config
    flat = config.flat()
    assert flat["generator.norm"] == "none" and flat["train.seed"] == 4
    assert set(flat) == set(config_keys())


def test_yaml_is_read_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("train: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        load_config(path)


def test_imagenet_weights_location_comes_from_the_machine(monkeypatch):
    monkeypatch.setenv("CYCLEGAN_IMAGENET_WEIGHTS", "/opt/weights/vgg16_notop.h5")
    assert build_config({}).generator.imagenet_weights == "/opt/weights/vgg16_notop.h5"
    explicit = build_config({"generator": {"imagenet_weights": "/elsewhere.h5"}})
    assert explicit.generator.imagenet_weights == "/elsewhere.h5"
    monkeypatch.delenv("CYCLEGAN_IMAGENET_WEIGHTS")
    assert build_config({}).generator.imagenet_weights is None

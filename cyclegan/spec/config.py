"""One frozen, typed run configuration, parsed once from YAML and passed down explicitly.

Every section is a pydantic model with ``extra="forbid"`` and ``frozen=True``: an unknown key, a
wrong type or an unknown level is an error that names the dotted key and what it accepts. Defaults
reproduce the original experiment (docs/DESIGN.md section 1); experiment files only state what changes.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cyclegan.errors import CycleganError

IMAGENET_WEIGHTS_ENV = "CYCLEGAN_IMAGENET_WEIGHTS"
INCEPTION_WEIGHTS_ENV = "CYCLEGAN_INCEPTION_WEIGHTS"  # also read by cyclegan.core.inception


class ConfigError(CycleganError, ValueError):
    """A configuration problem; the message names the file, key and allowed values."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(_Section):
    root: str = "data"
    """Dataset root: ``monet/``, ``photo/`` and ``data.csv`` (docs/DESIGN.md section 1)."""
    image_size: int = Field(256, ge=32, multiple_of=32)
    """Side of the square training images; VGG16 halves it five times, hence the multiple of 32."""
    flip: bool = True
    random_crop: bool = False
    """Resize to 1.12 x size then crop back, the CycleGAN paper's jitter."""
    holdout: int = Field(64, ge=1)
    """Images per domain kept out of training for evaluation and sample grids (same for every run)."""
    max_image_pixels: int = Field(40_000_000, ge=1)
    """Decompression-bomb guard: images with more pixels are refused by ``data check``."""


# Generator keys that do not apply to generator.arch=resnet (it has no VGG16 encoder), and what records them.
RESNET_NOT_APPLICABLE = ("encoder_weights", "encoder_trainable")
NOT_APPLICABLE = "not applicable"
RESNET_BLOCKS_LARGE, RESNET_BLOCKS_SMALL = 9, 6  # the reference's blocks at 256 px and up / at 128 px and below


class GeneratorConfig(_Section):
    arch: Literal["vgg_unet", "resnet"] = "vgg_unet"
    """``vgg_unet``: the original VGG16 U-Net; ``resnet``: the reference CycleGAN's ResNet generator
    (Zhu et al. 2017: c7s1-64, d128, d256, residual blocks, u128, u64, c7s1-3), trained from scratch."""
    resnet_blocks: int | None = Field(None, ge=1)
    """Residual blocks of the ``resnet`` generator; unset: 9 above 128 px, 6 at 128 px and below (the reference's choice)."""
    encoder_weights: str = "imagenet"
    """``imagenet`` (Keras download/cache), ``random``, or a path to a VGG16 no-top weights file.
    The ``resnet`` generator has no encoder: it ignores this key (recorded as not applicable)."""
    imagenet_weights: str | None = Field(default_factory=lambda: os.environ.get(IMAGENET_WEIGHTS_ENV) or None)
    """A local copy of the ImageNet VGG16 no-top weights, used for ``encoder_weights: imagenet``
    instead of Keras' download cache (offline machines, clusters without internet). Where that
    file lives is a property of the machine, so it defaults to ``$CYCLEGAN_IMAGENET_WEIGHTS``."""
    encoder_trainable: bool = False
    norm: Literal["instance", "none"] = "instance"
    upsample: Literal["transpose", "resize_conv"] = "transpose"

    @field_validator("encoder_weights")
    @classmethod
    def _weights_name_or_file(cls, value: str) -> str:
        if value in ("imagenet", "random") or value.endswith((".h5", ".keras")):
            return value
        raise ValueError(
            f"must be 'imagenet', 'random' or a path to a .h5 / .weights.h5 file, got {value!r}"
        )

    @model_validator(mode="before")
    @classmethod
    def _encoder_keys_not_applicable(cls, data: Any) -> Any:
        """The ResNet generator has no VGG16 encoder: its keys are ignored there (a study may cross
        ``generator.arch`` with ``encoder_weights: random``), and recorded as not applicable
        (:meth:`RunConfig.flat`, hence the MLflow params)."""
        if isinstance(data, dict) and data.get("arch") == "resnet":
            return {k: v for k, v in data.items() if k not in RESNET_NOT_APPLICABLE}
        return data

    @model_validator(mode="after")
    def _resnet_blocks_only_for_resnet(self) -> GeneratorConfig:
        if self.arch != "resnet" and self.resnet_blocks is not None:
            raise ValueError(f"generator.resnet_blocks={self.resnet_blocks} applies only to generator.arch=resnet")
        return self

    def residual_blocks(self, image_size: int) -> int:
        """The ResNet generator's block count: ``resnet_blocks``, else the reference's by image size."""
        if self.resnet_blocks is not None:
            return self.resnet_blocks
        return RESNET_BLOCKS_SMALL if image_size <= 128 else RESNET_BLOCKS_LARGE


class DiscriminatorConfig(_Section):
    output: Literal["patch", "scalar", "patch_weighted"] = "patch"
    """``patch``: a (size/16)^2 map of logits; ``scalar``: one logit per image from a classifier head on
    the last feature map (flatten, dense), the original project's first discriminator; ``patch_weighted``:
    one logit as a learned weighting of the patch-logit map (this project's ``scalar`` before issue 35)."""
    norm: Literal["instance", "none"] = "instance"
    base_filters: int = Field(48, ge=1)


class LossConfig(_Section):
    adversarial: Literal["bce", "lsgan"] = "bce"
    lambda_cycle: float = Field(10.0, ge=0)
    lambda_identity: float = Field(0.5, ge=0)
    """Relative to ``lambda_cycle``, as in the original (identity weight = 0.5 x 10)."""


class OptimizerConfig(_Section):
    lr_generator: float = Field(2e-4, gt=0)
    lr_discriminator: float = Field(2e-4, gt=0)
    beta_1: float = Field(0.5, ge=0, lt=1)
    schedule: Literal["constant", "linear_decay"] = "constant"
    """``linear_decay``: the reference CycleGAN's schedule, constant for the first ``decay_start``
    share of the mini-epochs, then linearly down towards 0 (cyclegan.core.schedule)."""
    decay_start: float = Field(0.5, ge=0, lt=1)
    """Share of the mini-epochs at the full learning rate before ``linear_decay`` starts (0.5 in the reference)."""


class TrainConfig(_Section):
    seed: int = Field(0, ge=0)
    """Seeds weights, data order and augmentation; logged with every run."""
    batch_size: int = Field(1, ge=1)
    image_pool: int = Field(0, ge=0)
    """Generated images kept per domain to update the discriminators from (Shrivastava et al. 2017,
    the reference CycleGAN's 50); 0: the current images only, as the original did."""
    mini_epochs: int = Field(100, ge=1)
    mini_epoch_fraction: float = Field(0.1, gt=0, le=10)
    """Length of a mini-epoch as a fraction of an epoch (the larger domain's training images)."""
    steps_per_mini_epoch: int | None = Field(None, ge=1)
    """Overrides ``mini_epoch_fraction`` with an exact step count."""
    checkpoint_every: int = Field(5, ge=1)
    """In mini-epochs; the last mini-epoch is always checkpointed."""
    keep_checkpoints: int = Field(3, ge=1)
    """Checked checkpoints kept during a run; at least 2 are kept whatever this says, so a damaged
    newest one has a complete one to fall back to (cyclegan.core.runfolder.checkpoints)."""
    keep_final_checkpoint: bool = False
    """A finished study cell keeps its checkpoints (optimizer state) instead of dropping them; a
    ``cyclegan train`` run always keeps them."""
    sample_images: int = Field(4, ge=1)
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = "auto"
    """``auto``: bfloat16 on CPUs with AVX-512 BF16 and Ampere+ GPUs, float16 with loss scaling on
    Volta/Turing GPUs, else float32 (cyclegan.core.device.resolve_precision)."""
    jit_compile: bool = False
    """XLA. Measured 0.36x on a 2-core CPU in bfloat16: leave off on CPUs; try it on GPUs."""
    fused_generator_calls: bool = True
    """Batch the generator calls on real inputs and share the frozen encoder: the same losses
    (tested against the original six-call step), fewer and larger calls."""
    fused_instance_norm: bool = True
    """Run instance norm on TensorFlow's fused batch-norm kernel (cyclegan.core.norm.InstanceNormalization):
    the same layer and maths as Keras' GroupNormalization(groups=-1), which ``false`` uses as the original did."""


class EvalConfig(_Section):
    every: int = Field(1, ge=0)
    """Score the held-out batch every N mini-epochs (0: only at the end)."""
    images: int = Field(64, ge=2)
    """Held-out inputs translated and scored (capped by ``data.holdout``)."""
    quality_every: int = Field(0, ge=0)
    """Inception-feature quality (KID, FID, precision/recall, density/coverage, memorisation;
    docs/metrics.md) at each evaluated mini-epoch that is a multiple of N (so with ``every: 2``, N
    = 3 means mini-epochs 6, 12, ...), and at the last one; 0: off. Costly on a CPU
    (InceptionV3 at 299 x 299), so off by default; the CPU studies set it from a measurement."""
    quality_train_images: int = Field(64, ge=2)
    """Training paintings (the first N of the target domain's training list) whose features the
    memorisation distance compares the outputs with; computed once per run."""
    inception_weights: str | None = Field(default_factory=lambda: os.environ.get(INCEPTION_WEIGHTS_ENV) or None)
    """A local InceptionV3 no-top weights file for the quality metrics, else Keras' ImageNet cache;
    defaults to ``$CYCLEGAN_INCEPTION_WEIGHTS`` (where the file lives is the machine's business)."""


class RunConfig(_Section):
    data: DataConfig = Field(default_factory=DataConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _eval_fits_holdout(self) -> RunConfig:
        if self.train.sample_images > self.data.holdout:
            raise ValueError(
                f"train.sample_images={self.train.sample_images} exceeds data.holdout={self.data.holdout}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def flat(self) -> dict[str, Any]:
        """``{"generator.norm": "instance", ...}``: for MLflow params and diffs; keys that do not apply
        to the generator's architecture read ``not applicable``."""
        flat = flatten(self.to_dict())
        if self.generator.arch == "resnet":
            flat.update({f"generator.{key}": NOT_APPLICABLE for key in RESNET_NOT_APPLICABLE})
        return flat

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ---------------------------------------------------------------------------------------------
# Parsing


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def config_keys() -> list[str]:
    """Every settable dotted key, e.g. ``generator.norm``."""
    return list(RunConfig().flat())


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``tree`` with ``a.b.c`` set; unknown keys are caught later by validation."""
    out = _deep_copy(tree)
    node = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is read as YAML so ``3``, ``1e-4`` and ``true`` get types."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        return key.strip(), _yaml_scalar(raw.strip())
    except yaml.YAMLError as err:  # '@x', '[1', '`x': a bad input, not a bug, so no traceback
        key, raw = key.strip(), raw.strip()
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        hint = "" if "'" in raw or '"' in raw else f"; for a string, quote it: --set '{key}=\"{raw}\"'"
        raise ConfigError(f"--set {key}: {raw!r} is not a YAML value: {problem}{hint}") from None


def _yaml_scalar(raw: str) -> Any:
    return _coerce_floats(yaml.safe_load(raw)) if raw else ""


def build_config(tree: dict[str, Any] | None, *, source: str = "<config>") -> RunConfig:
    """Validate a nested dict into a :class:`RunConfig`; errors name ``source`` and each dotted key."""
    tree = tree or {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(tree).__name__}")
    try:
        return RunConfig.model_validate(_coerce_floats(tree))
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, source)) from None


def apply_overrides(tree: dict[str, Any], overrides: list[str] | tuple[str, ...], *, source: str,
                    protected: dict[str, str] | None = None) -> dict[str, Any]:
    """``--set key=value`` options applied to a config tree. ``protected`` maps keys that must not
    be overridden (a study's factors, a tuner's search space) to the reason given in the error."""
    for text in overrides:
        key, value = parse_override(text)
        if protected and key in protected:
            raise ConfigError(f"{source}: --set {key}=... {protected[key]}")
        tree = set_dotted(tree, key, value)
    return tree


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a run config YAML and apply ``key=value`` overrides."""
    return build_config(apply_overrides(read_yaml(path), overrides, source=str(path)), source=str(path))


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:  # a binary file, or a text file in another encoding
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {err.start}: {err.reason}); a YAML file is expected") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where}: YAML syntax error: {getattr(err, 'problem', err)}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(tree).__name__}")
    return tree


def describe_validation_error(err: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """One line per problem, each naming the dotted key; unknown keys get the allowed ones and a
    did-you-mean. ``model`` is the schema that was validated (default :class:`RunConfig`)."""
    model = model or RunConfig
    lines = [f"{source}: invalid configuration"]
    for item in err.errors():
        loc = [str(part) for part in item["loc"]]
        dotted = ".".join(loc) or "<root>"
        if item["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, item["loc"][:-1])
            hint = difflib.get_close_matches(loc[-1], allowed, n=1)
            did_you_mean = f" Did you mean {'.'.join(loc[:-1] + hint)!r}?" if hint else ""
            lines.append(f"  {dotted}: unknown key.{did_you_mean} Allowed here: {', '.join(allowed)}")
        else:
            got = item.get("input")
            got_text = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
            # Our validators' own messages, without pydantic's "Value error, " in front of them.
            message = item["msg"].removeprefix("Value error, ") if item["type"] == "value_error" else item["msg"]
            lines.append(f"  {dotted}: {message}{got_text}")
    return "\n".join(lines)


def _allowed_keys(model: type[BaseModel], section_path) -> list[str]:
    """Field names of the (nested) model at ``section_path``; list indices are stepped through."""
    annotation: Any = model
    for part in section_path:
        if isinstance(part, int):
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or part not in annotation.model_fields:
            return []
        annotation = annotation.model_fields[part].annotation
        while get_origin(annotation) in (list, tuple):
            annotation = get_args(annotation)[0]
    return list(annotation.model_fields) if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


# YAML 1.1 (PyYAML) reads ``2e-4`` as a string because it has no dot; anybody writing it means a float.
_EXPONENT_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _coerce_floats(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {key: _coerce_floats(value) for key, value in tree.items()}
    if isinstance(tree, str) and _EXPONENT_FLOAT.match(tree):
        return float(tree)
    return tree


def _deep_copy(tree: dict[str, Any]) -> dict[str, Any]:
    return {key: _deep_copy(value) if isinstance(value, dict) else value for key, value in tree.items()}

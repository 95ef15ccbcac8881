"""What makes two runs the same experiment: the config's science, not where files live.

A run's identity is its flattened config without operational settings (where the data and the
weights file are, whether XLA compiles, how often it checkpoints), plus fingerprints of the content those paths point at:
the dataset index and the encoder weights file. So a cluster node whose data lives elsewhere, or
a report made without repeating ``--set generator.imagenet_weights=...``, finds the same cells,
while swapping a stand-in weights file for the real ImageNet one makes new cells.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from cyclegan.spec.config import RunConfig

# Where files live, how progress is saved, and which kernels compute the same maths (XLA, the fused
# instance-norm kernel; tested equal to float rounding): none of it changes what is learned, and a
# faster kernel must not make every finished cell look new.
OPERATIONAL_KEYS = frozenset({
    "data.root", "generator.imagenet_weights", "eval.inception_weights", "train.jit_compile", "train.fused_instance_norm",
    "train.checkpoint_every", "train.keep_checkpoints", "train.keep_final_checkpoint",
})

# Keys added after cells were first run, each with the default that reproduces the behaviour from
# before it existed. At that default a key is left out of the identity, so adding it keeps every
# existing cell id; any other value is part of the science like every other key.
LATER_KEYS_NEUTRAL = {
    "train.image_pool": 0,
    "optimizer.schedule": "constant",
    "optimizer.decay_start": 0.5,
    "generator.arch": "vgg_unet",
    "generator.resnet_blocks": None,
    "eval.quality_every": 0,
    "eval.quality_train_images": 64,
}
# The VGG16 encoder's settings, which the ResNet generator does not have (spec.config refuses
# anything but their defaults there): not part of a ResNet cell's identity.
VGG_ENCODER_KEYS = frozenset({"generator.encoder_weights", "generator.encoder_trainable"})


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def file_fingerprint(path: str | None) -> str | None:
    """Content digest of a file (cached per path, size and mtime), ``missing`` if it is absent."""
    if path is None:
        return None
    file = Path(path).expanduser()
    if not file.is_file():
        return "missing"
    stat = file.stat()
    return _file_digest(str(file.resolve()), stat.st_size, stat.st_mtime_ns)


def identity(config: RunConfig) -> dict[str, Any]:
    flat = {
        k: v for k, v in config.flat().items()
        if k not in OPERATIONAL_KEYS and not (k in LATER_KEYS_NEUTRAL and v == LATER_KEYS_NEUTRAL[k])
    }
    if config.optimizer.schedule == "constant":  # no decay, so where it would start changes nothing
        flat.pop("optimizer.decay_start", None)
    flat["data.index_sha1"] = file_fingerprint(str(Path(config.data.root) / "data.csv"))
    if config.eval.quality_every:  # another Inception file gives quality figures that must not be compared
        flat["eval.inception_weights_sha1"] = file_fingerprint(config.eval.inception_weights) or "keras-imagenet"
    if config.generator.arch == "resnet":
        for key in VGG_ENCODER_KEYS:
            flat.pop(key, None)
    elif config.generator.encoder_weights == "imagenet":  # the file only matters where it is used
        flat["generator.imagenet_weights_sha1"] = file_fingerprint(config.generator.imagenet_weights)
    elif config.generator.encoder_weights != "random":
        flat["generator.encoder_weights"] = f"file:{file_fingerprint(config.generator.encoder_weights)}"
    return flat


def differences(old: dict[str, Any], new: dict[str, Any], *, then: str, ignore: frozenset[str] = frozenset()) -> str:
    """The keys whose values differ between two flat configs (or identities), one line each
    (``  key: old in <then>, new now``), sorted; empty when they agree outside ``ignore``."""
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k) and k not in ignore)
    return "\n".join(f"  {k}: {old.get(k)!r} in {then}, {new.get(k)!r} now" for k in changed)


def identity_digest(config: RunConfig) -> str:
    return hashlib.sha1(json.dumps(identity(config), sort_keys=True, default=str).encode()).hexdigest()[:8]

"""The reference PyTorch CycleGAN training step (`make bench-reference`), from the paper's procedure.

One step on a pair of batches, as Zhu et al. (2017) train: the generators' joint loss (adversarial +
cycle x lambda + identity x 0.5 lambda) with the discriminators frozen, one Adam step for both
generators; then each discriminator's loss, 0.5 x (real labelled 1 + a fake from the image pool
labelled 0), and one Adam step for both discriminators. Adam(2e-4, betas 0.5/0.999), float32.

``resnet``: the paper's networks, LSGAN (least squares), a pool of 50, images in [-1, 1].
``vgg_unet``: this project's seed model with its own defaults (binary cross-entropy from logits, no
pool, images in [0, 1]) and six plain generator calls, as a PyTorch user would write the step.
"""

from __future__ import annotations

import random
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch_models import (
    patchgan_discriminator,
    project_discriminator,
    resnet_generator,
    trainable_parameters,
    unet_generators,
)

LAMBDA_CYCLE, LAMBDA_IDENTITY = 10.0, 0.5  # identity weight = 0.5 x the cycle weight
LEARNING_RATE, BETAS = 2e-4, (0.5, 0.999)

# The conv probe, the same convolution as cyclegan.core.bench's: 3x3, 256 -> 256 channels on 4 x 64x64.
PROBE_BATCH, PROBE_SIDE, PROBE_CHANNELS = 4, 64, 256


class ImagePool:
    """The history of generated images the discriminators learn from (Shrivastava et al. 2017): while
    not full, store and return each image; then with probability 0.5 return a stored image and
    store the new one in its place, else return the new one."""

    def __init__(self, capacity: int, seed: int):
        self.capacity, self.images, self.rng = capacity, [], random.Random(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.capacity == 0:
            return batch
        out = []
        for image in batch.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.capacity:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() < 0.5:
                slot = self.rng.randrange(self.capacity)
                out.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def adversarial_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    target = torch.full_like(logits, 1.0 if real else 0.0)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target)


class CycleGANStep:
    """Networks, optimizers and pools of one model; ``__call__(photo, monet)`` trains one step."""

    def __init__(self, arch: str, image_size: int = 256, batch_size: int = 1, seed: int = 0):
        torch.manual_seed(seed)
        if arch == "resnet":
            self.gen_g, self.gen_f = resnet_generator(), resnet_generator()
            self.disc_monet, self.disc_photo = patchgan_discriminator(), patchgan_discriminator()
            self.loss_kind, pool, self.signed = "lsgan", 50, True
        elif arch == "vgg_unet":
            self.gen_g, self.gen_f = unet_generators()
            self.disc_monet, self.disc_photo = project_discriminator(), project_discriminator()
            self.loss_kind, pool, self.signed = "bce", 0, False
        else:
            raise ValueError(f"arch must be resnet or vgg_unet, got {arch!r}")
        self.arch = arch
        generator_params = [p for p in [*self.gen_g.parameters(), *self.gen_f.parameters()] if p.requires_grad]
        self.discriminators = [self.disc_monet, self.disc_photo]
        self.opt_g = torch.optim.Adam(generator_params, lr=LEARNING_RATE, betas=BETAS)
        self.opt_d = torch.optim.Adam([p for d in self.discriminators for p in d.parameters()], lr=LEARNING_RATE, betas=BETAS)
        self.pool_monet, self.pool_photo = ImagePool(pool, seed), ImagePool(pool, seed + 1)
        generator = torch.Generator().manual_seed(seed)
        low = -1.0 if self.signed else 0.0
        shape = (batch_size, 3, image_size, image_size)
        self.inputs = [torch.rand(shape, generator=generator) * (1.0 - low) + low for _ in range(2)]

    def parameter_counts(self) -> dict[str, int]:
        return {"generator": trainable_parameters(self.gen_g), "discriminator": trainable_parameters(self.disc_monet)}

    def __call__(self, photo: torch.Tensor, monet: torch.Tensor) -> float:
        """One training step; returns the cycle loss (a float, so the step has finished)."""
        fake_monet = self.gen_g(photo)
        cycled_photo = self.gen_f(fake_monet)
        fake_photo = self.gen_f(monet)
        cycled_monet = self.gen_g(fake_photo)

        for disc in self.discriminators:
            disc.requires_grad_(False)  # the generators' step must not compute the discriminators' gradients
        self.opt_g.zero_grad(set_to_none=True)
        identity = F.l1_loss(self.gen_g(monet), monet) + F.l1_loss(self.gen_f(photo), photo)
        cycle = F.l1_loss(cycled_photo, photo) + F.l1_loss(cycled_monet, monet)
        adversarial = (adversarial_loss(self.disc_monet(fake_monet), True, self.loss_kind)
                       + adversarial_loss(self.disc_photo(fake_photo), True, self.loss_kind))
        generator_loss = adversarial + LAMBDA_CYCLE * cycle + LAMBDA_CYCLE * LAMBDA_IDENTITY * identity
        generator_loss.backward()
        self.opt_g.step()

        for disc in self.discriminators:
            disc.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        for disc, real, fake, pool in ((self.disc_monet, monet, fake_monet, self.pool_monet),
                                       (self.disc_photo, photo, fake_photo, self.pool_photo)):
            learn_from = pool.query(fake.detach())
            loss = 0.5 * (adversarial_loss(disc(real), True, self.loss_kind) + adversarial_loss(disc(learn_from), False, self.loss_kind))
            loss.backward()
        self.opt_d.step()
        return float(cycle.detach())

    def run(self, steps: int) -> float:
        """Seconds per step over ``steps`` steps."""
        started = time.perf_counter()
        for _ in range(steps):
            self(*self.inputs)
        return (time.perf_counter() - started) / steps

    def count_gflop(self) -> float:
        """GFLOP of one step by PyTorch's FLOP counter (convolutions and matrix products, forward and
        backward; a frozen weight's gradient is not computed, so not counted)."""
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            self(*self.inputs)
        return counter.get_total_flops() / 1e9


class ConvProbe:
    """GFLOP/s of PyTorch's float32 3x3 convolution at a VGG-like size: what this machine does for PyTorch."""

    def __init__(self, repeats: int = 10):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn((PROBE_BATCH, PROBE_CHANNELS, PROBE_SIDE, PROBE_SIDE), generator=generator)
        self.conv = nn.Conv2d(PROBE_CHANNELS, PROBE_CHANNELS, 3, padding=1, bias=False)
        self.repeats = repeats
        self.flop = 2.0 * PROBE_BATCH * PROBE_SIDE * PROBE_SIDE * PROBE_CHANNELS * PROBE_CHANNELS * 9
        self.measure()  # warm-up: oneDNN picks and caches its kernel

    @torch.no_grad()
    def measure(self) -> float:
        started = time.perf_counter()
        for _ in range(self.repeats):
            float(self.conv(self.x).sum())
        return self.flop * self.repeats / (time.perf_counter() - started) / 1e9

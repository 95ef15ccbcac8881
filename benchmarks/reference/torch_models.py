"""The networks of the reference PyTorch step (`make bench-reference`), written from the papers.

Tensors are NCHW float32, PyTorch's default layout, as a user of PyTorch would run them.

- The CycleGAN paper's networks (Zhu et al. 2017, appendix 7.2): the ResNet generator with 9 residual
  blocks for 256x256 images (c7s1-64, d128, d256, R256 x 9, u128, u64, c7s1-3; reflection padding,
  instance norm, tanh) and the 70x70 PatchGAN discriminator (C64-C128-C256-C512, 4x4 kernels,
  LeakyReLU 0.2, instance norm except on C64, stride 1 for C512 and the one-channel output).
  Instance norm without learned scale and shift, and biases kept: 11,378,179 parameters per
  generator and 2,764,737 per discriminator.
- This project's seed model, the U-Net on VGG16's convolutions (docs/DESIGN.md section 1, laid out as
  in cyclegan/core/models.py): VGG16's 13 convolutions as the frozen encoder (random weights: speed
  does not depend on them), a decoder from block5_conv3 back to block1_conv2 (filters 256, 256, 128,
  64, 32; 4x4 stride-2 transposed convolutions; instance norm with scale and shift, as Keras'), a
  16-8-3 head and a sigmoid; and its discriminator (four 4x4 stride-2 convolutions of 48, 96, 192, 384
  filters, each with instance norm, LeakyReLU 0.2, then a 3x3 convolution to a 16x16 patch map).
"""

from __future__ import annotations

import torch
from torch import nn

# VGG16's convolutional stack: filters per convolution, "M" a 2x2 max-pool.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# The convolutions (0-based, among the 13) whose ReLU outputs are the U-Net's skips, shallowest first:
# block1_conv2, block2_conv2, block3_conv3, block4_conv3, block5_conv3.
VGG16_SKIPS = (1, 3, 6, 9, 12)
UNET_DECODER_FILTERS = (256, 256, 128, 64, 32)  # deepest level first
VGG_BGR_MEANS = (103.939, 116.779, 123.68)


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for convolutions, as the paper's code: weight values do not change the speed."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


# ---------------------------------------------------------------------------------------------
# The paper's networks


class ResidualBlock(nn.Module):
    """R256: two reflection-padded 3x3 convolutions with instance norm, added to the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def resnet_generator(blocks: int = 9, base: int = 64) -> nn.Module:
    """(B, 3, S, S) in [-1, 1] -> (B, 3, S, S) in [-1, 1]; S a multiple of 4."""
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, base, 7), nn.InstanceNorm2d(base), nn.ReLU(inplace=True)]
    channels = base
    for _ in range(2):  # d128, d256
        layers += [nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * channels), nn.ReLU(inplace=True)]
        channels *= 2
    layers += [ResidualBlock(channels) for _ in range(blocks)]
    for _ in range(2):  # u128, u64: fractionally strided convolutions
        layers += [
            nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(channels // 2), nn.ReLU(inplace=True),
        ]
        channels //= 2
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, 3, 7), nn.Tanh()]
    model = nn.Sequential(*layers)
    init_weights(model)
    return model


def patchgan_discriminator(base: int = 64) -> nn.Module:
    """(B, 3, 256, 256) -> (B, 1, 30, 30) logits, each seeing a 70x70 patch."""
    layers: list[nn.Module] = [nn.Conv2d(3, base, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
    channels = base
    for stride in (2, 2, 1):  # C128, C256, C512
        layers += [nn.Conv2d(channels, 2 * channels, 4, stride=stride, padding=1), nn.InstanceNorm2d(2 * channels),
                   nn.LeakyReLU(0.2, inplace=True)]
        channels *= 2
    layers.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
    model = nn.Sequential(*layers)
    init_weights(model)
    return model


# ---------------------------------------------------------------------------------------------
# The project's seed model


class VGG16Encoder(nn.Module):
    """(B, 3, S, S) RGB in [0, 1] -> the five skips, deepest first: (B, 512, S/16), (B, 512, S/8),
    (B, 256, S/4), (B, 128, S/2), (B, 64, S). Caffe preprocessing (0-255 BGR minus the ImageNet means)."""

    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList()  # one per skip: everything up to and including that skip's ReLU
        stage: list[nn.Module] = []
        channels, conv_index = 3, 0
        for item in VGG16_LAYOUT:
            if item == "M":
                stage.append(nn.MaxPool2d(2))
                continue
            stage += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            channels = item
            if conv_index in VGG16_SKIPS:
                self.stages.append(nn.Sequential(*stage))
                stage = []
            conv_index += 1
        self.register_buffer("means", torch.tensor(VGG_BGR_MEANS).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x = torch.flip(rgb * 255.0, dims=(1,)) - self.means
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips[::-1]


class UNetDecoder(nn.Module):
    """The five skips (deepest first) -> (B, 3, S, S) in [0, 1]."""

    def __init__(self):
        super().__init__()
        skip_channels = (512, 512, 256, 128, 64)
        self.levels = nn.ModuleList()
        self.ups = nn.ModuleList()
        incoming = 0
        for level, (skip, filters) in enumerate(zip(skip_channels, UNET_DECODER_FILTERS, strict=True)):
            self.levels.append(nn.Sequential(nn.Conv2d(skip + incoming, filters, 3, padding=1), nn.ReLU(inplace=True),
                                             nn.InstanceNorm2d(filters, affine=True)))
            if level < len(skip_channels) - 1:
                self.ups.append(nn.Sequential(nn.ConvTranspose2d(filters, filters // 2, 4, stride=2, padding=1), nn.ReLU(inplace=True)))
                incoming = filters // 2
        last = UNET_DECODER_FILTERS[-1]
        self.head = nn.Sequential(
            nn.Conv2d(last, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(8, 3, 2, padding="same"), nn.Sigmoid(),
        )
        init_weights(self)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = None
        for level, skip in enumerate(skips):
            x = skip if x is None else torch.cat([skip, x], 1)
            x = self.levels[level](x)
            if level < len(self.ups):
                x = self.ups[level](x)
        return self.head(x)


class UNetGenerator(nn.Module):
    """decoder(encoder(x)); the encoder may be shared between both generators (frozen)."""

    def __init__(self, encoder: VGG16Encoder):
        super().__init__()
        self.encoder, self.decoder = encoder, UNetDecoder()

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(rgb))


def unet_generators() -> tuple[UNetGenerator, UNetGenerator]:
    """G and F on one frozen VGG16 encoder (random weights), as the project builds them."""
    encoder = VGG16Encoder()
    encoder.requires_grad_(False)
    return UNetGenerator(encoder), UNetGenerator(encoder)


def project_discriminator(base: int = 48, depth: int = 4) -> nn.Module:
    """(B, 3, S, S) -> (B, 1, S/16, S/16) logits: Keras' "same" padding of a 4x4 stride-2 kernel on
    an even size is one pixel on each side."""
    layers: list[nn.Module] = []
    channels = 3
    for level in range(depth):
        filters = base * 2**level
        layers += [nn.Conv2d(channels, filters, 4, stride=2, padding=1), nn.InstanceNorm2d(filters, affine=True),
                   nn.LeakyReLU(0.2, inplace=True)]
        channels = filters
    layers.append(nn.Conv2d(channels, 1, 3, padding=1))
    model = nn.Sequential(*layers)
    init_weights(model)
    return model


def trainable_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

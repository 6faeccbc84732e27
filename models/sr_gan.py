"""The super-resolution GAN's two networks: a residual generator with sub-pixel (pixel-shuffle)
upsampling and a conditional PatchGAN discriminator (pix2pix style).

The generator works at the low resolution throughout and upsamples once, at the end, with a single
pixel shuffle: the costly 3x3 convolutions then run on scale² fewer pixels, which is what keeps a
64x64 -> 256x256 frame within the daemon's per-frame budget on one CPU thread. It predicts a
correction to the bicubic upscale of its input, so an untrained generator already starts at the
bicubic baseline and training only has to learn the detail bicubic misses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (2, 4)


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """The generator's shape; stored in the model card so a model directory rebuilds its module."""

    scale: int = 4
    width: int = 16
    blocks: int = 6

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale}")
        if self.width < 1 or self.blocks < 0:
            raise ValueError(f"width must be >= 1 and blocks >= 0, got {self.width} and {self.blocks}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv with an identity shortcut (EDSR style: no batch norm, which hurts SR)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """Gray images [B, 1, h, w] in [0, 1] -> [B, 1, h·scale, w·scale]; fully convolutional."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        width, scale = config.width, config.scale
        self.head = nn.Conv2d(1, width, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(width) for _ in range(config.blocks)))
        self.tail = nn.Conv2d(width, width, 3, padding=1)
        correction = nn.Conv2d(width, scale * scale, 3, padding=1)
        # The correction starts at zero: the untrained generator is exactly bicubic upscaling.
        for parameter in correction.parameters():
            nn.init.zeros_(parameter)
        self.upsample = nn.Sequential(correction, nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.tail(self.body(features))
        base = F.interpolate(x, scale_factor=self.config.scale, mode="bicubic", align_corners=False)
        return base + self.upsample(features)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: judges (bicubic-upscaled input, candidate) pairs patch by patch.

    Each output logit sees a ~34 px receptive field, so it judges local texture, which is what
    the L1 loss blurs; conditioning on the input stops it from rewarding detail that does not
    belong to that low-resolution image.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()

        def block(channels_in: int, channels_out: int, stride: int) -> list[nn.Module]:
            return [
                nn.Conv2d(channels_in, channels_out, 4, stride=stride, padding=1),
                nn.InstanceNorm2d(channels_out, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]

        self.layers = nn.Sequential(
            nn.Conv2d(2, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            *block(width, width * 2, 2),
            *block(width * 2, width * 4, 1),
            nn.Conv2d(width * 4, 1, 4, stride=1, padding=1),
        )

    def forward(self, condition: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([condition, candidate], dim=1))

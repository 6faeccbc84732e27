"""The U-Net (Ronneberger et al., 2015): a convolutional encoder/decoder whose skip connections carry
full-resolution detail past the bottleneck, so masks keep the edges of small defects while the deep
levels see enough context for large ones.

Width (channels of the first level, doubled at each level down) and depth (number of 2x down-
samplings) are configurable: together they set both the receptive field and the CPU cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True, slots=True)
class UNetConfig:
    """Shape of the network; stored in the model card so that a load rebuilds the same module."""

    width: int = 16
    depth: int = 3

    def __post_init__(self) -> None:
        if self.width < 1 or not 1 <= self.depth <= 6:
            raise ValueError(f"U-Net needs width >= 1 and depth 1..6, got {self.width}, {self.depth}")

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (pad, then crop the output back)."""
        return 2**self.depth

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _double_conv(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
        nn.Conv2d(outputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Maps normalised gray images [B, inputs, H, W] to defect logits [B, 1, H, W].

    `inputs` > 1 stacks further maps with the image (the image anomaly head takes the image and its
    reconstruction).
    """

    def __init__(self, config: UNetConfig, inputs: int = 1) -> None:
        super().__init__()
        self.config = config
        widths = [config.width * 2**level for level in range(config.depth + 1)]
        self.down = nn.ModuleList([_double_conv(inputs, widths[0])])
        self.down.extend(_double_conv(widths[i], widths[i + 1]) for i in range(config.depth))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(config.depth))
        )
        self.merge = nn.ModuleList(
            _double_conv(2 * widths[i], widths[i]) for i in reversed(range(config.depth))
        )
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)

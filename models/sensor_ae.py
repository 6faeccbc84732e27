"""The sensor window autoencoder: a small 1-D convolutional encoder/decoder over time.

Why convolutional and small: windows of a few dozen readings hold local shape (steps, oscillation,
drift) that shared 1-D kernels learn from a few hundred baseline windows, and the daemon scores
thousands of windows per second on one CPU core. The bottleneck (`latent` channels at a time
resolution reduced by 2**depth) keeps the network from learning the identity, so readings unlike
the baseline reconstruct badly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True, slots=True)
class SensorAEConfig:
    """Shape of the network; stored in the model card so that a load rebuilds the same module."""

    channels: int
    window: int
    width: int = 16
    depth: int = 2
    latent: int = 4
    kernel: int = 5

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise ValueError("the sensor autoencoder needs at least one channel")
        if self.depth < 1 or self.window % (2**self.depth):
            raise ValueError(f"window ({self.window}) must be divisible by 2**depth ({2**self.depth})")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel ({self.kernel}) must be odd")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class SensorAE(nn.Module):
    """Maps standardised windows [B, C, W] to their reconstruction [B, C, W]."""

    def __init__(self, config: SensorAEConfig) -> None:
        super().__init__()
        self.config = config
        pad = config.kernel // 2
        encoder: list[nn.Module] = [
            nn.Conv1d(config.channels, config.width, config.kernel, padding=pad),
            nn.ReLU(),
        ]
        decoder: list[nn.Module] = [nn.Conv1d(config.latent, config.width, 1), nn.ReLU()]
        for _ in range(config.depth):
            encoder += [
                nn.Conv1d(config.width, config.width, config.kernel, stride=2, padding=pad),
                nn.ReLU(),
            ]
            decoder += [nn.ConvTranspose1d(config.width, config.width, 4, stride=2, padding=1), nn.ReLU()]
        encoder.append(nn.Conv1d(config.width, config.latent, 1))
        decoder.append(nn.Conv1d(config.width, config.channels, config.kernel, padding=pad))
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(windows))

"""The image anomaly network (DRAEM, Zavrtanik et al., ICCV 2021): a reconstructive autoencoder
and a discriminative head, plus the SSIM + L1 error measure the autoencoder is trained with.

The autoencoder learns to give back the normal surface from an image with synthetic anomalies
pasted in; the head (a small U-Net) sees the image and that reconstruction side by side and learns
where they disagree because of an anomaly, rather than because of ordinary texture the autoencoder
renders imperfectly. Both are fully convolutional, so one set of weights takes crops in training
and whole images of any size (padded to a multiple of the stride) when scoring. The narrow latent
(few channels at 1/2**levels of the resolution) keeps the autoencoder from copying defects through.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.unet import UNet, UNetConfig

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # an 11x11 Gaussian window, as in Wang et al. 2004
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
PRIOR = 0.01  # the head's initial anomaly probability


@dataclass(frozen=True, slots=True)
class ImageAEConfig:
    """Architecture: the autoencoder's channels per encoder level (each halves the resolution) and
    latent channels; the discriminative head's U-Net width and depth."""

    widths: tuple[int, ...] = (16, 32, 64, 64)
    latent: int = 16
    head_width: int = 8
    head_depth: int = 3

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 1 or self.latent < 1:
            raise ValueError("widths must be positive channel counts and latent at least 1")
        UNetConfig(self.head_width, self.head_depth)  # raises on an impossible head

    @property
    def stride(self) -> int:
        """Inputs are padded to a multiple of this (the total downsampling of either network)."""
        return max(2 ** len(self.widths), 2**self.head_depth)

    @property
    def min_size(self) -> int:
        """Inputs are padded to at least this: the reflect-padded convolutions at the autoencoder's
        deepest level (1/2**len(widths)) need two pixels, which a strip 16 pixels high lacks."""
        return 2 ** (len(self.widths) + 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImageAEConfig:
        return cls(
            widths=tuple(values["widths"]),
            latent=int(values["latent"]),
            head_width=int(values["head_width"]),
            head_depth=int(values["head_depth"]),
        )


def _block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, padding_mode="reflect"),
        nn.LeakyReLU(0.1, inplace=True),
    )


class ImageAE(nn.Module):
    """Grayscale [B, 1, H, W] in [0, 1] -> reconstruction of the same shape (H, W multiples of stride)."""

    def __init__(self, config: ImageAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ImageAEConfig()
        widths = config.widths
        # The full-resolution levels dominate the cost: one convolution there, two deeper down.
        encoder: list[nn.Module] = [_block(1, widths[0], stride=2)]
        for previous, width in zip(widths, widths[1:], strict=False):
            encoder += [_block(previous, width, stride=2), _block(width, width)]
        encoder.append(nn.Conv2d(widths[-1], config.latent, 1))
        self.encoder = nn.Sequential(*encoder)
        decoder: list[nn.Module] = [_block(config.latent, widths[-1])]
        outputs = (*reversed(widths[:-1]), max(widths[0] // 2, 4))
        for channels, width in zip(reversed(widths), outputs, strict=True):
            decoder += [nn.Upsample(scale_factor=2, mode="nearest"), _block(channels, width)]
        decoder += [nn.Conv2d(outputs[-1], 1, 3, padding=1, padding_mode="reflect"), nn.Sigmoid()]
        self.decoder = nn.Sequential(*decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ImageAnomalyNet(nn.Module):
    """[B, 1, H, W] in [0, 1] -> (reconstruction [B, 1, H, W], anomaly logits [B, 1, H, W])."""

    def __init__(self, config: ImageAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ImageAEConfig()
        self.reconstructive = ImageAE(config)
        self.discriminative = UNet(UNetConfig(config.head_width, config.head_depth), inputs=2)
        # Start out predicting "normal" everywhere (p = 0.01, as RetinaNet does for its focal loss), so
        # that early training is not spent pulling the vast background down from p = 0.5.
        bias = self.discriminative.head.bias
        assert bias is not None  # a Conv2d with bias
        nn.init.constant_(bias, -math.log((1 - PRIOR) / PRIOR))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reconstruction = self.reconstructive(x)
        return reconstruction, self.discriminative(torch.cat([x, reconstruction], dim=1))


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Binary focal loss (Lin et al. 2017), DRAEM's loss for the head: pixels it already gets right
    (the vast normal background) weigh little, so small anomalies are not drowned out."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return ((1.0 - torch.exp(-bce)) ** gamma * bce).mean()


def gaussian_kernel(sigma: float, radius: int, device: torch.device) -> torch.Tensor:
    """A normalised 2-D Gaussian [1, 1, 2r+1, 2r+1] for depthwise filtering of one-channel maps."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    line = torch.exp(-(offsets**2) / (2 * sigma**2))
    line = line / line.sum()
    return (line[:, None] * line[None, :])[None, None]


def blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of [B, 1, H, W] with reflected borders (no dark frame at the edges)."""
    if sigma <= 0:
        return maps
    radius = max(1, int(round(3 * sigma)))
    radius = min(radius, maps.shape[-1] - 1, maps.shape[-2] - 1)
    padded = F.pad(maps, (radius,) * 4, mode="reflect")
    return F.conv2d(padded, gaussian_kernel(sigma, radius, maps.device))


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel structural similarity of two [B, 1, H, W] images in [0, 1] (1 = identical)."""
    mu_x, mu_y = blur(x, SSIM_SIGMA), blur(y, SSIM_SIGMA)
    var_x = blur(x * x, SSIM_SIGMA) - mu_x**2
    var_y = blur(y * y, SSIM_SIGMA) - mu_y**2
    cov = blur(x * y, SSIM_SIGMA) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)
    denominator = (mu_x**2 + mu_y**2 + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return numerator / denominator


def error_map(x: torch.Tensor, reconstruction: torch.Tensor, ssim_weight: float) -> torch.Tensor:
    """Per-pixel reconstruction error [B, 1, H, W]: SSIM dissimilarity mixed with absolute error.

    SSIM sees changed texture and structure at any brightness; L1 sees changed intensity over
    smooth areas where SSIM's local statistics carry little signal. Both lie in [0, 1].
    """
    dissimilarity = (1.0 - ssim_map(x, reconstruction)).clamp(0.0, 2.0) / 2.0
    return ssim_weight * dissimilarity + (1.0 - ssim_weight) * (x - reconstruction).abs()


def reconstruction_loss(reconstruction: torch.Tensor, x: torch.Tensor, ssim_weight: float) -> torch.Tensor:
    """Training loss: the mean of `error_map`, so the model learns what it is judged by."""
    return error_map(x, reconstruction, ssim_weight).mean()

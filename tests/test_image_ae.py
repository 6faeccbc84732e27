"""The autoencoder module and its error measure: shapes, and what the error map calls different."""

from __future__ import annotations

import pytest
import torch

from models.image_ae import ImageAE, ImageAEConfig, error_map, ssim_map


def test_reconstruction_has_input_shape() -> None:
    """Any multiple of the stride goes in, the same shape comes out, in [0, 1]."""
    module = ImageAE(ImageAEConfig(widths=(4, 8), latent=2))
    with torch.no_grad():
        out = module(torch.rand(2, 1, 12, 20))
    assert out.shape == (2, 1, 12, 20) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_error_map_zero_for_identical_and_local_for_a_change() -> None:
    """Identical images have no error; a changed spot has its largest error at the spot."""
    image = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.4
    assert float(error_map(image, image, 0.85).abs().max()) < 1e-5
    changed = image.clone()
    changed[..., 20:23, 8:11] = 0.0
    errors = error_map(image, changed, 0.85)[0, 0]
    row, col = divmod(int(errors.argmax()), 32)
    assert 18 <= row <= 24 and 6 <= col <= 12


def test_ssim_is_one_for_identical_images() -> None:
    """Structural similarity of an image with itself is 1 everywhere."""
    image = torch.rand(1, 1, 16, 16)
    assert torch.allclose(ssim_map(image, image), torch.ones(1, 1, 16, 16), atol=1e-4)


def test_config_rejects_empty_widths() -> None:
    """An encoder needs at least one level."""
    with pytest.raises(ValueError, match="widths must be positive"):
        ImageAEConfig(widths=(), latent=4)

"""The image anomaly network and the autoencoder's error measure: shapes, and what the error map and
the focal loss call different."""

from __future__ import annotations

import pytest
import torch

from models.image_ae import ImageAE, ImageAEConfig, ImageAnomalyNet, error_map, focal_loss, ssim_map


def test_reconstruction_has_input_shape() -> None:
    """Any multiple of the stride goes in, the same shape comes out, in [0, 1]."""
    module = ImageAE(ImageAEConfig(widths=(4, 8), latent=2))
    with torch.no_grad():
        out = module(torch.rand(2, 1, 12, 20))
    assert out.shape == (2, 1, 12, 20) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_anomaly_net_gives_reconstruction_and_logits_of_input_shape() -> None:
    """The network returns a reconstruction in [0, 1] and an anomaly map, both the input's shape."""
    module = ImageAnomalyNet(ImageAEConfig(widths=(4, 8), latent=2, head_width=4, head_depth=2)).eval()
    with torch.no_grad():
        reconstruction, logits = module(torch.rand(2, 1, 12, 20))
    assert reconstruction.shape == logits.shape == (2, 1, 12, 20)
    assert float(reconstruction.min()) >= 0 and float(reconstruction.max()) <= 1


def test_focal_loss_weighs_confident_right_pixels_little() -> None:
    """A confidently right pixel costs far less than a confidently wrong one."""
    target = torch.ones(1, 1, 1, 1)
    right, wrong = (
        focal_loss(torch.full_like(target, 4.0), target),
        focal_loss(torch.full_like(target, -4.0), target),
    )
    assert float(right) < 1e-4 < 1.0 < float(wrong)


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


def test_config_rejects_empty_widths_and_an_impossible_head() -> None:
    """An encoder needs at least one level, the head a depth the U-Net supports."""
    with pytest.raises(ValueError, match="widths must be positive"):
        ImageAEConfig(widths=(), latent=4)
    with pytest.raises(ValueError, match="depth 1..6"):
        ImageAEConfig(head_depth=0)


def test_stride_covers_both_networks() -> None:
    """Inputs are padded for whichever network downsamples more."""
    assert ImageAEConfig(widths=(4, 8), head_depth=3).stride == 8
    assert ImageAEConfig(widths=(4, 8, 8, 8), head_depth=3).stride == 16


@pytest.mark.parametrize("widths", [(4,), (4, 8), (4, 8, 8, 8)])
def test_min_size_is_the_thinnest_input_the_network_takes(widths: tuple[int, ...]) -> None:
    """A strip min_size high goes through; one stride thinner fails in the reflect-padded deepest level."""
    config = ImageAEConfig(widths=widths, latent=2, head_width=4, head_depth=1)
    module = ImageAnomalyNet(config).eval()
    with torch.no_grad():
        assert module(torch.rand(1, 1, config.min_size, 64))[1].shape == (1, 1, config.min_size, 64)
        with pytest.raises(RuntimeError, match="[Pp]adding size"):
            module(torch.rand(1, 1, config.min_size - config.stride, 64))

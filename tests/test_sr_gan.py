"""Generator and discriminator shapes: fully convolutional, any input size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.sr_gan import Generator, GeneratorConfig, PatchDiscriminator


@pytest.mark.parametrize("scale", [2, 4])
def test_output_is_scale_times_input_for_odd_sizes(scale: int) -> None:
    """A 13x7 input comes out 13·scale x 7·scale."""
    generator = Generator(GeneratorConfig(scale=scale, width=8, blocks=1)).eval()
    with torch.no_grad():
        output = generator(torch.rand(2, 1, 13, 7))
    assert output.shape == (2, 1, 13 * scale, 7 * scale)


def test_untrained_generator_is_bicubic_upscaling() -> None:
    """The correction starts at zero, so training starts from the bicubic baseline."""
    generator = Generator(GeneratorConfig(scale=4, width=8, blocks=2)).eval()
    x = torch.rand(1, 1, 9, 11)
    with torch.no_grad():
        expected = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
        torch.testing.assert_close(generator(x), expected)


def test_discriminator_judges_patches() -> None:
    """The PatchGAN gives a map of logits, one per overlapping patch, not one number per image."""
    discriminator = PatchDiscriminator(width=8)
    logits = discriminator(torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64))
    assert logits.shape[:2] == (2, 1)
    assert logits.shape[2] > 1 and logits.shape[3] > 1


def test_unsupported_scale_is_rejected() -> None:
    """Only x2 and x4 exist."""
    with pytest.raises(ValueError, match="scale must be one of"):
        GeneratorConfig(scale=3)

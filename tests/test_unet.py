"""The U-Net module: output at input resolution, configurable depth and width."""

from __future__ import annotations

import pytest
import torch

from models.unet import UNet, UNetConfig


@pytest.mark.parametrize(("width", "depth"), [(4, 1), (8, 3), (4, 4)])
def test_logits_have_the_input_size(width: int, depth: int) -> None:
    """A batch [B, 1, H, W] with H, W multiples of 2**depth maps to logits of the same shape."""
    module = UNet(UNetConfig(width=width, depth=depth)).eval()
    x = torch.randn(2, 1, 3 * 2**depth, 5 * 2**depth)
    assert module(x).shape == x.shape


def count(config: UNetConfig) -> int:
    return sum(parameter.numel() for parameter in UNet(config).parameters())


def test_width_and_depth_set_the_size_of_the_network() -> None:
    """Doubling the width roughly quadruples the parameters; one more level adds a deeper block."""
    assert 3.5 < count(UNetConfig(width=16, depth=3)) / count(UNetConfig(width=8, depth=3)) < 4.1
    assert count(UNetConfig(width=8, depth=4)) > 3 * count(UNetConfig(width=8, depth=3))
    assert UNetConfig(width=8, depth=4).multiple == 16


def test_skip_connections_carry_full_resolution_detail() -> None:
    """A one-pixel change in the input changes the output at that pixel, not only a blurred region."""
    module = UNet(UNetConfig(width=4, depth=3)).eval()
    x = torch.zeros(1, 1, 32, 32)
    poked = x.clone()
    poked[0, 0, 10, 20] = 5.0
    with torch.no_grad():
        delta = (module(poked) - module(x)).abs()[0, 0]
    assert delta[10, 20] > 0 and delta[10, 20] >= delta.max() * 0.05


def test_config_rejects_impossible_shapes() -> None:
    """Zero width or depth outside 1..6 fails when the config is made, not inside the forward pass."""
    with pytest.raises(ValueError, match="width >= 1 and depth 1..6"):
        UNetConfig(width=0)
    with pytest.raises(ValueError, match="width >= 1 and depth 1..6"):
        UNetConfig(depth=7)

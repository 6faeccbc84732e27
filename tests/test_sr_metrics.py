"""PSNR and SSIM as the super-resolution literature computes them."""

from __future__ import annotations

import numpy as np
import pytest

from models.sr_metrics import psnr, ssim


def test_psnr_of_a_known_error() -> None:
    """A uniform error of 0.1 is 20 dB; identical images are infinitely close."""
    target = np.full((16, 16), 0.5)
    assert psnr(target + 0.1, target) == pytest.approx(20.0)
    assert psnr(target, target) == float("inf")


def test_border_is_ignored() -> None:
    """Errors confined to the border do not count when the border is cut."""
    target = np.full((16, 16), 0.5)
    output = target.copy()
    output[:2] = 0.0
    assert psnr(output, target, border=2) == float("inf")
    assert psnr(output, target) < 20.0


def test_ssim_is_one_for_identical_and_lower_for_noisy() -> None:
    """SSIM rewards structure: noise lowers it below 1."""
    rng = np.random.default_rng(0)
    target = rng.random((32, 32))
    assert ssim(target, target) == pytest.approx(1.0)
    assert ssim(np.clip(target + rng.normal(0, 0.2, target.shape), 0, 1), target) < 0.9


def test_shape_mismatch_is_an_error() -> None:
    """Comparing different sizes is a caller bug, reported as such."""
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))

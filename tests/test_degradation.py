"""Degradation: the low-resolution training input a camera would deliver."""

from __future__ import annotations

import numpy as np
import pytest

from models.degradation import DegradationConfig, degrade, modcrop


def _image(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(1).random((height, width), dtype=np.float32)


@pytest.mark.parametrize(("scale", "size", "expected"), [(4, (37, 50), (9, 12)), (2, (33, 21), (16, 10))])
def test_low_resolution_size_is_the_floor_of_size_over_scale(
    scale: int, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    """An odd-sized image degrades to floor(size / scale), matching its modcropped original."""
    lr = degrade(_image(*size), scale, DegradationConfig(), np.random.default_rng(0))
    assert lr.shape == expected
    assert lr.dtype == np.float32
    assert modcrop(_image(*size), scale).shape == (expected[0] * scale, expected[1] * scale)


def test_same_seed_same_output_other_seed_differs() -> None:
    """The degradation is reproducible from the seed and random across seeds."""
    image = _image(64, 64)
    first = degrade(image, 4, DegradationConfig(), np.random.default_rng(7))
    again = degrade(image, 4, DegradationConfig(), np.random.default_rng(7))
    other = degrade(image, 4, DegradationConfig(), np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_degradation_keeps_the_image_content() -> None:
    """Blur, noise and JPEG change pixels a little, not the picture: a smooth ramp stays a ramp."""
    ramp = np.tile(np.linspace(0.1, 0.9, 64, dtype=np.float32), (64, 1))
    lr = degrade(ramp, 4, DegradationConfig(), np.random.default_rng(0))
    expected = np.tile(ramp[0, 1::4].reshape(16, 1).T, (16, 1))
    assert np.abs(lr - expected).mean() < 0.03


def test_invalid_ranges_are_rejected() -> None:
    """A reversed range is a configuration error, not a silent swap."""
    with pytest.raises(ValueError, match="blur_min <= blur_max"):
        DegradationConfig(blur_min=2.0, blur_max=1.0)
    with pytest.raises(ValueError, match="jpeg_min <= jpeg_max"):
        DegradationConfig(jpeg_min=90, jpeg_max=80)


def test_image_smaller_than_the_scale_is_rejected() -> None:
    """A 3-pixel image has no x4 low-resolution version."""
    with pytest.raises(ValueError, match="smaller than the scale"):
        degrade(_image(3, 3), 4, DegradationConfig(), np.random.default_rng(0))

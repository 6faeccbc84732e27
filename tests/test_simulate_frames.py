"""Synthetic inspection frames: reproducible, defects where the mask says, low-resolution views."""

from __future__ import annotations

import numpy as np
import pytest

from models.images import decode_gray
from monitor.simulate_frames import DEFECT_KINDS, encode_jpeg, low_resolution, make_frame, random_defects


def test_same_seed_same_frame_different_seed_different_surface() -> None:
    """Frames are reproducible from their seed, and seeds give different surfaces."""
    assert np.array_equal(make_frame(3, 64).image, make_frame(3, 64).image)
    assert not np.allclose(make_frame(3, 64).image, make_frame(4, 64).image)


def test_normal_frame_has_an_empty_mask() -> None:
    """A frame without defects has no ground-truth defect pixels."""
    frame = make_frame(0, 64)
    assert frame.mask.dtype == bool and not frame.mask.any() and frame.defects == ()
    assert frame.image.min() >= 0.0 and frame.image.max() <= 1.0


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_each_defect_changes_the_pixels_its_mask_marks(kind: str) -> None:
    """Every defect kind covers a small share of the image and visibly changes those pixels."""
    clean, defective = make_frame(7, 128), make_frame(7, 128, [kind])
    area = defective.mask.mean()
    assert 0.0005 < area < 0.05
    change = np.abs(defective.image - clean.image)
    assert change[defective.mask].mean() > 5 * change[~defective.mask].mean()


def test_unknown_defect_kind_is_refused() -> None:
    """A typo in a defect kind names the valid kinds."""
    with pytest.raises(ValueError, match="unknown defect kind 'dent'.*scratch"):
        make_frame(0, 64, ["dent"])


def test_low_resolution_divides_the_size_and_round_trips_through_jpeg() -> None:
    """The low-resolution view is 1/factor of the frame and survives JPEG encoding."""
    frame = make_frame(1, 128, ["blob"])
    low = low_resolution(frame.image, 4)
    assert low.shape == (32, 32)
    assert decode_gray(encode_jpeg(low)).shape == (32, 32)
    with pytest.raises(ValueError, match="must divide"):
        low_resolution(frame.image, 3)


def test_random_defects_respects_the_probability() -> None:
    """Probability 0 gives only normal frames, 1 only defective ones."""
    rng = np.random.default_rng(0)
    assert all(random_defects(rng, 0.0) == () for _ in range(20))
    assert all(random_defects(rng, 1.0) for _ in range(20))

"""describe_mask (area, count, boxes) and the mask metrics used by the evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from models.defects import MaskCounts, describe_mask


def test_describe_mask_counts_separate_defects_with_their_boxes() -> None:
    """Two separate rectangles give count 2, their boxes (x1, y1 exclusive) and the area share."""
    mask = np.zeros((10, 20), dtype=np.uint8)
    mask[1:3, 2:6] = 255  # 8 pixels
    mask[5:9, 10:12] = 255  # 8 pixels
    summary = describe_mask(mask)
    assert summary.count == 2
    assert summary.boxes == [(2, 1, 6, 3), (10, 5, 12, 9)]
    assert summary.area_percent == pytest.approx(100 * 16 / 200)


def test_describe_mask_joins_pixels_touching_at_a_corner() -> None:
    """A diagonal line is one defect (8-connectivity)."""
    summary = describe_mask(np.eye(5, dtype=bool))
    assert summary.count == 1
    assert summary.boxes == [(0, 0, 5, 5)]


def test_describe_empty_mask() -> None:
    """No defect: zero area, zero count, no boxes."""
    summary = describe_mask(np.zeros((4, 4), dtype=bool))
    assert (summary.area_percent, summary.count, summary.boxes) == (0.0, 0, [])


def test_describe_mask_rejects_a_batch() -> None:
    """A 3-D array is a caller error, not a mask."""
    with pytest.raises(ValueError, match="must be 2-D"):
        describe_mask(np.zeros((2, 4, 4), dtype=bool))


def test_mask_counts_give_iou_dice_and_false_positive_rate() -> None:
    """4 true pixels, 6 predicted, 3 shared: IoU 3/7, Dice 6/10, FP rate 3/96."""
    truth = np.zeros((10, 10), dtype=bool)
    truth[0, :4] = True
    predicted = np.zeros_like(truth)
    predicted[0, 1:7] = True
    counts = MaskCounts.of(predicted, truth)
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (3, 3, 1, 93)
    assert counts.defect_iou == pytest.approx(3 / 7)
    assert counts.background_iou == pytest.approx(93 / 97)
    assert counts.mean_iou == pytest.approx((3 / 7 + 93 / 97) / 2)
    assert counts.dice == pytest.approx(6 / 10)
    assert counts.false_positive_rate == pytest.approx(3 / 96)


def test_mask_counts_pool_by_addition_and_score_empty_as_perfect() -> None:
    """Counts add pixel-wise; an empty prediction of an empty truth has IoU 1."""
    empty = MaskCounts.of(np.zeros((3, 3)), np.zeros((3, 3)))
    assert empty.defect_iou == 1.0 and empty.dice == 1.0
    hit = MaskCounts.of(np.ones((1, 2)), np.ones((1, 2)))
    assert (empty + hit) == MaskCounts(tp=2, fp=0, fn=0, tn=9)


def test_mask_counts_reject_different_shapes() -> None:
    """Masks of different sizes cannot be compared."""
    with pytest.raises(ValueError, match="shapes differ"):
        MaskCounts.of(np.zeros((3, 3)), np.zeros((3, 4)))

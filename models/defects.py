"""What a defect mask says to an operator (area, count, boxes) and how well it matches a reference
mask (IoU, Dice, false-positive rate).

The daemon stores `describe_mask` in each inspection row; the evaluation script and the tests score
masks with `MaskCounts`, so every number in docs/evaluation.md is computed one way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# 8-connectivity: pixels touching at a corner belong to one defect (a thin diagonal crack is one).
_CONNECTIVITY = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True, slots=True)
class DefectSummary:
    """Defect area as a percentage of the image, number of connected defects, and one bounding box
    per defect as (x0, y0, x1, y1) in pixels with x1, y1 exclusive (numpy slice convention)."""

    area_percent: float
    count: int
    boxes: list[tuple[int, int, int, int]]


def label_defects(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The connected defects of a boolean mask [H, W]: a label image (0 background, 1..n) and n."""
    labels, count = ndimage.label(mask, structure=_CONNECTIVITY)
    return labels, int(count)


def describe_mask(mask: np.ndarray) -> DefectSummary:
    """Summarise a boolean mask [H, W] (any non-zero pixel is defect)."""
    mask = np.asarray(mask) != 0
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D [H, W], got shape {list(mask.shape)}")
    labels, count = label_defects(mask)
    boxes = [
        (int(cols.start), int(rows.start), int(cols.stop), int(rows.stop))
        for rows, cols in ndimage.find_objects(labels)
    ]
    area = 100.0 * float(mask.sum()) / max(mask.size, 1)
    return DefectSummary(area_percent=area, count=count, boxes=boxes)


@dataclass(frozen=True, slots=True)
class MaskCounts:
    """Pixel confusion counts of a predicted mask against a reference; add them to pool images.

    Definitions (defect = positive class):
    defect IoU = TP / (TP + FP + FN); background IoU = TN / (TN + FN + FP);
    mean IoU = their mean (the two-class mIoU of the segmentation literature);
    Dice = 2 TP / (2 TP + FP + FN); false-positive rate = FP / (FP + TN).
    A class absent from both masks has IoU 1 (nothing to find, nothing found).
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def of(cls, predicted: np.ndarray, truth: np.ndarray) -> MaskCounts:
        predicted, truth = np.asarray(predicted) != 0, np.asarray(truth) != 0
        if predicted.shape != truth.shape:
            raise ValueError(f"mask shapes differ: {list(predicted.shape)} vs {list(truth.shape)}")
        tp = int(np.count_nonzero(predicted & truth))
        fp = int(np.count_nonzero(predicted)) - tp
        fn = int(np.count_nonzero(truth)) - tp
        return cls(tp=tp, fp=fp, fn=fn, tn=int(truth.size) - tp - fp - fn)

    def __add__(self, other: MaskCounts) -> MaskCounts:
        return MaskCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def defect_iou(self) -> float:
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def background_iou(self) -> float:
        return _ratio(self.tn, self.tn + self.fp + self.fn)

    @property
    def mean_iou(self) -> float:
        return (self.defect_iou + self.background_iou) / 2

    @property
    def dice(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def false_positive_rate(self) -> float:
        return self.fp / max(self.fp + self.tn, 1)


def _ratio(hits: int, total: int) -> float:
    return 1.0 if total == 0 else hits / total

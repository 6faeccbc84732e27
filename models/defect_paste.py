"""Copy-paste augmentation for segmentation (Ghiasi et al., CVPR 2021): real defects cut from the
training images, pasted with a soft edge into other training crops.

Why: a line's defect images are few and show each defect in one place, under one lighting and in
one kind of surrounding. Pasting them at random places on other tiles (next to a tile's rim, on a
bright or a dark run, on defect-free tiles) teaches the U-Net that a defect is a defect wherever it
sits. On the magnetic tiles, blowholes at a tile's edge were missed entirely without it
(docs/evaluation.md). A pasted defect keeps its own contrast, not its surroundings' brightness:
it is stored as its deviation from the mean of a ring around it and added to the new background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from models.defects import label_defects

MARGIN = 6  # pixels of surrounding cut with a defect: room for the soft edge
FEATHER = 3  # the blend reaches this many pixels beyond the mask, then fades out
FEATHER_SIGMA = 1.5
RING = (2, 5)  # the background level is the mean of this band of pixels around the mask


@dataclass(frozen=True, slots=True)
class DefectPatch:
    """One connected defect: its pixels' deviation from the local background, its mask, and the
    blend weight (1 on the defect, fading to 0 within a few pixels around it)."""

    deviation: np.ndarray  # float32 [h, w]
    mask: np.ndarray  # bool [h, w]
    alpha: np.ndarray  # float32 [h, w] in [0, 1]


def cut_defects(image: np.ndarray, mask: np.ndarray) -> list[DefectPatch]:
    """Every connected defect of a (normalised) image [H, W] with its boolean mask, as a patch."""
    labels, _ = label_defects(mask)
    patches = []
    for index, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        rows = slice(max(rows.start - MARGIN, 0), min(rows.stop + MARGIN, image.shape[0]))
        cols = slice(max(cols.start - MARGIN, 0), min(cols.stop + MARGIN, image.shape[1]))
        own = labels[rows, cols] == index
        ring = ndimage.binary_dilation(own, iterations=RING[1]) & ~ndimage.binary_dilation(
            own, iterations=RING[0]
        )
        pixels = image[rows, cols]
        background = float(pixels[ring].mean()) if ring.any() else float(pixels.mean())
        spread = ndimage.binary_dilation(own, iterations=FEATHER).astype(np.float32)
        alpha = np.maximum(np.clip(ndimage.gaussian_filter(spread, FEATHER_SIGMA), 0.0, 1.0), own)
        patches.append(DefectPatch((pixels - background).astype(np.float32), own, alpha.astype(np.float32)))
    return patches


def paste_defect(
    image: np.ndarray, mask: np.ndarray, patch: DefectPatch, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`image` and `mask` [S, S] with `patch`, turned by a random quarter, pasted at a random place;
    unchanged when the patch does not fit. The defect sits on the mean level of where it lands."""
    turns = int(rng.integers(4))
    deviation, own, alpha = (np.rot90(array, turns) for array in (patch.deviation, patch.mask, patch.alpha))
    height, width = deviation.shape
    if height > image.shape[0] or width > image.shape[1]:
        return image, mask
    top, left = int(rng.integers(image.shape[0] - height + 1)), int(rng.integers(image.shape[1] - width + 1))
    window = (slice(top, top + height), slice(left, left + width))
    image, mask = image.copy(), mask.copy()
    under = image[window]
    image[window] = (1.0 - alpha) * under + alpha * (deviation + float(under.mean()))
    mask[window] = np.maximum(mask[window], own)
    return image, mask

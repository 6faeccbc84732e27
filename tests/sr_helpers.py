"""Generated high-resolution images for the super-resolution tests: sharp-edged shapes on a smooth
background, the kind of detail bicubic upscaling blurs and a trained generator restores."""

from __future__ import annotations

import numpy as np


def shapes_image(seed: int, size: int = 64) -> np.ndarray:
    """A gray [size, size] image in [0, 1]: a gradient with random bright and dark rectangles and discs."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    image = 0.3 + 0.2 * (rows + cols) / (2 * size)
    for _ in range(6):
        y, x = rng.integers(0, size, 2)
        extent = rng.integers(4, size // 3)
        level = rng.uniform(0.0, 1.0)
        if rng.random() < 0.5:
            image[y : y + extent, x : x + extent] = level
        else:
            image[(rows - y) ** 2 + (cols - x) ** 2 < extent**2] = level
    return np.clip(image, 0.0, 1.0).astype(np.float32)

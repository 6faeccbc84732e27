"""Generated inspection images with drawn defects, shared by the U-Net tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.images import save_png


def defect_image(
    rng: np.random.Generator, height: int = 48, width: int = 56
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy textured surface with one dark blob or a dark scratch; returns image and mask."""
    rows, cols = np.mgrid[0:height, 0:width]
    image = 0.55 + 0.05 * np.sin(cols / 3.0) + 0.03 * rng.standard_normal((height, width))
    if rng.random() < 0.5:
        r0, c0, radius = rng.integers(8, height - 8), rng.integers(8, width - 8), rng.uniform(3, 6)
        mask = (rows - r0) ** 2 + (cols - c0) ** 2 <= radius**2
    else:
        r0 = rng.integers(6, height - 6)
        mask = (
            (np.abs(rows - r0 - (cols - width / 2) * rng.uniform(-0.4, 0.4)) <= 1.5)
            & (cols > 8)
            & (cols < width - 8)
        )
    image[mask] -= 0.3
    return np.clip(image, 0, 1).astype(np.float32), mask


def defect_images(count: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    pairs = [defect_image(rng) for _ in range(count)]
    return [image for image, _ in pairs], [mask for _, mask in pairs]


def write_dataset(folder: Path, count: int, seed: int, image_suffix: str = ".png") -> tuple[Path, Path]:
    """`<folder>/images/sample_i<suffix>` and `<folder>/masks/sample_i.png` (0/255)."""
    images, masks = defect_images(count, seed)
    for index, (image, mask) in enumerate(zip(images, masks, strict=True)):
        save_png(folder / "images" / f"sample_{index}{image_suffix}", image)
        save_png(folder / "masks" / f"sample_{index}.png", np.where(mask, 255, 0).astype(np.uint8))
    return folder / "images", folder / "masks"

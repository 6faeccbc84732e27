"""Large images in overlapping tiles, so a fully convolutional model runs on any size in bounded memory.

Why: the U-Net and the super-resolution generator need memory in proportion to the pixels of one
forward pass (about 0.3 GB per megapixel for the U-Net on CPU), so a 12 MP frame, or a batch of
large frames, would not fit. An image above the model's whole-image limit is cut into equal tiles
with a margin of context on every side (reflected at the image border), the tiles run as batches
within a pixel budget, and only each tile's centre is kept: seams see the same neighbourhood as the
rest of the image, as long as the margin covers the model's reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Span = tuple[int, int, int]  # along one axis: window start, core start, core end


@dataclass(frozen=True, slots=True)
class TileGrid:
    """Where each tile was cut along each axis, and the image's size."""

    height: int
    width: int
    rows: list[Span]
    cols: list[Span]


def _spans(length: int, tile: int, margin: int) -> tuple[int, list[Span]]:
    """The window size along an axis and, per tile, its window start and the core it contributes.

    Windows stay inside the image (shifted inwards at its borders), so a border tile sees the
    image's real border, padded by the model itself, as the whole image would. For a network that
    downsamples, make the image, the tile and the margin multiples of its factor: every window
    then starts on the pooling grid of the whole image.
    """
    window = tile + 2 * margin
    if length <= window:
        return length, [(0, 0, length)]
    return window, [
        (min(max(core - margin, 0), length - window), core, min(core + tile, length))
        for core in range(0, length, tile)
    ]


def run_tiled(
    forward: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    tile: int,
    margin: int,
    budget: int,
    scale: int = 1,
) -> np.ndarray:
    """`forward` (a batch [B, h, w] in, [B, h·scale, w·scale] out) over the tiles of one image, as
    many per call as `budget` output pixels allow, joined into the image's output."""
    tiles, grid = _cut_tiles(image, tile, margin)
    step = per_pass(tiles.shape[1] * tiles.shape[2] * scale**2, budget, len(tiles))
    outputs = np.concatenate([forward(tiles[start : start + step]) for start in range(0, len(tiles), step)])
    return _join_tiles(outputs, grid, scale)


def _cut_tiles(image: np.ndarray, tile: int, margin: int) -> tuple[np.ndarray, TileGrid]:
    """Equal tiles [N, h, w] of a 2-D image (cores of `tile` with `margin` of context), row by row."""
    height, width = image.shape
    window_h, rows = _spans(height, tile, margin)
    window_w, cols = _spans(width, tile, margin)
    tiles = [image[top : top + window_h, left : left + window_w] for top, _, _ in rows for left, _, _ in cols]
    return np.stack(tiles), TileGrid(height, width, rows, cols)


def _join_tiles(outputs: np.ndarray, grid: TileGrid, scale: int = 1) -> np.ndarray:
    """The image made of each output tile's core; outputs may be `scale` times their input tiles."""
    joined = np.empty((grid.height * scale, grid.width * scale), dtype=outputs.dtype)
    for index, output in enumerate(outputs):
        row, col = divmod(index, len(grid.cols))
        (top, row_start, row_end), (left, col_start, col_end) = grid.rows[row], grid.cols[col]
        joined[row_start * scale : row_end * scale, col_start * scale : col_end * scale] = output[
            (row_start - top) * scale : (row_end - top) * scale,
            (col_start - left) * scale : (col_end - left) * scale,
        ]
    return joined


def per_pass(pixels_each: int, budget: int, most: int) -> int:
    """How many inputs of `pixels_each` pixels one forward pass takes: within `budget`, at most
    `most`, at least one."""
    return max(1, min(most, budget // max(pixels_each, 1)))

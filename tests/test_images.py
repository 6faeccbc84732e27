"""Image I/O and geometry: what every vision model and the daemon rely on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.images import (
    decode_gray,
    encode_png,
    list_images,
    load_gray,
    pad_to_multiple,
    resize,
    save_png,
)


def _gradient(height: int = 12, width: int = 20) -> np.ndarray:
    return np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))


def test_list_images_sorted_and_filtered(tmp_path: Path) -> None:
    """Only image suffixes (any case) are listed, sorted by name."""
    for name in ("b.png", "a.JPG", "notes.txt", "c.bmp"):
        (tmp_path / name).write_bytes(b"")
    assert [path.name for path in list_images(tmp_path)] == ["a.JPG", "b.png", "c.bmp"]


def test_list_images_empty_folder_names_it(tmp_path: Path) -> None:
    """A folder without images is a ValueError that names the folder."""
    with pytest.raises(ValueError, match=f"{tmp_path}: holds no images"):
        list_images(tmp_path)


def test_png_round_trip_keeps_pixels(tmp_path: Path) -> None:
    """save_png then load_gray gives the same image to 8-bit precision."""
    image = _gradient()
    save_png(tmp_path / "sub" / "g.png", image)
    loaded = load_gray(tmp_path / "sub" / "g.png")
    assert loaded.dtype == np.float32 and loaded.shape == image.shape
    assert np.abs(loaded - image).max() <= 0.5 / 255 + 1e-6


def test_decode_gray_reads_encoded_bytes() -> None:
    """Bytes from encode_png decode to the same image; uint8 input is accepted as is."""
    image = (_gradient() * 255).astype(np.uint8)
    assert np.array_equal((decode_gray(encode_png(image)) * 255).round().astype(np.uint8), image)


def test_decode_gray_rejects_garbage() -> None:
    """Bytes that are no image are a ValueError the daemon turns into a dead letter."""
    with pytest.raises(ValueError, match="undecodable image"):
        decode_gray(b"not an image at all")


def test_resize_to_height_width() -> None:
    """Size is (height, width) and the result stays float32 near the input's range."""
    out = resize(_gradient(12, 20), (24, 10))
    assert out.shape == (24, 10) and out.dtype == np.float32
    assert out.min() > -0.1 and out.max() < 1.1


def test_pad_to_multiple_pads_and_reports_original_size() -> None:
    """Odd sizes are padded up to the multiple; cropping back returns the input exactly."""
    batch = torch.rand(2, 1, 13, 30)
    padded, (height, width) = pad_to_multiple(batch, 8)
    assert padded.shape == (2, 1, 16, 32) and (height, width) == (13, 30)
    assert torch.equal(padded[..., :height, :width], batch)


def test_pad_to_multiple_handles_images_smaller_than_padding() -> None:
    """A 3x3 image padded to 16 still works (replicate instead of reflect)."""
    padded, size = pad_to_multiple(torch.rand(1, 1, 3, 3), 16)
    assert padded.shape == (1, 1, 16, 16) and size == (3, 3)

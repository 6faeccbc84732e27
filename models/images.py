"""Image I/O and geometry shared by every vision model, the CLI and the daemon.

Every model works on grayscale float32 arrays [H, W] in [0, 1]; this module is the one place that
turns files and network bytes into that form and back, so training, scoring and the daemon see the
same pixels for the same file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def list_images(directory: Path) -> list[Path]:
    """The image files directly inside `directory`, sorted by name; ValueError when there are none."""
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a folder")
    paths = sorted(
        path for path in directory.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )
    if not paths:
        raise ValueError(f"{directory}: holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths


def _to_gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def load_gray(path: Path) -> np.ndarray:
    """A file as float32 [H, W] in [0, 1]; ValueError naming the file when it cannot be decoded."""
    try:
        with Image.open(path) as image:
            return _to_gray(image)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"undecodable image: {path}: {exc}") from exc


def decode_gray(data: bytes) -> np.ndarray:
    """Encoded bytes (JPEG, PNG, BMP) as float32 [H, W] in [0, 1]; ValueError when undecodable."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return _to_gray(image)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"undecodable image: {exc}") from exc


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] (clipped) or uint8 -> uint8, the form written to disk."""
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """A grayscale image (float [0, 1] or uint8) as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: Path, image: np.ndarray) -> None:
    """Write a grayscale image as PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(image))


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a float image [H, W] to (height, width); float32, not clipped."""
    height, width = size
    if image.shape == (height, width):
        return image.astype(np.float32, copy=False)
    resized = Image.fromarray(np.asarray(image, dtype=np.float32), mode="F").resize(
        (width, height), Image.Resampling.BICUBIC
    )
    return np.asarray(resized, dtype=np.float32)


def pad_to_multiple(batch: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad a batch [B, C, H, W] on the bottom and right so H and W divide by `multiple`.

    Returns the padded batch and the original (h, w), so the output can be cropped back with
    `out[..., :h, :w]`. Reflection rather than zeros: a black border would look like a defect.
    """
    height, width = batch.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        # reflect needs pad < size; replicate covers images smaller than the padding
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        batch = F.pad(batch, (0, pad_w, 0, pad_h), mode=mode)
    return batch, (height, width)

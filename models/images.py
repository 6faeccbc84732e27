"""Image I/O and geometry shared by every vision model, the CLI and the daemon.

Every model works on grayscale float32 arrays [H, W] in [0, 1]; this module is the one place that
turns files and network bytes into that form and back, so training, scoring and the daemon see the
same pixels for the same file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
UINT16_MAX = 65535.0
T = TypeVar("T")


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


def check_unique_stems(paths: list[Path]) -> None:
    """ValueError naming two files whose base names differ only in extension or letter case.

    Whatever is named after an image's base name (a mask written by `monitor segment`, an upscaled
    PNG, the training mask looked up for it) would be shared by both: one output overwriting the
    other, or one mask taken for two different images.
    """
    seen: dict[str, Path] = {}
    for path in paths:
        other = seen.setdefault(path.stem.casefold(), path)
        if other is not path:
            raise ValueError(
                f"{other.name} and {path.name} in {path.parent} share the base name {path.stem!r}: "
                "each image needs a base name of its own; rename one"
            )


class ImageTooLarge(ValueError):
    """More pixels than the caller allows, found from the image header before any pixel is decoded."""


def _to_gray(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I"):
        # 16-bit gray (I;16, I;16B) from industrial mono cameras, or 32-bit integer gray (I):
        # convert("L") would clip every value above 255 to white, so scale the 16-bit range instead.
        pixels = np.asarray(image).astype(np.float32)
        return np.clip(pixels, 0.0, UINT16_MAX) / UINT16_MAX
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def upright(image: Image.Image) -> Image.Image:
    """The image as viewers display it: turned and mirrored by its EXIF orientation tag.

    Phones and some cameras store a frame sideways and set the tag; masks are drawn on the displayed
    image, so training and scoring must see that one. A malformed EXIF block leaves the stored
    pixels as they are: they are still a good image.
    """
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) == 1:
            return image  # the common case, without the copy exif_transpose makes
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _decode(
    source: Path | io.BytesIO,
    label: str,
    max_pixels: int | None,
    convert: Callable[[Image.Image], T],
    formats: tuple[str, ...] | None = None,
) -> T:
    """Decode, turn upright and `convert` (to gray, or to a mask's channels); every failure is a
    ValueError whose message names `label` (the file, or nothing). `formats`: the Pillow formats
    accepted (default: any it reads)."""
    try:
        with Image.open(source, formats=formats) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageTooLarge(
                    f"{label}{width}x{height} = {width * height / 1e6:.1f} MP > {max_pixels / 1e6:.1f} MP limit"
                )
            image.load()
            # turning swaps width and height at most: the pixel count checked above still holds
            return convert(upright(image))
    except ImageTooLarge:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{label}{exc}") from exc
    except UnidentifiedImageError as exc:  # its own text names a Python object, not the problem
        kinds = " or ".join(formats) if formats else "a format Pillow reads"
        raise ValueError(f"undecodable image: {label}not {kinds}") from exc
    except Exception as exc:
        # Deliberately broad: Pillow reports malformed input not only as OSError or ValueError but
        # also as SyntaxError ("broken PNG file"), struct.error and others, and any of them escaping
        # would kill the daemon's camera worker (and its batch) over one bad frame.
        raise ValueError(f"undecodable image: {label}{str(exc) or type(exc).__name__}") from exc


def load_gray(path: Path) -> np.ndarray:
    """A file as float32 [H, W] in [0, 1]; ValueError naming the file when it cannot be decoded."""
    return _decode(path, f"{path}: ", None, _to_gray)


def load_mask_channels(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A mask file's values as stored (not scaled to gray), turned upright like its image: the
    colour channels [H, W, C] (C = 1 for gray, 3 for colour; a palette image through its palette)
    and the alpha channel [H, W], or None without one. ValueError naming the file when unreadable."""
    return _decode(path, f"{path}: ", None, _channels)


def _channels(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    if image.mode in ("P", "PA"):
        transparent = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if transparent else "RGB")
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    bands = image.getbands()
    colour = [index for index, band in enumerate(bands) if band != "A"]
    alpha = pixels[..., bands.index("A")] if "A" in bands else None
    return pixels[..., colour], alpha


def decode_gray(
    data: bytes, max_pixels: int | None = None, formats: tuple[str, ...] | None = None
) -> np.ndarray:
    """Encoded bytes (JPEG, PNG, BMP, ... or only `formats`) as float32 [H, W] in [0, 1];
    ValueError when undecodable.

    With `max_pixels`, a larger image is refused from its header (ImageTooLarge) before its
    pixels are decoded: a few kilobytes of PNG can expand to gigabytes.
    """
    return _decode(io.BytesIO(data), "", max_pixels, _to_gray, formats)


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


def pad_to_multiple(
    batch: torch.Tensor, multiple: int, minimum: int = 1
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad a batch [B, C, H, W] on the bottom and right so H and W divide by `multiple`
    and are at least `minimum` (what a network with padded convolutions needs at its deepest level).

    Returns the padded batch and the original (h, w), so the output can be cropped back with
    `out[..., :h, :w]`. Reflection rather than zeros: a black border would look like a defect.
    """
    height, width = batch.shape[-2:]
    pad_h = max(height, minimum) + (-max(height, minimum)) % multiple - height
    pad_w = max(width, minimum) + (-max(width, minimum)) % multiple - width
    if pad_h or pad_w:
        # reflect needs pad < size; replicate covers images smaller than the padding
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        batch = F.pad(batch, (0, pad_w, 0, pad_h), mode=mode)
    return batch, (height, width)

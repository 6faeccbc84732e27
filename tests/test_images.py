"""Image I/O and geometry: what every vision model and the daemon rely on."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image
from png_helpers import broken_png, png_header_only

from models.images import (
    ImageTooLarge,
    check_unique_stems,
    decode_gray,
    encode_png,
    list_images,
    load_gray,
    load_mask_channels,
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


def test_every_decoder_failure_is_a_value_error(tmp_path: Path) -> None:
    """Pillow's SyntaxError ("broken PNG file") is an undecodable image too, for bytes and files
    alike: it must not escape and kill the camera worker or give the CLI a traceback."""
    with pytest.raises(ValueError, match="undecodable image: broken PNG file"):
        decode_gray(broken_png())
    (tmp_path / "broken.png").write_bytes(broken_png())
    with pytest.raises(ValueError, match=f"undecodable image: {tmp_path / 'broken.png'}: broken PNG"):
        load_gray(tmp_path / "broken.png")


def test_decompression_bomb_is_a_value_error() -> None:
    """An image above Pillow's own bomb limit is refused as too large, not raised as its own error."""
    with pytest.raises(ImageTooLarge, match="decompression bomb"):
        decode_gray(png_header_only(20_000, 10_000))


def test_too_many_pixels_are_refused_from_the_header() -> None:
    """With max_pixels the size is judged from the header, before decoding (this PNG holds no
    pixel data at all, so decoding it would fail otherwise)."""
    with pytest.raises(ImageTooLarge, match=r"^4096x4096 = 16\.8 MP > 8\.4 MP limit$"):
        decode_gray(png_header_only(4096, 4096), max_pixels=4096 * 2048)


def _encoded(image: Image.Image, format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "format"),
    [("I;16", "PNG"), ("I;16B", "TIFF"), ("I", "TIFF")],
    ids=["png16", "tiff16be", "tiff32"],
)
def test_sixteen_bit_gray_is_scaled_not_clipped(mode: str, format: str) -> None:
    """16-bit gray from mono cameras spans [0, 1] instead of turning white above 255; 32-bit
    integer gray is read on the same 16-bit scale."""
    values = np.array([[0, 255, 4095, 32768, 65535]])
    dtype = {"I;16": "<u2", "I;16B": ">u2", "I": "<i4"}[mode]
    image = Image.frombytes(mode, (5, 1), values.astype(dtype).tobytes())
    gray = decode_gray(_encoded(image, format))
    assert Image.open(io.BytesIO(_encoded(image, format))).mode == mode
    np.testing.assert_allclose(gray, values / 65535, atol=1e-7)


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


def test_pad_to_multiple_pads_up_to_a_minimum() -> None:
    """A strip thinner than `minimum` is padded to the first multiple at or above it; sides that
    already reach it are padded exactly as without a minimum."""
    batch = torch.rand(1, 1, 4, 40)
    padded, size = pad_to_multiple(batch, 8, minimum=32)
    assert padded.shape == (1, 1, 32, 40) and size == (4, 40)
    assert torch.equal(padded[..., :4, :40], batch)
    thick = torch.rand(1, 1, 13, 40)
    assert torch.equal(pad_to_multiple(thick, 8, minimum=8)[0], pad_to_multiple(thick, 8)[0])


def _sideways_jpeg(path: Path | io.BytesIO, orientation: int = 6) -> np.ndarray:
    """A JPEG stored 80 wide and 40 high whose EXIF tag says to show it turned (6: a quarter turn
    clockwise, as phones write portrait photos); returns the stored pixels (smooth, so JPEG keeps them)."""
    stored = np.tile(np.linspace(0, 255, 80, dtype=np.uint8), (40, 1))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    Image.fromarray(stored).save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return stored


def test_exif_orientation_gives_the_displayed_image(tmp_path: Path) -> None:
    """A sideways-stored JPEG is read as displayed (40 wide, 80 high, turned clockwise), from a file
    and from bytes alike, so its mask, drawn on the displayed image, fits it."""
    stored = _sideways_jpeg(tmp_path / "turned.jpg")
    loaded = load_gray(tmp_path / "turned.jpg")
    assert loaded.shape == (80, 40)
    np.testing.assert_allclose(loaded * 255, np.rot90(stored, -1), atol=3)
    assert decode_gray((tmp_path / "turned.jpg").read_bytes()).shape == (80, 40)


def test_exif_orientation_keeps_sixteen_bit_scaling_and_the_header_pixel_limit() -> None:
    """A turned 16-bit PNG is still scaled over 16 bits, and its pixel count is still judged from
    the header (turning only swaps width and height)."""
    values = np.array([[0, 4095, 65535]], dtype="<u2")
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    buffer = io.BytesIO()
    Image.frombytes("I;16", (3, 1), values.tobytes()).save(buffer, format="PNG", exif=exif.tobytes())
    gray = decode_gray(buffer.getvalue())
    np.testing.assert_allclose(gray, values.T / 65535, atol=1e-7)
    with pytest.raises(ImageTooLarge, match=r"^3x1 = 0\.0 MP"):
        decode_gray(buffer.getvalue(), max_pixels=2)


def test_an_unreadable_exif_block_keeps_the_stored_pixels() -> None:
    """A truncated EXIF block does not make a good image undecodable: it is read as stored."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 6), 128, np.uint8)).save(
        buffer, format="JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12"
    )
    with pytest.warns(UserWarning, match="Corrupt EXIF"):
        assert decode_gray(buffer.getvalue()).shape == (4, 6)


def test_base_names_shared_by_two_images_are_named(tmp_path: Path) -> None:
    """dup.png and dup.jpg (or DUP.bmp) would write or take the same <base name>.png: both named."""
    check_unique_stems([tmp_path / "a.png", tmp_path / "b.png"])
    with pytest.raises(ValueError, match=r"^dup\.jpg and dup\.png in .* share the base name 'dup'"):
        check_unique_stems([tmp_path / "dup.jpg", tmp_path / "dup.png"])
    with pytest.raises(ValueError, match=r"^dup\.jpg and DUP\.bmp"):
        check_unique_stems([tmp_path / "dup.jpg", tmp_path / "DUP.bmp"])


@pytest.mark.parametrize(
    ("image", "colour", "alpha"),
    [
        (Image.fromarray(np.array([[0, 1, 255]], np.uint8)), [[[0], [1], [255]]], None),
        (
            Image.frombytes("I;16", (3, 1), np.array([0, 1, 65535], "<u2").tobytes()),
            [[[0], [1], [65535]]],
            None,
        ),
        (
            Image.fromarray(np.array([[[0, 0, 0], [200, 0, 0], [0, 0, 9]]], np.uint8)),
            [[[0, 0, 0], [200, 0, 0], [0, 0, 9]]],
            None,
        ),
        (
            Image.fromarray(np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [7, 0, 0, 255]]], np.uint8)),
            [[[0, 0, 0], [0, 0, 0], [7, 0, 0]]],
            [[0, 255, 255]],
        ),
        (Image.fromarray(np.array([[False, True, True]])), [[[False], [True], [True]]], None),
    ],
    ids=["gray", "gray16", "rgb", "rgba", "bilevel"],
)
def test_mask_channels_are_the_values_as_stored(
    tmp_path: Path, image: Image.Image, colour: list[object], alpha: list[object] | None
) -> None:
    """Mask values are read raw, not scaled to gray: 0/1 stays 1, red stays (200, 0, 0); alpha apart."""
    image.save(tmp_path / "mask.png")
    read_colour, read_alpha = load_mask_channels(tmp_path / "mask.png")
    np.testing.assert_array_equal(read_colour, np.array(colour))
    if alpha is None:
        assert read_alpha is None
    else:
        np.testing.assert_array_equal(read_alpha, np.array(alpha))


def test_a_palette_mask_is_read_through_its_palette(tmp_path: Path) -> None:
    """Index 0 may be any colour in a palette PNG: the colours count, not the indices."""
    image = Image.fromarray(np.array([[0, 1]], np.uint8), mode="P")
    image.putpalette([255, 0, 0, 0, 0, 0])  # index 0 red, index 1 black
    image.save(tmp_path / "mask.png")
    colour, alpha = load_mask_channels(tmp_path / "mask.png")
    np.testing.assert_array_equal(colour, [[[255, 0, 0], [0, 0, 0]]])
    assert alpha is None

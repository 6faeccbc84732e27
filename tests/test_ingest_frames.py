"""Frame messages: binary payload with v5 properties, JSON envelope, and every rejection reason."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image
from png_helpers import broken_png, png_header_only

from models.images import encode_png
from monitor.ingest.frames import decode_frame
from monitor.ingest.schemas import InvalidMessage
from monitor.settings import CameraSettings
from monitor.simulate_frames import encode_jpeg, make_frame

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IMAGE = make_frame(1, 64).image


def decode(payload: bytes, properties: dict[str, str] | None = None, max_bytes: int = 1 << 20):  # type: ignore[no-untyped-def]
    return decode_frame(payload, properties, RECEIVED, max_bytes, site="s1", camera="cam")


def test_png_with_user_properties_keeps_pixels_time_and_id() -> None:
    """A PNG frame decodes losslessly; ts and frame_id come from the v5 user properties."""
    frame = decode(encode_png(IMAGE), {"ts": "2026-03-01T11:59:59.500Z", "frame_id": "f-17"})
    assert frame.key == "f-17@2026-03-01T11:59:59.500000+00:00"
    assert frame.ts == datetime(2026, 3, 1, 11, 59, 59, 500000, tzinfo=UTC)
    assert np.abs(frame.image - IMAGE).max() <= 1 / 255 + 1e-6
    assert (frame.site, frame.camera) == ("s1", "cam")


def test_jpeg_without_properties_uses_receive_time_and_a_content_key() -> None:
    """Without metadata the receive time is used and the same bytes always give the same key."""
    payload = encode_jpeg(IMAGE)
    first, again = decode(payload), decode(payload)
    assert first.ts == RECEIVED
    assert first.key == again.key and first.key.startswith("sha1:")
    assert first.image.shape == (64, 64)


def test_a_repeated_frame_id_is_a_new_frame_when_its_time_differs() -> None:
    """A camera restarting its counter repeats ids: with another publisher time the key differs, with
    the same (a redelivery) it does not."""
    png = encode_png(IMAGE)
    first = decode(png, {"ts": "2026-03-01T10:00:00Z", "frame_id": "7"})
    redelivered = decode(png, {"ts": "2026-03-01T10:00:00Z", "frame_id": "7"})
    after_reboot = decode(png, {"ts": "2026-03-02T08:00:00Z", "frame_id": "7"})
    assert first.key == redelivered.key != after_reboot.key


@pytest.mark.parametrize("meta", [{"frame_id": "7"}, {"ts": "2026-03-01T10:00:00Z"}])
def test_an_id_or_a_time_alone_tells_a_redelivery_from_a_new_frame_by_its_bytes(meta: dict[str, str]) -> None:
    """Without the other, a restarted counter's id or a whole-second time repeats for new frames;
    the image bytes, which a redelivery repeats and a new frame does not, tell them apart."""
    png, other = encode_png(IMAGE), encode_png(1.0 - IMAGE)
    assert decode(png, meta).key == decode(png, meta).key != decode(other, meta).key
    assert decode(png, meta).key.startswith(
        "7#" if "frame_id" in meta else "ts:2026-03-01T10:00:00.000000+00:00#"
    )


def test_json_envelope_carries_time_id_and_image() -> None:
    """The MQTT 3.1.1 envelope {ts, frame_id, image_b64} gives the same frame as the binary form."""
    envelope = {
        "ts": "2026-03-01T10:00:00Z",
        "frame_id": 42,
        "image_b64": base64.b64encode(encode_png(IMAGE)).decode(),
    }
    frame = decode(json.dumps(envelope).encode())
    assert frame.key == "42@2026-03-01T10:00:00.000000+00:00"
    assert frame.ts == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert frame.image.shape == IMAGE.shape


@pytest.mark.parametrize(
    ("payload", "properties", "reason"),
    [
        (b"\x00garbage bytes, not an image", None, "undecodable_image"),
        (encode_jpeg(IMAGE)[:200], None, "undecodable_image"),
        (broken_png(), None, "undecodable_image"),
        (b'{"ts": "2026-03-01T10:00:00Z"}', None, "missing_field"),
        (b'{"image_b64": "@@@not base64@@@"}', None, "bad_base64"),
        (b"{not json", None, "invalid_json"),
        (encode_png(IMAGE), {"ts": "yesterday"}, "bad_timestamp"),
        (encode_png(IMAGE), {"ts": "0001-01-01T00:00:00+01:00"}, "bad_timestamp"),
        (encode_png(IMAGE), {"ts": "9999-12-31T23:59:59-01:00"}, "bad_timestamp"),
        (encode_png(np.zeros((4, 4), dtype=np.float32)), None, "bad_image_size"),
    ],
)
def test_bad_frames_raise_invalid_message_with_a_reason(
    payload: bytes, properties: dict[str, str] | None, reason: str
) -> None:
    """Garbage, truncated JPEG, a broken PNG chunk, broken envelopes and tiny images are rejected
    with a stable reason."""
    with pytest.raises(InvalidMessage, match=f"^{reason}") as info:
        decode(payload, properties)
    assert info.value.reason == reason


def test_oversized_frame_is_rejected_before_decoding() -> None:
    """A payload above the camera's limit is refused without touching the image decoder."""
    with pytest.raises(InvalidMessage, match=r"oversized: \d+ bytes > 100"):
        decode(encode_png(IMAGE), max_bytes=100)


def test_frame_with_too_many_pixels_is_oversized_before_decoding() -> None:
    """A small PNG that declares 4096x4096 pixels is refused from its header (it holds no pixel data,
    so a decode attempt would have made it undecodable_image instead)."""
    payload = png_header_only(4096, 4096)
    with pytest.raises(InvalidMessage, match=r"^oversized: 4096x4096 = 16\.8 MP > 8\.4 MP limit$"):
        decode_frame(payload, None, RECEIVED, 1 << 20, site="s1", camera="cam", max_pixels=4096 * 2048)


def test_default_pixel_limit_is_the_settings_default() -> None:
    """Without max_pixels a frame is held to the camera settings' default limit."""
    limit = CameraSettings().max_frame_pixels
    with pytest.raises(InvalidMessage, match=f"> {limit / 1e6:.1f} MP limit"):
        decode(png_header_only(limit + 1, 1))


@pytest.mark.parametrize(("fmt", "mode"), [("TIFF", "F"), ("BMP", "L"), ("GIF", "L")])
def test_a_frame_in_another_format_than_jpeg_or_png_is_refused_by_name(fmt: str, mode: str) -> None:
    """The frame contract is JPEG or PNG: a float TIFF (which would decode almost black), a BMP or a
    GIF is `undecodable_image: not JPEG or PNG`, not a silently wrong frame."""
    buffer = io.BytesIO()
    pixels = IMAGE if mode == "F" else (IMAGE * 255).astype(np.uint8)
    Image.fromarray(pixels.astype(np.float32) if mode == "F" else pixels, mode=mode).save(buffer, format=fmt)
    with pytest.raises(InvalidMessage, match="^undecodable_image: not JPEG or PNG$"):
        decode(buffer.getvalue())

"""Decode camera frame messages; everything unusable becomes an `InvalidMessage(reason)`.

The frame contract (fixed): the payload is the encoded image (JPEG or PNG bytes) with the timestamp
and frame id in MQTT v5 user properties `ts` and `frame_id`, or, for MQTT 3.1.1 clients, a JSON
envelope `{"ts": …, "frame_id": …, "image_b64": …}`. Both are optional metadata: without `ts` the
receive time is used; without `frame_id` the frame is keyed by its timestamp (or, lacking both, by
a digest of its bytes), so a redelivered frame maps to the same inspection row.

Runs on the camera worker's thread, never on the network thread: decoding a 256x256 JPEG costs
about a millisecond.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from models.images import ImageTooLarge, decode_gray
from monitor.ingest.schemas import InvalidMessage
from monitor.settings import MAX_FRAME_PIXELS

FRAME_KEY_MAX = 128
_ENVELOPE_START = b"{"
_SPACE = b" \t\r\n"


@dataclass(slots=True)
class Frame:
    """One decoded frame: grayscale float32 [H, W] in [0, 1], with its time and idempotency key."""

    site: str
    camera: str
    ts: datetime
    key: str
    image: np.ndarray


FRAME_FORMATS = ("JPEG", "PNG")  # the frame contract's: a float TIFF would decode almost black


def decode_frame(
    payload: bytes,
    properties: dict[str, str] | None,
    received_at: datetime,
    max_bytes: int,
    *,
    site: str,
    camera: str,
    max_pixels: int = MAX_FRAME_PIXELS,
) -> Frame:
    """Turn one frame message into a Frame, or raise InvalidMessage (oversized, bad_envelope, …).

    `max_bytes` bounds the message, `max_pixels` the decoded image (checked from its header first:
    a 22 KB PNG can hold 4096x4096 pixels).
    """
    if len(payload) > max_bytes:
        raise InvalidMessage("oversized", f"{len(payload)} bytes > {max_bytes}")
    meta = dict(properties or {})
    if payload.lstrip(_SPACE)[:1] == _ENVELOPE_START:
        image_bytes, meta = _envelope(payload)
    else:
        image_bytes = payload
    ts = _timestamp(meta.get("ts"), received_at)
    frame_id = meta.get("frame_id")
    if frame_id is not None and not 1 <= len(frame_id) <= FRAME_KEY_MAX:
        raise InvalidMessage("bad_frame_id", f"length {len(frame_id)}, must be 1..{FRAME_KEY_MAX}")
    try:
        image = decode_gray(image_bytes, max_pixels, FRAME_FORMATS)
    except ImageTooLarge as exc:
        raise InvalidMessage("oversized", str(exc)[:200]) from None
    except ValueError as exc:
        raise InvalidMessage(
            "undecodable_image", str(exc).removeprefix("undecodable image: ")[:200]
        ) from None
    if image.ndim != 2 or min(image.shape) < 8:
        raise InvalidMessage("bad_image_size", f"{list(image.shape)}: frames must be at least 8x8")
    return Frame(
        site=site, camera=camera, ts=ts, key=_key(frame_id, meta.get("ts"), ts, image_bytes), image=image
    )


def _envelope(payload: bytes) -> tuple[bytes, dict[str, str]]:
    """The JSON envelope's image bytes and metadata."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise InvalidMessage("invalid_json") from None
    if not isinstance(document, dict):
        raise InvalidMessage("not_an_object")
    encoded = document.get("image_b64")
    if not isinstance(encoded, str):
        raise InvalidMessage("missing_field", "image_b64")
    try:
        image = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidMessage("bad_base64", "image_b64") from None
    meta = {name: str(document[name]) for name in ("ts", "frame_id") if document.get(name) is not None}
    return image, meta


def _timestamp(text: str | None, received_at: datetime) -> datetime:
    if text is None:
        return received_at
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except ValueError:
        raise InvalidMessage("bad_timestamp", text[:64]) from None
    except OverflowError:  # an offset that moves year 1 or 9999 out of range
        raise InvalidMessage("bad_timestamp", f"{text[:64]} is out of range") from None


def _key(frame_id: str | None, ts_text: str | None, ts: datetime, image: bytes) -> str:
    """The (camera, frame_key) idempotency key: what a redelivery repeats and a new frame does not.

    Frame id and publisher time together (a camera that restarts its counter repeats ids, not
    times). Either alone is not enough: a restarted counter repeats an id, a clock with whole seconds
    gives several frames one time; a digest of the image bytes (repeated by a redelivery, not by a
    new frame) goes with it then, and alone without either. Never the receive time: a redelivery
    arrives later.
    """
    when = ts.isoformat(timespec="microseconds") if ts_text is not None else None
    if frame_id is not None and when is not None:
        return f"{frame_id}@{when}"
    digest = hashlib.sha1(image, usedforsecurity=False).hexdigest()
    if frame_id is not None:
        return f"{frame_id}#{digest[:16]}"
    if when is not None:
        return f"ts:{when}#{digest[:16]}"
    return "sha1:" + digest

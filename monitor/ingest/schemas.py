"""Decode and validate sensor payloads; everything invalid becomes an `InvalidMessage(reason)`.

The payload contract (fixed): `{"ts": ISO-8601, "values": {channel: number}}` or a JSON list of such
objects; `ts` is optional (the receive time is used). pydantic's Rust JSON parser validates in one
pass (about 3.5 µs per reading here, twice as fast as `json.loads` plus hand checks), and its error
types map onto short, stable reason codes that label the dead-letter rows and the metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from monitor.ingest.topics import NAME_RE

_REASONS = {
    "json_invalid": "invalid_json",
    "model_type": "not_an_object",
    "list_type": "not_an_object",
    "missing": "missing_field",
    "dict_type": "bad_values",
    "too_short": "empty_values",
    "too_long": "bad_channel_name",
    "string_too_short": "bad_channel_name",
    "string_too_long": "bad_channel_name",
    "finite_number": "non_finite",
    "float_type": "wrong_type",
    "float_parsing": "wrong_type",
    "datetime_type": "bad_timestamp",
    "datetime_parsing": "bad_timestamp",
    "datetime_from_date_parsing": "bad_timestamp",
}


class InvalidMessage(Exception):
    """A message that cannot be scored; `reason` is a short code, `detail` says where."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class SensorReading:
    site: str
    asset: str
    ts: datetime
    values: dict[str, float]


class _Reading(BaseModel):
    # Extra keys (a simulator's fault label, a sequence number) are ignored, not errors.
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")
    ts: datetime | None = None
    values: dict[Annotated[str, Field(min_length=1, max_length=64)], float] = Field(min_length=1)


# The adapters' core validators, called directly: skips ~2 µs of Python wrapper per message.
_ONE = TypeAdapter(_Reading).validator
_MANY = TypeAdapter(list[_Reading]).validator
_SPACE = b" \t\r\n"


def decode_sensor_payload(
    payload: bytes,
    received_at: datetime,
    max_bytes: int,
    *,
    site: str,
    asset: str,
    max_abs: float = math.inf,
) -> list[SensorReading]:
    """Turn one MQTT payload into readings of `site`/`asset`, or raise InvalidMessage; a value of
    magnitude over `max_abs` (a sensor-fault code) is `out_of_range`."""
    if len(payload) > max_bytes:
        raise InvalidMessage("oversized", f"{len(payload)} bytes > {max_bytes}")
    is_batch = payload.lstrip(_SPACE)[:1] == b"["
    try:
        parsed = _MANY.validate_json(payload) if is_batch else [_ONE.validate_json(payload)]
    except ValidationError as exc:
        raise _invalid(payload, exc) from None
    if not parsed:
        raise InvalidMessage("empty_batch")
    for item in parsed:
        if max(map(abs, item.values.values())) > max_abs:  # in C: ~0.35 µs for 8 channels
            name, value = max(item.values.items(), key=lambda pair: abs(pair[1]))
            raise InvalidMessage("out_of_range", f"{name}={value:g} (sensors.max_abs_value {max_abs:g})")
    return [
        SensorReading(site, asset, received_at if item.ts is None else _utc(item.ts), item.values)
        for item in parsed
    ]


def check_channels(reading: SensorReading, channels: Iterable[str]) -> None:
    """Refuse a reading that lacks a channel the asset's model needs (extra channels are fine)."""
    missing = [name for name in channels if name not in reading.values]
    if missing:
        raise InvalidMessage("missing_channels", ",".join(missing[:8]))


def check_asset(asset: str, strict: bool, known: Iterable[str]) -> None:
    """In strict mode only configured assets are accepted; others are not commissioned."""
    if not NAME_RE.fullmatch(asset):
        raise InvalidMessage("bad_asset_name", asset[:64])
    if strict and asset not in known:
        raise InvalidMessage("unknown_asset", asset)


def _utc(ts: datetime) -> datetime:
    """Naive means UTC; an explicit offset is kept (an aware datetime is one instant either way),
    unless it puts the instant outside the years 1-9999, where no later step could handle it."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    if ts.year in (1, 9999):
        try:
            ts.astimezone(UTC)
        except OverflowError:
            raise InvalidMessage("bad_timestamp", f"{ts.isoformat()} is out of range") from None
    return ts


def _invalid(payload: bytes, exc: ValidationError) -> InvalidMessage:
    first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return InvalidMessage("not_utf8")
    reason = _REASONS.get(first["type"], "invalid")
    location = ".".join(str(part) for part in first["loc"])
    return InvalidMessage(reason, location or str(first["msg"]))

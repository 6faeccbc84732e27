"""Sensor payload decoding: the fixed contract accepted, everything else refused with a precise reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.ingest.schemas import (
    InvalidMessage,
    SensorReading,
    check_asset,
    check_channels,
    decode_sensor_payload,
)

NOW = datetime(2026, 11, 23, 5, 0, 1, tzinfo=UTC)


def decode(payload: bytes, max_bytes: int = 65536) -> list[SensorReading]:
    return decode_sensor_payload(payload, NOW, max_bytes, site="s1", asset="pump1")


def test_single_reading_keeps_its_timestamp_and_values() -> None:
    """A single object gives one reading with its own UTC timestamp and float values."""
    [reading] = decode(b'{"ts": "2026-11-23T05:00:00.000Z", "values": {"p": 1, "t": 2.5}}')
    assert (reading.site, reading.asset) == ("s1", "pump1")
    assert reading.ts == datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert reading.values == {"p": 1.0, "t": 2.5}


def test_missing_timestamp_uses_receive_time_and_naive_means_utc() -> None:
    """`ts` is optional (receive time); a timestamp without zone is read as UTC."""
    assert decode(b'{"values": {"p": 1}}')[0].ts == NOW
    assert decode(b'{"ts": "2026-11-23T05:00:00", "values": {"p": 1}}')[0].ts.tzinfo is not None


def test_batch_gives_readings_in_order() -> None:
    """A JSON list is a batch of readings, kept in order; extra keys are ignored."""
    payload = b' [{"ts": "2026-11-23T05:00:00Z", "values": {"p": 1}}, {"values": {"p": 2}, "label": 1}]'
    assert [r.values["p"] for r in decode(payload)] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{bad json", "invalid_json"),
        (b"\xff\xfe\x00\x81garbage", "not_utf8"),
        (b'"just a string"', "not_an_object"),
        (b"[]", "empty_batch"),
        (b'{"ts": "2026-11-23T05:00:00Z"}', "missing_field"),
        (b'{"values": {}}', "empty_values"),
        (b'{"values": [1, 2]}', "bad_values"),
        (b'{"values": {"p": NaN}}', "non_finite"),
        (b'{"values": {"p": Infinity}}', "non_finite"),
        (b'{"values": {"p": 1e999}}', "non_finite"),
        (b'{"values": {"p": "1.5"}}', "wrong_type"),
        (b'{"values": {"p": true}}', "wrong_type"),
        (b'{"values": {"p": null}}', "wrong_type"),
        (b'{"ts": "yesterday", "values": {"p": 1}}', "bad_timestamp"),
        (b'{"ts": 1700000000, "values": {"p": 1}}', "bad_timestamp"),
        (b'{"ts": "0001-01-01T00:00:00+01:00", "values": {"p": 1}}', "bad_timestamp"),
        (b'[{"values": {"p": 1}}, {"ts": "9999-12-31T23:59:59-01:00", "values": {"p": 1}}]', "bad_timestamp"),
        (b'[{"values": {"p": 1}}, {"values": {"p": "x"}}]', "wrong_type"),
    ],
)
def test_invalid_payloads_are_refused_with_their_reason(payload: bytes, reason: str) -> None:
    """Each kind of bad payload raises InvalidMessage naming what is wrong."""
    with pytest.raises(InvalidMessage, match=f"^{reason}") as info:
        decode(payload)
    assert info.value.reason == reason


def test_oversized_payload_is_refused_before_parsing() -> None:
    """A payload above max_payload_bytes is refused as oversized, with its size."""
    with pytest.raises(InvalidMessage, match="oversized: 200 bytes > 64"):
        decode(b" " * 190 + b'{"a":1}' + b" " * 3, max_bytes=64)


def test_missing_model_channel_is_refused() -> None:
    """A reading without a channel the model needs names the missing channel."""
    [reading] = decode(b'{"values": {"p": 1}}')
    with pytest.raises(InvalidMessage, match="missing_channels: t"):
        check_channels(reading, ["p", "t"])


def test_strict_mode_refuses_unknown_assets() -> None:
    """With strict_assets only configured assets pass; otherwise any well-formed name does."""
    check_asset("pump9", strict=False, known=[])
    check_asset("pump1", strict=True, known=["pump1"])
    with pytest.raises(InvalidMessage, match="unknown_asset: pump9"):
        check_asset("pump9", strict=True, known=["pump1"])

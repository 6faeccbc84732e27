"""The `at` link parameter and the preset ranges of the history pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.timerange import parse_at, preset_range

T = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T10:00:00Z",
        "2026-11-24T10:00:00+00:00",
        "2026-11-24T10:00:00 00:00",
        "2026-11-24T11:00:00+01:00",
        "2026-11-24 10:00:00",
    ],
)
def test_at_accepts_iso_times_as_links_deliver_them(text: str) -> None:
    """Z, offsets (also a '+' decoded to a space by the URL) and naive UTC all mean the same instant."""
    assert parse_at(text) == T


def test_at_refuses_a_non_time_in_one_line() -> None:
    """A malformed time is named in a one-line message; no parameter means no time."""
    with pytest.raises(ValueError, match=r"^at='noon' is not an ISO 8601 time"):
        parse_at("noon")
    assert parse_at(None) is None and parse_at("") is None


def test_preset_range_is_centred_on_at_else_ends_now() -> None:
    """A link's time sits in the middle of the range; without one the range ends now."""
    assert preset_range(timedelta(hours=1), T, T + timedelta(days=1)) == (
        T - timedelta(minutes=30),
        T + timedelta(minutes=30),
    )
    assert preset_range(timedelta(days=7), None, T) == (T - timedelta(days=7), T)

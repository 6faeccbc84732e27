"""The time range a history page shows: presets (1 h, 24 h, 7 d) or custom, centred on the `at`
query parameter when a link from an alert brought the user here, else ending now. Times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

PRESETS = {"1 h": timedelta(hours=1), "24 h": timedelta(days=1), "7 d": timedelta(days=7)}
CUSTOM = "custom"


def parse_at(text: str | None) -> datetime | None:
    """The `at` query parameter (ISO 8601; naive means UTC) as an aware UTC time; None when absent.
    ValueError with a one-line message when it is not a time."""
    if not text:
        return None
    cleaned = text.strip().replace("Z", "+00:00")
    if "T" in cleaned:  # a '+' in a URL's query string arrives as a space: "…T10:00:00 00:00"
        cleaned = cleaned.replace(" ", "+")
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"at={text!r} is not an ISO 8601 time (e.g. 2026-11-24T10:00:00Z)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def preset_range(span: timedelta, at: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """`span` ending now, or centred on `at`."""
    if at is None:
        return now - span, now
    return at - span / 2, at + span / 2


def pick_range(key: str, at: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The range widget: a preset row, and From/To inputs for a custom range (shown only then)."""
    choice = st.segmented_control(
        "Time range (UTC)", [*PRESETS, CUSTOM], default="1 h", required=True, key=f"{key}-range"
    )
    start, end = preset_range(PRESETS.get(str(choice), PRESETS["1 h"]), at, now)
    if choice != CUSTOM:
        return start, end
    first, second = st.columns(2)
    chosen_start = first.datetime_input("From", value=start.replace(tzinfo=None), key=f"{key}-from")
    chosen_end = second.datetime_input("To", value=end.replace(tzinfo=None), key=f"{key}-to")
    if chosen_start is None or chosen_end is None or chosen_end <= chosen_start:
        st.error("The custom range needs a start before its end.")
        st.stop()
    return chosen_start.replace(tzinfo=UTC), chosen_end.replace(tzinfo=UTC)


def at_param() -> datetime | None:
    """The `at` query parameter, or None (with a warning on the page when it is malformed)."""
    try:
        return parse_at(st.query_params.get("at"))
    except ValueError as exc:
        st.warning(str(exc))
        return None

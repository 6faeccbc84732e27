"""Publisher times far from the receive time are refused, with the setting named; None turns a check off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.ingest.clock import ClockLimits
from monitor.ingest.schemas import InvalidMessage

RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIMITS = ClockLimits(ahead_s=600, age_s=7 * 86400)


def test_times_within_the_limits_pass() -> None:
    """A batch from 7 days back up to 10 minutes ahead (clock skew, a gateway's replay) is accepted."""
    LIMITS.check(RECEIVED - timedelta(days=7), RECEIVED + timedelta(seconds=600), RECEIVED)


@pytest.mark.parametrize(
    ("earliest", "latest", "reason", "detail"),
    [
        (RECEIVED, RECEIVED + timedelta(seconds=601), "ts_in_future", "601 s ahead"),
        (RECEIVED - timedelta(days=7, seconds=1), RECEIVED, "ts_too_old", "604801 s before"),
        (datetime(1970, 1, 1, tzinfo=UTC), RECEIVED, "ts_too_old", "1970-01-01T00:00:00.000+00:00"),
    ],
)
def test_times_beyond_the_limits_are_refused(
    earliest: datetime, latest: datetime, reason: str, detail: str
) -> None:
    """The reason says which way the clock is off; the detail gives the time and the setting to change."""
    with pytest.raises(InvalidMessage, match=re.escape(detail)) as caught:
        LIMITS.check(earliest, latest, RECEIVED)
    assert caught.value.reason == reason
    assert ("mqtt.max_ts_ahead_s" if reason == "ts_in_future" else "mqtt.max_ts_age_s") in caught.value.detail


def test_an_offset_is_compared_as_the_instant_it_names() -> None:
    """12:09 at UTC+2 is 10:09 UTC: two hours behind a 12:00 UTC receive time, not nine minutes ahead."""
    east = datetime(2026, 11, 25, 12, 9, tzinfo=timezone(timedelta(hours=2)))
    ClockLimits(ahead_s=0, age_s=3 * 3600).check(east, east, RECEIVED)
    with pytest.raises(InvalidMessage, match="ts_too_old"):
        ClockLimits(ahead_s=0, age_s=3600).check(east, east, RECEIVED)


def test_none_turns_a_check_off() -> None:
    """A site that replays years of history over MQTT can switch both checks off."""
    ClockLimits(ahead_s=None, age_s=None).check(
        datetime(1970, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC), RECEIVED
    )

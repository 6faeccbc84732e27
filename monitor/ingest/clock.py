"""Refuse publisher times the plant cannot have meant: a gateway clock reset to 1970, one running fast.

Such a `ts` would file good readings where nobody looks (charts show the last hours), let retention
delete a camera's images at its next run, and put thresholds and alerts at the wrong time. The
message goes to dead letters instead, with a reason that names the setting; a message without `ts`
takes the receive time and always passes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.ingest.schemas import InvalidMessage


class ClockLimits:
    """How far a publisher's time may lie ahead of or behind the receive time (None: unchecked)."""

    __slots__ = ("_ahead", "_age", "ahead_s", "age_s")

    def __init__(self, ahead_s: float | None, age_s: float | None) -> None:
        self.ahead_s, self.age_s = ahead_s, age_s
        self._ahead = None if ahead_s is None else timedelta(seconds=ahead_s)
        self._age = None if age_s is None else timedelta(seconds=age_s)

    def check(self, earliest: datetime, latest: datetime, received_at: datetime) -> None:
        """Raise InvalidMessage (ts_in_future, ts_too_old) for a message whose times span earliest..latest."""
        if self._ahead is not None and latest - received_at > self._ahead:
            raise InvalidMessage(
                "ts_in_future",
                f"{_iso(latest)} is {(latest - received_at).total_seconds():.0f} s ahead of the receive "
                f"time (mqtt.max_ts_ahead_s {self.ahead_s:g})",
            )
        if self._age is not None and received_at - earliest > self._age:
            raise InvalidMessage(
                "ts_too_old",
                f"{_iso(earliest)} is {(received_at - earliest).total_seconds():.0f} s before the receive "
                f"time (mqtt.max_ts_age_s {self.age_s:g})",
            )


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds")

"""How the pages write times and numbers, the same everywhere."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd


def age(delta: timedelta) -> str:
    """A duration as people read it on a status board: "40 s", "12 min", "3 h", "2 d"."""
    seconds = max(delta.total_seconds(), 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def duration(seconds: int) -> str:
    """A chart bucket's width, exact: "14 min", "90 min", "2 h" (whole minutes, as buckets are)."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def when(at: datetime | None) -> str:
    """A UTC time to the second ("2026-11-24 10:57:16 UTC"), or a dash (None, or pandas' NaT in
    a column where some rows have no time)."""
    return "—" if at is None or pd.isna(at) else f"{at:%Y-%m-%d %H:%M:%S} UTC"


def number(value: float | None) -> str:
    """A score or threshold with three significant digits, or a dash."""
    return "—" if value is None else f"{value:.3g}"

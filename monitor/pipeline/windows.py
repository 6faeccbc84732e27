"""Windows of readings, cut the same way for the live stream (the scoring worker) and for backtests.

A window is [W, C] with the newest reading last, so a window's score belongs to that reading. No
window spans a gap in the readings' times (a line stop, a gateway outage, a daemon that was down
for a day): it would splice two unrelated stretches, which the model rightly finds abnormal. After
a gap the first W-1 readings only fill the new window and get no score.
"""

from __future__ import annotations

import numpy as np

from models.sensor_model import sliding_windows

__all__ = ["gapless_windows", "segment_starts", "sliding_windows"]


def segment_starts(times: np.ndarray, gap_factor: float) -> np.ndarray:
    """Indices where a stretch without gaps begins (0 first), for ascending `times` in seconds.

    A gap is an interval longer than `gap_factor` times the median interval of `times`: relative to
    the stream's own cadence, so a 1 kHz vibration sensor and a once-a-minute thermometer are both
    judged by one setting.
    """
    intervals = np.diff(times)
    if len(intervals) == 0:
        return np.zeros(1, dtype=np.int64)
    median = float(np.median(intervals))
    if median <= 0:  # mostly repeated times: the cadence is unknown, so nothing counts as a gap
        return np.zeros(1, dtype=np.int64)
    after_gap = np.flatnonzero(intervals > gap_factor * median) + 1
    return np.concatenate([np.zeros(1, dtype=np.int64), after_gap])


def gapless_windows(values: np.ndarray, starts: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The windows [M, W, C] of `values` [N, C] that lie within one stretch (`segment_starts`), and
    the index of the reading each ends with; without gaps this is `sliding_windows`, a view."""
    bounds = [*starts.tolist(), len(values)]
    pieces: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    for start, stop in zip(bounds, bounds[1:], strict=False):
        if stop - start >= window:
            pieces.append(sliding_windows(values[start:stop], window))
            ends.append(np.arange(start + window - 1, stop))
    if not pieces:
        return sliding_windows(values[:0], window), np.zeros(0, dtype=np.int64)
    if len(pieces) == 1:
        return pieces[0], ends[0]
    return np.concatenate(pieces), np.concatenate(ends)

"""Windows of readings: a ring buffer per asset for the live stream, and (from the model, whose input
layout it is) sliding windows over a whole array for backtests. Both give windows [W, C] whose last
row is the newest reading, so a window's score belongs to that reading."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.sensor_model import sliding_windows

__all__ = ["WindowBuffer", "sliding_windows"]


class WindowBuffer:
    """The last `window` readings of one asset, in model channel order.

    A reading that lacks a channel repeats that channel's last value (sensors report at their own
    pace); until every channel has been seen once no window is produced.
    """

    def __init__(self, channels: list[str], window: int) -> None:
        self.channels = list(channels)
        self.window = window
        # Each row is written twice, W apart, so the newest window is always one contiguous slice.
        self._rows = np.zeros((2 * window, len(channels)), dtype=np.float32)
        self._last = np.full(len(channels), np.nan, dtype=np.float32)
        self._next = 0
        self._count = 0

    def push(self, values: Mapping[str, float]) -> np.ndarray | None:
        """Add one reading; return a copy of the window ending with it once the buffer is full."""
        for index, name in enumerate(self.channels):
            if name in values:
                self._last[index] = values[name]
        if np.isnan(self._last).any():
            return None
        self._rows[self._next] = self._last
        self._rows[self._next + self.window] = self._last
        self._next = (self._next + 1) % self.window
        self._count = min(self._count + 1, self.window)
        if self._count < self.window:
            return None
        return self._rows[self._next : self._next + self.window].copy()

"""Windows of readings: the live ring buffer and whole-array sliding windows agree."""

from __future__ import annotations

import numpy as np

from monitor.pipeline.windows import WindowBuffer, sliding_windows


def test_ring_buffer_windows_equal_sliding_windows() -> None:
    """Pushing readings one by one yields exactly the sliding windows, newest row last."""
    values = np.arange(30, dtype=np.float32).reshape(15, 2)
    buffer = WindowBuffer(["a", "b"], window=4)
    produced = [buffer.push({"a": float(row[0]), "b": float(row[1])}) for row in values]
    assert produced[:3] == [None, None, None]
    np.testing.assert_array_equal(np.stack(produced[3:]), sliding_windows(values, 4))


def test_missing_channel_repeats_its_last_value() -> None:
    """A reading without a channel carries that channel forward; none until all were seen."""
    buffer = WindowBuffer(["a", "b"], window=2)
    assert buffer.push({"a": 1.0}) is None
    assert buffer.push({"b": 5.0}) is None
    window = buffer.push({"a": 2.0})
    assert window is not None
    assert window.tolist() == [[1.0, 5.0], [2.0, 5.0]]


def test_sliding_windows_of_a_short_array_are_empty() -> None:
    """Fewer readings than a window give no windows, with the right shape."""
    assert sliding_windows(np.zeros((3, 2)), 4).shape == (0, 4, 2)

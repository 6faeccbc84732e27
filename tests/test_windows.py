"""Windows of readings: cut by the stream's own cadence, never across a gap."""

from __future__ import annotations

import numpy as np

from monitor.pipeline.windows import gapless_windows, segment_starts, sliding_windows


def test_without_gaps_the_windows_are_the_sliding_windows() -> None:
    """A steady stream gives every sliding window, each ending at the reading after it."""
    values = np.arange(30, dtype=np.float32).reshape(15, 2)
    starts = segment_starts(np.arange(15.0), gap_factor=10)
    windows, ends = gapless_windows(values, starts, 4)
    np.testing.assert_array_equal(windows, sliding_windows(values, 4))
    assert ends.tolist() == list(range(3, 15))


def test_no_window_spans_a_gap() -> None:
    """After a long pause the window starts again: the first window-1 readings after it get none."""
    times = np.concatenate([np.arange(10.0), 1000 + np.arange(10.0)])
    values = times[:, None].astype(np.float32)
    windows, ends = gapless_windows(values, segment_starts(times, gap_factor=10), 4)
    assert ends.tolist() == [*range(3, 10), *range(13, 20)]
    spans = windows[:, -1, 0] - windows[:, 0, 0]
    assert spans.max() == 3  # every window holds 4 consecutive readings, one second apart


def test_a_gap_is_judged_by_the_streams_own_cadence() -> None:
    """A once-a-minute sensor missing five readings keeps its window; one silent for an hour does not."""
    minutes = 60.0 * np.arange(20)
    short = np.concatenate([minutes, minutes[-1] + 360 + minutes])
    long = np.concatenate([minutes, minutes[-1] + 3600 + minutes])
    assert segment_starts(short, gap_factor=10).tolist() == [0]
    assert segment_starts(long, gap_factor=10).tolist() == [0, 20]


def test_repeated_times_make_no_gaps() -> None:
    """When most readings share a time stamp the cadence is unknown: nothing is called a gap."""
    times = np.array([0.0, 0, 0, 0, 5, 5, 5, 5, 9])
    assert segment_starts(times, gap_factor=2).tolist() == [0]


def test_a_stretch_shorter_than_a_window_gives_none() -> None:
    """Readings between two gaps that cannot fill a window are left unscored, with the right shape."""
    times = np.array([0.0, 1, 2, 3, 100, 101, 500, 501, 502, 503])
    windows, ends = gapless_windows(np.zeros((10, 3)), segment_starts(times, gap_factor=10), 4)
    assert ends.tolist() == [3, 9]
    assert windows.shape == (2, 4, 3)
    empty, none = gapless_windows(np.zeros((3, 3)), np.zeros(1, dtype=np.int64), 4)
    assert empty.shape == (0, 4, 3) and none.size == 0

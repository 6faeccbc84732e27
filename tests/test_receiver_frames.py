"""The receiver process's frame buffer: what a frame flood may hold before the parent takes it."""

from __future__ import annotations

from monitor.comms.receiver import FrameBuffer


def _flood(buffer: FrameBuffer, sizes: list[int]) -> None:
    for i, size in enumerate(sizes):
        buffer.put("plant/s/cam/frames", bytes(size), float(i), {"frame_id": str(i)})


def test_a_flood_keeps_the_newest_frames_within_the_frame_bound() -> None:
    """Beyond `max_frames` the oldest frames go, and the next take reports how many."""
    buffer = FrameBuffer(max_frames=4, max_bytes=1 << 20)
    _flood(buffer, [10] * 10)
    frames, dropped = buffer.take()
    assert [f[3]["frame_id"] for f in frames] == ["6", "7", "8", "9"] and dropped == 6
    assert buffer.take() == ([], 0)


def test_large_frames_are_bounded_by_bytes() -> None:
    """Frames of 3 MB under a 10 MB budget: three are held, never the 1 GB a frame count would allow."""
    buffer = FrameBuffer(max_frames=256, max_bytes=10_000_000)
    _flood(buffer, [3_000_000] * 20)
    frames, dropped = buffer.take()
    assert len(frames) == 3 and dropped == 17
    assert sum(len(f[1]) for f in frames) <= 10_000_000


def test_one_frame_above_the_byte_budget_is_still_delivered() -> None:
    """A single frame larger than the budget is kept (its size limit is the camera's max_frame_bytes)."""
    buffer = FrameBuffer(max_frames=8, max_bytes=1000)
    _flood(buffer, [5000])
    frames, dropped = buffer.take()
    assert len(frames) == 1 and dropped == 0

"""Synthetic inspection frames: reproducible, defects where the mask says, low-resolution views."""

from __future__ import annotations

import csv
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.images import decode_gray
from monitor.artifacts import write_artifacts
from monitor.ingest.frames import FRAME_KEY_MAX, decode_frame
from monitor.simulate_frames import (
    DEFECT_KINDS,
    CameraSpec,
    encode_jpeg,
    frame_id,
    low_resolution,
    make_frame,
    new_run_id,
    publish_frames,
    random_defects,
)


def test_same_seed_same_frame_different_seed_different_surface() -> None:
    """Frames are reproducible from their seed, and seeds give different surfaces."""
    assert np.array_equal(make_frame(3, 64).image, make_frame(3, 64).image)
    assert not np.allclose(make_frame(3, 64).image, make_frame(4, 64).image)


def test_normal_frame_has_an_empty_mask() -> None:
    """A frame without defects has no ground-truth defect pixels."""
    frame = make_frame(0, 64)
    assert frame.mask.dtype == bool and not frame.mask.any() and frame.defects == ()
    assert frame.image.min() >= 0.0 and frame.image.max() <= 1.0


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_each_defect_changes_the_pixels_its_mask_marks(kind: str) -> None:
    """Every defect kind covers a small share of the image and visibly changes those pixels."""
    clean, defective = make_frame(7, 128), make_frame(7, 128, [kind])
    area = defective.mask.mean()
    assert 0.0005 < area < 0.05
    change = np.abs(defective.image - clean.image)
    assert change[defective.mask].mean() > 5 * change[~defective.mask].mean()


def test_unknown_defect_kind_is_refused() -> None:
    """A typo in a defect kind names the valid kinds."""
    with pytest.raises(ValueError, match="unknown defect kind 'dent'.*scratch"):
        make_frame(0, 64, ["dent"])


def test_low_resolution_divides_the_size_and_round_trips_through_jpeg() -> None:
    """The low-resolution view is 1/factor of the frame and survives JPEG encoding."""
    frame = make_frame(1, 128, ["blob"])
    low = low_resolution(frame.image, 4)
    assert low.shape == (32, 32)
    assert decode_gray(encode_jpeg(low)).shape == (32, 32)
    with pytest.raises(ValueError, match="must divide"):
        low_resolution(frame.image, 3)


def test_random_defects_respects_the_probability() -> None:
    """Probability 0 gives only normal frames, 1 only defective ones."""
    rng = np.random.default_rng(0)
    assert all(random_defects(rng, 0.0) == () for _ in range(20))
    assert all(random_defects(rng, 1.0) for _ in range(20))


class _Recorder:
    """A publisher that keeps the payloads and ends the run after `limit` frames."""

    def __init__(self, stop: threading.Event, limit: int) -> None:
        self.stop, self.limit = stop, limit
        self.payloads: list[bytes] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Any:
        self.payloads.append(payload)
        if len(self.payloads) >= self.limit:
            self.stop.set()


def _simulator_run(ground_truth: Path) -> list[bytes]:
    """One simulator run of 4 tiny frames from two cameras, same seed every time (a restart)."""
    stop = threading.Event()
    recorder = _Recorder(stop, 4)
    cameras = [CameraSpec("cam-01"), CameraSpec("cam-02")]
    publish_frames(
        recorder, cameras, lambda name: f"p/s/{name}/frames", 1000.0, stop, size=16, ground_truth=ground_truth
    )
    return recorder.payloads


def test_a_restarted_simulator_never_reuses_a_frame_id(tmp_path: Path) -> None:
    """The daemon keeps the first inspection of a frame id: a second run's ids must all be new, and
    its ground-truth masks must not overwrite the first run's."""
    first = [json.loads(payload)["frame_id"] for payload in _simulator_run(tmp_path)]
    second = [json.loads(payload)["frame_id"] for payload in _simulator_run(tmp_path)]
    assert len(set(first)) == len(set(second)) == 4
    assert not set(first) & set(second)
    with (tmp_path / "frames.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["frame_id"] for row in rows] == first + second
    assert all((tmp_path / row["camera"] / f"{row['frame_id']}.png").is_file() for row in rows)
    assert len(list(tmp_path.glob("cam-*/*.png"))) == 8


def test_simulated_frame_ids_are_accepted_and_kept_as_artifact_names(tmp_path: Path) -> None:
    """The daemon decodes a simulated frame keyed by its id and time, and artifact files start with the id."""
    payload = _simulator_run(tmp_path / "truth")[0]
    received = datetime(2026, 3, 1, tzinfo=UTC)
    frame = decode_frame(payload, None, received, 1 << 20, site="s", camera="cam-01")
    frame_id = json.loads(payload)["frame_id"]
    assert frame.key == f"{frame_id}@{frame.ts.isoformat(timespec='microseconds')}"
    paths = write_artifacts(tmp_path / "artifacts", "cam-01", frame.key, frame.ts, frame.image)
    assert Path(paths.image).name.startswith(f"{frame_id}_")


def test_frame_id_of_the_longest_camera_name_fits_the_frame_key_limit() -> None:
    """Camera names run to 64 characters; with the run id and a large count the id still fits."""
    longest = frame_id("c" * 64, new_run_id(), 99_999_999)
    assert len(longest) <= FRAME_KEY_MAX
    assert new_run_id() != new_run_id()

"""Inspection artifacts: policy, file layout and overlays an operator can open."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monitor.artifacts import ArtifactBudget, wanted, write_artifacts
from monitor.settings import ArtifactPolicy

TS = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


def test_policy_takes_anomalous_frames_and_every_nth() -> None:
    """Anomalous frames get artifacts when the policy says so; every_n adds a regular sample."""
    both = ArtifactPolicy(anomalous=True, every_n=10)
    assert wanted(both, True, 3) and wanted(both, False, 20) and not wanted(both, False, 21)
    sample_only = ArtifactPolicy(anomalous=False, every_n=5)
    assert not wanted(sample_only, True, 3) and wanted(sample_only, False, 5)
    assert not wanted(ArtifactPolicy(anomalous=False, every_n=0), True, 10)


def test_budget_allows_max_per_minute_and_nothing_on_a_nearly_full_disk(tmp_path: Path) -> None:
    """At most max_per_minute frames a minute; none while free space is under min_free_mb; both
    recover by themselves (the next minute, space freed by retention)."""
    now = [0.0]
    free = [10 * 2**30]
    policy = ArtifactPolicy(directory=tmp_path / "not-made-yet", max_per_minute=3, min_free_mb=1024)
    budget = ArtifactBudget(policy, clock=lambda: now[0], free_bytes=lambda path: free[0])
    assert [budget.refusal() for _ in range(4)] == [None, None, None, "rate"]
    now[0] = 61.0
    free[0] = 512 * 2**20
    assert budget.refusal() == "disk_full"
    free[0] = 2 * 2**30
    assert budget.refusal() is None


def test_budget_reads_the_free_space_of_a_directory_not_made_yet(tmp_path: Path) -> None:
    """Before the first write the directory does not exist: its nearest parent's disk counts."""
    policy = ArtifactPolicy(directory=tmp_path / "a" / "b", min_free_mb=1)
    assert ArtifactBudget(policy).refusal() is None
    huge = ArtifactPolicy(directory=tmp_path / "a" / "b", min_free_mb=2**40)
    assert ArtifactBudget(huge).refusal() == "disk_full"


def test_files_land_under_camera_and_date_with_overlays(tmp_path: Path) -> None:
    """Image, heatmap and mask overlay are PNGs under <dir>/<camera>/<date>/ at the frame's size."""
    image = np.full((32, 48), 0.5, dtype=np.float32)
    heatmap = np.zeros_like(image)
    heatmap[10:14, 20:30] = 1.0
    mask = heatmap > 0
    paths = write_artifacts(tmp_path, "cam1", "ts:2026/03/01 x", TS, image, heatmap, mask, [(20, 10, 30, 14)])
    folder = tmp_path / "cam1" / "2026-03-01"
    for path in (paths.image, paths.heatmap, paths.mask):
        assert path is not None and Path(path).parent == folder
        assert Image.open(path).size == (48, 32)
    mask_rgb = np.asarray(Image.open(paths.mask))
    assert mask_rgb[12, 25, 0] > mask_rgb[12, 25, 1]  # defect pixels tinted red
    assert tuple(mask_rgb[10, 20]) == (0, 255, 0)  # box corner drawn green
    assert tuple(mask_rgb[0, 0]) == (128, 128, 128)  # background untouched
    heat_rgb = np.asarray(Image.open(paths.heatmap))
    assert heat_rgb[12, 25, 0] > heat_rgb[0, 0, 0]


def test_without_models_output_only_the_image_is_written(tmp_path: Path) -> None:
    """No heatmap or mask given: only the analysed image, and None for the others."""
    paths = write_artifacts(tmp_path, "cam1", "f1", TS, np.zeros((16, 16), dtype=np.float32))
    assert Path(paths.image).exists() and paths.heatmap is None and paths.mask is None


def test_long_keys_sharing_their_start_get_files_of_their_own(tmp_path: Path) -> None:
    """Keys cut to fit a file name keep a digest of the whole key, so no frame overwrites another's files."""
    image = np.zeros((16, 16), dtype=np.float32)
    prefix = "line-camera-" + "x" * 150
    first = write_artifacts(tmp_path, "cam1", f"{prefix}@2026-03-01", TS, image).image
    second = write_artifacts(tmp_path, "cam1", f"{prefix}@2026-03-02", TS, image).image
    assert first != second and len(Path(first).name) <= 120 + len("_image.png")
    assert Path(first).exists() and Path(second).exists()


def test_a_failed_write_leaves_no_partial_files(tmp_path: Path) -> None:
    """When one file cannot be written (disk full, here a folder in the way) the frame's files
    already written are deleted and the error goes on to the caller."""
    folder = tmp_path / "cam1" / "2026-03-01"
    (folder / "f1_mask.png").mkdir(parents=True)
    image = np.zeros((16, 16), dtype=np.float32)
    with pytest.raises(OSError):
        write_artifacts(tmp_path, "cam1", "f1", TS, image, image, image > 0)
    assert [path.name for path in folder.iterdir()] == ["f1_mask.png"]  # only the folder in the way


def test_paths_are_absolute_for_a_relative_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths stored from a relative directory still lead to the files from another working directory."""
    monkeypatch.chdir(tmp_path)
    paths = write_artifacts(Path("var/artifacts"), "cam1", "f1", TS, np.zeros((16, 16), dtype=np.float32))
    monkeypatch.chdir("/")
    assert Path(paths.image).is_absolute() and Path(paths.image).exists()

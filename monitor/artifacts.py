"""Inspection artifacts on disk: the analysed image, a heatmap overlay and a mask overlay with boxes.

Why files and not SQL: images are large and only some are ever looked at; the `inspections` row
keeps their absolute paths and retention (monitor/store/retention.py) deletes old files and clears
the paths. Layout: `<directory>/<camera>/<YYYY-MM-DD>/<frame>_{image,heatmap,mask}.png` (UTC date of
the frame), so an operator finds a day's frames of one camera in one folder. Which frames get
artifacts is the camera's policy: anomalous frames and/or every Nth frame.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from models.images import to_uint8
from monitor.settings import ArtifactPolicy

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
STEM_MAX = 120  # characters of a frame key in artifact file names
_BOX_COLOUR = (0, 255, 0)
_MASK_TINT = np.array([255, 0, 0], dtype=np.float32)
_MASK_ALPHA = 0.45


@dataclass(frozen=True, slots=True)
class ArtifactPaths:
    """Where one frame's files went (None for a file not written: no heatmap without the AE, …)."""

    image: str
    heatmap: str | None
    mask: str | None


class ArtifactBudget:
    """Whether a camera may write another frame's artifacts now: at most `max_per_minute`, and
    none while the disk of the directory has less than `min_free_mb` free."""

    def __init__(
        self,
        policy: ArtifactPolicy,
        clock: Callable[[], float] = time.monotonic,
        free_bytes: Callable[[Path], int] = lambda path: shutil.disk_usage(_existing(path)).free,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.free_bytes = free_bytes
        self._minute = -1
        self._written = 0

    def refusal(self) -> str | None:
        """None (and the frame is counted) when it may be written, else why not: rate or disk_full."""
        minute = int(self.clock() // 60)
        if minute != self._minute:
            self._minute, self._written = minute, 0
        if self.policy.max_per_minute and self._written >= self.policy.max_per_minute:
            return "rate"
        if (
            self.policy.min_free_mb
            and self.free_bytes(self.policy.directory) < self.policy.min_free_mb * 2**20
        ):
            return "disk_full"
        self._written += 1
        return None


def _existing(path: Path) -> Path:
    """`path` or its nearest existing parent (the directory is made at the first write)."""
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def wanted(policy: ArtifactPolicy, anomalous: bool, frame_number: int) -> bool:
    """Whether a frame gets artifacts: anomalous ones (if the policy says so) and every Nth frame."""
    if anomalous and policy.anomalous:
        return True
    return policy.every_n > 0 and frame_number % policy.every_n == 0


def write_artifacts(
    directory: Path,
    camera: str,
    frame_key: str,
    ts: datetime,
    image: np.ndarray,
    heatmap: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    boxes: list[tuple[int, int, int, int]] | None = None,
) -> ArtifactPaths:
    """Write the PNGs of one analysed frame (image [H, W] in [0, 1], heatmap and mask at its size).

    The paths are absolute, so the dashboard finds the files whatever directory it runs from. When a
    write fails (disk full) the frame's files written so far are deleted before the OSError goes
    on: the caller keeps the row without paths, and retention only ever deletes files a row names.
    """
    folder = directory.resolve() / camera / ts.astimezone(UTC).strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(frame_key)
    gray = to_uint8(image)
    written: list[Path] = []

    def save(picture: Image.Image, kind: str) -> str:
        path = folder / f"{stem}_{kind}.png"
        written.append(path)  # before saving: a failed save can leave part of the file behind
        picture.save(path)
        return str(path)

    heatmap_path = mask_path = None
    try:
        image_path = save(Image.fromarray(gray, mode="L"), "image")
        if heatmap is not None:
            heatmap_path = save(Image.fromarray(heatmap_overlay(gray, heatmap), mode="RGB"), "heatmap")
        if mask is not None:
            mask_path = save(mask_overlay(gray, mask, boxes or []), "mask")
    except OSError:
        for path in written:
            with contextlib.suppress(OSError):  # a directory in the way, the disk gone: nothing to do
                path.unlink(missing_ok=True)
        raise
    return ArtifactPaths(image_path, heatmap_path, mask_path)


def _file_stem(frame_key: str) -> str:
    """The key in file-name-safe characters; a long one is cut and keeps a digest, so two keys that
    share their first characters never share files."""
    safe = _UNSAFE.sub("_", frame_key) or "frame"
    if len(safe) <= STEM_MAX:
        return safe
    digest = hashlib.sha1(frame_key.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{safe[: STEM_MAX - 9]}-{digest}"


def heatmap_overlay(gray: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The frame in grey with the anomaly heatmap (scaled to its own max) blended in as red-yellow."""
    heat = np.asarray(heatmap, dtype=np.float32)
    peak = float(heat.max()) if heat.size else 0.0
    heat = np.clip(heat / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(heat)
    base = gray.astype(np.float32)[..., None].repeat(3, axis=2)
    colour = np.stack([np.full_like(heat, 255.0), 255.0 * heat, np.zeros_like(heat)], axis=2)
    alpha = (0.6 * heat)[..., None]
    return (base * (1 - alpha) + colour * alpha + 0.5).astype(np.uint8)


def mask_overlay(gray: np.ndarray, mask: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    """The frame with defect pixels tinted red and a green box around each defect."""
    rgb = gray.astype(np.float32)[..., None].repeat(3, axis=2)
    hit = np.asarray(mask, dtype=bool)
    rgb[hit] = rgb[hit] * (1 - _MASK_ALPHA) + _MASK_TINT * _MASK_ALPHA
    picture = Image.fromarray((rgb + 0.5).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(picture)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=_BOX_COLOUR)
    return picture

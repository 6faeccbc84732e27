"""Synthetic inspection frames: a textured surface with injected scratches, blobs and cracks.

Why: the camera pipeline, its tests, the simulator and the vision benchmark need frames with known
defects and a pixel-exact ground-truth mask, without real inspection images. The surface is a
ground-metal look: slow shading, directional grinding marks and fine grain, different for every
seed. Defects are drawn with soft edges and a contrast that varies, so that a model cannot find
them by a single grey level. The same frame is available at low resolution (blur, then downsample)
for cameras that are upscaled by the super-resolution model. `publish_frames` is the simulator's
camera stream (`monitor simulate --cameras N`).
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from models.images import resize, save_png, to_uint8
from monitor.simulate import Publisher

DEFECT_KINDS: tuple[str, ...] = ("scratch", "blob", "crack")
MASK_LEVEL = 0.5  # a pixel is defect where the drawn defect's opacity reaches this


@dataclass(frozen=True, slots=True)
class SimFrame:
    """A frame (float32 [H, W] in [0, 1]), its ground-truth defect mask (bool) and what was drawn."""

    image: np.ndarray
    mask: np.ndarray
    defects: tuple[str, ...]


def surface(rng: np.random.Generator, size: int) -> np.ndarray:
    """A defect-free textured surface, float32 [size, size], mean about 0.5."""
    shading = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 6) * (size / 6)
    shading = 0.08 * shading / (np.abs(shading).max() + 1e-6)
    angle = rng.uniform(0, 180)
    grind = rng.standard_normal((size, size))
    grind = ndimage.gaussian_filter(grind, sigma=(0.6, size / 10))  # long streaks along one axis
    grind = ndimage.rotate(grind, angle, reshape=False, mode="reflect")
    grind = 0.05 * grind / (grind.std() + 1e-6)
    grain = 0.02 * rng.standard_normal((size, size))
    base = rng.uniform(0.42, 0.58)
    return np.clip(base + shading + grind + grain, 0.0, 1.0).astype(np.float32)


def _scratch(rng: np.random.Generator, size: int) -> np.ndarray:
    """A straight thin line of random angle and length (opacity map)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = rng.uniform(0.2, 0.8, 2) * size
    theta = rng.uniform(0, np.pi)
    half = rng.uniform(0.15, 0.35) * size
    dx, dy = np.cos(theta), np.sin(theta)
    along = (xx - cx) * dx + (yy - cy) * dy
    across = -(xx - cx) * dy + (yy - cy) * dx
    width = rng.uniform(0.8, 1.8) * size / 256
    return np.where(np.abs(along) <= half, np.exp(-0.5 * (across / width) ** 2), 0.0).astype(np.float32)


def _blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """A soft-edged ellipse (a pit, a stain, a blowhole)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = rng.uniform(0.2, 0.8, 2) * size
    rx, ry = rng.uniform(0.03, 0.08, 2) * size
    theta = rng.uniform(0, np.pi)
    u = ((xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)) / rx
    v = (-(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)) / ry
    return np.clip(1.5 - (u**2 + v**2), 0.0, 1.0).astype(np.float32)


def _crack(rng: np.random.Generator, size: int) -> np.ndarray:
    """A jagged random walk with a branch or two, drawn thin."""
    canvas = np.zeros((size, size), dtype=np.float32)
    for _ in range(int(rng.integers(1, 3))):
        point = rng.uniform(0.25, 0.75, 2) * size
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(size // 3, size // 2))):
            heading += rng.normal(0, 0.35)
            point = point + np.array([np.cos(heading), np.sin(heading)])
            x, y = int(point[0]), int(point[1])
            if not (0 <= x < size and 0 <= y < size):
                break
            canvas[y, x] = 1.0
    thickness = max(size / 256, 0.6)
    return np.clip(ndimage.gaussian_filter(canvas, thickness) * 2.5 * thickness, 0.0, 1.0)


_DRAW = {"scratch": _scratch, "blob": _blob, "crack": _crack}


def make_frame(seed: int, size: int = 256, defects: Sequence[str] = ()) -> SimFrame:
    """One frame of `size` x `size` with the named defects drawn on it (ValueError on unknown kinds)."""
    unknown = [kind for kind in defects if kind not in _DRAW]
    if unknown:
        raise ValueError(f"unknown defect kind {unknown[0]!r} (kinds: {', '.join(DEFECT_KINDS)})")
    if size < 16:
        raise ValueError("frames must be at least 16 pixels wide")
    rng = np.random.default_rng(seed)
    image = surface(rng, size)
    mask = np.zeros((size, size), dtype=bool)
    for kind in defects:
        opacity = _DRAW[kind](rng, size)
        contrast = rng.uniform(0.25, 0.45) * (-1 if rng.random() < 0.8 else 1)  # mostly darker
        image = image + contrast * opacity
        mask |= opacity >= MASK_LEVEL
    return SimFrame(np.clip(image, 0.0, 1.0).astype(np.float32), mask, tuple(defects))


def random_defects(rng: np.random.Generator, probability: float) -> tuple[str, ...]:
    """With `probability`, one or two random defect kinds; otherwise none (a normal frame)."""
    if rng.random() >= probability:
        return ()
    count = int(rng.integers(1, 3))
    return tuple(str(kind) for kind in rng.choice(DEFECT_KINDS, size=count, replace=False))


def low_resolution(image: np.ndarray, factor: int) -> np.ndarray:
    """What a camera of 1/`factor` resolution sees: optical blur, then bicubic downsampling."""
    if factor < 1 or image.shape[0] % factor or image.shape[1] % factor:
        raise ValueError(f"factor {factor} must divide the frame size {list(image.shape)}")
    blurred = ndimage.gaussian_filter(image, sigma=0.5 * factor)
    low = resize(blurred, (image.shape[0] // factor, image.shape[1] // factor))
    return np.clip(low, 0.0, 1.0).astype(np.float32)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """A grayscale frame as JPEG bytes, the usual camera payload."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image), mode="L").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def new_run_id(now: datetime | None = None) -> str:
    """What tells one simulator run's frame ids from another's: its UTC start to the second and a
    random suffix (`20260301T120000-3fa2c1`), so a restarted simulator never reuses a frame id."""
    started = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{started:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def frame_id(camera: str, run: str, number: int) -> str:
    """`<camera>-<run>-<number>`: unique across runs, at most 64 + 30 characters (under the daemon's
    frame-key limit) and only characters that artifact file names keep as they are."""
    return f"{camera}-{run}-{number:08d}"


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """A simulated camera: its name and the factor it sees below full resolution (1 = full)."""

    name: str
    factor: int = 1


def publish_frames(
    client: Publisher,
    cameras: Sequence[CameraSpec],
    topic_of: Callable[[str], str],
    rate_hz: float,
    stop: threading.Event,
    *,
    size: int = 256,
    defect_probability: float = 0.1,
    seed: int = 0,
    ground_truth: Path | None = None,
    run: str | None = None,
) -> int:
    """Publish one frame per camera per tick as the JSON envelope (works over MQTT 5 and 3.1.1).

    Frame ids carry `run` (default: a new `new_run_id()`): the daemon keys inspections by frame id
    and keeps the first row, so ids reused by a restarted simulator would drop its frames.
    Ground truth, when asked: `<dir>/<camera>/<frame_id>.png` masks (0/255, at full resolution) and
    `<dir>/frames.csv` with camera, frame_id, ts, defects, appended run after run.
    Returns the number of frames published.
    """
    run = run or new_run_id()
    rng = np.random.default_rng(seed)
    table = None
    if ground_truth is not None:
        ground_truth.mkdir(parents=True, exist_ok=True)
        table = (ground_truth / "frames.csv").open("a", newline="")
        if table.tell() == 0:
            table.write("camera,frame_id,ts,defects\n")
    sent = 0
    began = time.monotonic()
    try:
        while not stop.wait(max(began + sent / max(len(cameras), 1) / rate_hz - time.monotonic(), 0)):
            for camera in cameras:
                defects = random_defects(rng, defect_probability)
                frame = make_frame(int(rng.integers(2**31)), size, defects)
                image = low_resolution(frame.image, camera.factor) if camera.factor > 1 else frame.image
                key = frame_id(camera.name, run, sent)
                ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                envelope = {
                    "ts": ts,
                    "frame_id": key,
                    "image_b64": base64.b64encode(encode_jpeg(image)).decode(),
                }
                client.publish(topic_of(camera.name), json.dumps(envelope).encode(), qos=1)
                if table is not None and ground_truth is not None:
                    save_png(ground_truth / camera.name / f"{key}.png", frame.mask.astype(np.uint8) * 255)
                    table.write(f"{camera.name},{key},{ts},{'+'.join(defects)}\n")
                sent += 1
    finally:
        if table is not None:
            table.close()
    return sent

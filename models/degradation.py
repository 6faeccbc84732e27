"""How a low-resolution camera frame is made from a high-resolution one, for training pairs.

Plain bicubic downsampling teaches a super-resolution network a world without optics, sensor noise
or compression; it then sharpens noise and JPEG blocks in real frames. The degradation here follows
a real low-resolution camera: optical blur, downsampling, sensor noise, then JPEG encoding, each with
its strength drawn at random per sample so that the network sees a range of cameras.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from models.images import decode_gray, resize


@dataclass(frozen=True, slots=True)
class DegradationConfig:
    """Ranges the per-sample strengths are drawn from (uniformly); stored in the model card.

    blur sigma is in high-resolution pixels, noise sigma in intensity units of [0, 1] images, JPEG
    quality on PIL's 1-95 scale.
    """

    blur_min: float = 0.2
    blur_max: float = 1.2
    noise_max: float = 0.01
    jpeg_min: int = 70
    jpeg_max: int = 95

    def __post_init__(self) -> None:
        if not 0.0 <= self.blur_min <= self.blur_max:
            raise ValueError(f"need 0 <= blur_min <= blur_max, got {self.blur_min}, {self.blur_max}")
        if self.noise_max < 0.0:
            raise ValueError(f"noise_max must be >= 0, got {self.noise_max}")
        if not 1 <= self.jpeg_min <= self.jpeg_max <= 95:
            raise ValueError(f"need 1 <= jpeg_min <= jpeg_max <= 95, got {self.jpeg_min}, {self.jpeg_max}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """The image cut (bottom and right) to a multiple of `scale`: the high-resolution target that
    corresponds exactly to the degraded image's pixels."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode a [0, 1] gray image as JPEG at `quality` and decode it again."""
    buffer = io.BytesIO()
    pixels = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(buffer, format="JPEG", quality=int(quality))
    return decode_gray(buffer.getvalue())


def degrade(image: np.ndarray, scale: int, config: DegradationConfig, rng: np.random.Generator) -> np.ndarray:
    """Low-resolution version [h // scale, w // scale] of a gray [0, 1] image [h, w]: blur, bicubic
    downsampling, Gaussian noise, JPEG. The same `rng` state gives the same result."""
    hr = modcrop(np.asarray(image, dtype=np.float32), scale)
    height, width = hr.shape
    if height < scale or width < scale:
        raise ValueError(f"image {image.shape[1]}x{image.shape[0]} is smaller than the scale {scale}")
    sigma = rng.uniform(config.blur_min, config.blur_max)
    noise = rng.uniform(0.0, config.noise_max)
    quality = int(rng.integers(config.jpeg_min, config.jpeg_max + 1))
    blurred = gaussian_filter(hr, sigma=sigma, mode="reflect") if sigma > 0 else hr
    lr = resize(blurred, (height // scale, width // scale))
    lr = np.clip(lr + rng.normal(0.0, noise, size=lr.shape).astype(np.float32), 0.0, 1.0)
    return jpeg_roundtrip(lr, quality)

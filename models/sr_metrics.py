"""Image-quality metrics of super-resolution results: PSNR and SSIM on gray [0, 1] images.

Both follow the super-resolution literature's protocol: computed on the luminance (our images are
gray already) with `border` pixels cut from every edge, where upscalers have no neighbours to work
from and differ only by their padding rule.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

SSIM_SIGMA = 1.5  # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def _pair(output: np.ndarray, target: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    if output.shape != target.shape:
        raise ValueError(f"shapes differ: {output.shape} vs {target.shape}")
    a = np.clip(np.asarray(output, dtype=np.float64), 0.0, 1.0)
    b = np.asarray(target, dtype=np.float64)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    if a.size == 0:
        raise ValueError(f"border {border} leaves nothing of a {output.shape} image")
    return a, b


def psnr(output: np.ndarray, target: np.ndarray, border: int = 0) -> float:
    """Peak signal-to-noise ratio in dB (peak 1.0); the output is clipped to [0, 1] first."""
    a, b = _pair(output, target, border)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(1.0 / mse)


def ssim(output: np.ndarray, target: np.ndarray, border: int = 0) -> float:
    """Mean structural similarity (Gaussian-weighted, Wang et al. 2004) of two gray images."""
    a, b = _pair(output, target, border)

    def blur(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, SSIM_SIGMA, truncate=3.5, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    denominator = (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return float(np.mean(numerator / denominator))

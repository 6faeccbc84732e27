"""Synthetic anomalies pasted into normal images, so that a discriminative head can be trained on
defect-free images only (the DRAEM recipe, Zavrtanik et al., ICCV 2021).

Why this variety: the real defects are unknown at training time (pits, cracks, frayed edges, uneven
areas covering a quarter of a part), so the generator covers shapes and appearances broadly instead
of imitating one class. Shapes: thresholded smooth noise at random scales, so that one mechanism
gives anything from a pit of a few pixels to a region covering 30 % of the image, and random-walk
strokes from straight scratches to jagged cracks. Appearances: an intensity shift, noise, blur
(texture erased) and a texture-contrast change, pasted with a random opacity: each alters the image's
own pixels, so it is an anomaly on any surface. (Texture pasted from another normal image, DRAEM's
stand-in here for its external texture set, was left out: on surfaces whose grain runs in any
direction it is normal texture under an anomaly label, and the head never learned; see
docs/evaluation.md.) All randomness comes from one torch.Generator, so a resumed training run draws
the same anomalies as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from models.image_ae import blur

ANOMALY_PROBABILITY = 0.5  # share of training images that get anomalies (DRAEM's choice)
MAX_ANOMALIES = 2  # anomalies per anomalous image: 1..MAX_ANOMALIES
STROKE_SHARE = 0.3  # share of anomalies drawn as strokes (scratches, cracks); the rest are regions
AREA_RANGE = (0.001, 0.3)  # region area as a share of the image, drawn log-uniformly
OPACITY_RANGE = (0.3, 1.0)  # how much of the altered texture replaces the original
MIN_VISIBLE = 0.02  # mean absolute change inside the mask (~5 grey levels) below which a draw is dropped

FillFunction = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # image [1, H, W] -> altered copy


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _sign(generator: torch.Generator) -> float:
    return 1.0 if float(torch.rand((), generator=generator)) < 0.5 else -1.0


def region_mask(
    height: int, width: int, generator: torch.Generator, area_range: tuple[float, float] = AREA_RANGE
) -> torch.Tensor:
    """A bool mask [H, W]: the highest `area` share of a smooth random field (one or more blobs).

    The field's scale (2 to 16 cells along the longer side) sets how many blobs and how ragged;
    thresholding at a quantile sets their total area (log-uniform in `area_range`) whatever the scale.
    """
    cells = 2 ** int(torch.randint(1, 5, (), generator=generator))
    field = torch.zeros(1, 1, height, width)
    for octave, weight in ((1, 1.0), (2, 0.5)):  # a finer octave frays the outline
        longer = cells * octave
        grid_h = max(2, round(longer * height / max(height, width)) + 1)
        grid_w = max(2, round(longer * width / max(height, width)) + 1)
        grid = torch.rand(1, 1, grid_h, grid_w, generator=generator)
        field += weight * F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=True)
    area = math.exp(_uniform(math.log(area_range[0]), math.log(area_range[1]), generator))
    keep = max(1, round(area * height * width))
    flat = field.flatten()
    threshold = flat.kthvalue(flat.numel() - keep + 1).values
    return field[0, 0] >= threshold


def stroke_mask(height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A bool mask [H, W]: a random walk 1-3 px wide, straight (a scratch) to wandering (a crack)."""
    longer = max(height, width)
    steps = max(2, round(_uniform(0.1, 0.7, generator) * longer * 2))  # half-pixel steps
    wander = _uniform(0.0, 0.25, generator)
    heading = _uniform(0, 2 * math.pi, generator) + torch.cumsum(
        wander * torch.randn(steps, generator=generator), 0
    )
    start = torch.rand(2, generator=generator) * torch.tensor([height, width])
    path = start + 0.5 * torch.cumsum(torch.stack([torch.sin(heading), torch.cos(heading)], 1), 0)
    rows, cols = path[:, 0].long(), path[:, 1].long()
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    canvas = torch.zeros(1, 1, height, width)
    canvas[0, 0, rows[inside], cols[inside]] = 1.0
    radius = int(torch.randint(0, 2, (), generator=generator))
    if radius:
        canvas = F.max_pool2d(canvas, 2 * radius + 1, stride=1, padding=radius)
    return canvas[0, 0] > 0


def _shift(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Darker or brighter by a visible step (stains, pits, burns)."""
    return image + _sign(generator) * _uniform(0.1, 0.4, generator)


def _noise(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Grain or mottling that the surface does not have."""
    noise = torch.randn(image.shape, generator=generator)
    sigma = _uniform(0.0, 2.0, generator)
    noise = blur(noise[None], sigma)[0] * (1.0 + sigma) if sigma > 0.5 else noise
    return image + _uniform(0.05, 0.25, generator) * noise


def _blurred(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The surface with its texture erased (smeared, polished or melted spots)."""
    return blur(image[None], _uniform(1.0, 4.0, generator))[0]


def _contrast(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Texture contrast flattened or exaggerated around the local mean (worn or rough spots)."""
    local = blur(image[None], 3.0)[0]
    gain = (
        _uniform(0.0, 0.4, generator)
        if float(torch.rand((), generator=generator)) < 0.5
        else _uniform(2.0, 4.0, generator)
    )
    return local + gain * (image - local)


FILLS: tuple[FillFunction, ...] = (_shift, _noise, _blurred, _contrast)


def paste(image: torch.Tensor, mask: torch.Tensor, fill: torch.Tensor, opacity: float) -> torch.Tensor:
    """`fill` [1, H, W] blended into `image` over the bool `mask` [H, W]: full opacity inside, a soft rim."""
    hard = mask[None].float()
    soft = torch.maximum(blur(hard[None], 0.7)[0], hard) * opacity
    return (image + soft * (fill - image)).clamp_(0.0, 1.0)


def mean_change(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean absolute change of [1, H, W] inside the bool `mask` [H, W]: how visible a paste is."""
    return float((after - before).abs()[0][mask].mean())


def add_anomalies(batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste anomalies into up to half of a batch [B, 1, H, W] in [0, 1] (a third once invisible draws go).

    Returns the altered batch (clamped to [0, 1]) and the float target masks [B, 1, H, W]
    (1 = pasted anomaly). Images without anomalies come back unchanged with an empty mask. A draw
    that would change its mask by less than MIN_VISIBLE on average (a blur on a smooth spot, a faint
    shift) is dropped: labelling invisible changes would teach the head to fire on normal texture.
    """
    altered = batch.clone()
    masks = torch.zeros_like(batch)
    height, width = batch.shape[-2:]
    for index in range(len(batch)):
        if float(torch.rand((), generator=generator)) >= ANOMALY_PROBABILITY:
            continue
        for _ in range(int(torch.randint(1, MAX_ANOMALIES + 1, (), generator=generator))):
            stroke = float(torch.rand((), generator=generator)) < STROKE_SHARE
            mask = (stroke_mask if stroke else region_mask)(height, width, generator)
            fill = FILLS[int(torch.randint(len(FILLS), (), generator=generator))](altered[index], generator)
            opacity = _uniform(*OPACITY_RANGE, generator)
            pasted = paste(altered[index], mask, fill, opacity)
            if mean_change(altered[index], pasted, mask) < MIN_VISIBLE:
                continue
            altered[index] = pasted
            masks[index] = torch.maximum(masks[index], mask[None].float())
    return altered, masks

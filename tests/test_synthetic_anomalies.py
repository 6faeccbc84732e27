"""The synthetic-anomaly generator: labelled changes in about half the images, nothing outside the
label, shapes from pits to large regions and thin strokes, reproducible from the generator state."""

from __future__ import annotations

import torch

from models.synthetic_anomalies import MIN_VISIBLE, add_anomalies, region_mask, stroke_mask


def normal_batch(count: int = 32, size: int = 48) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return (0.5 + 0.1 * torch.randn(count, 1, size, size, generator=generator)).clamp(0, 1)


def test_about_half_the_images_get_anomalies_and_the_rest_stay_untouched() -> None:
    """Images with an empty mask are returned unchanged; the others are changed inside their mask."""
    batch = normal_batch()
    altered, masks = add_anomalies(batch, torch.Generator().manual_seed(1))
    labelled = masks.flatten(1).amax(1) > 0
    assert 8 <= int(labelled.sum()) <= 24
    assert torch.equal(altered[~labelled], batch[~labelled])
    changed = (altered - batch).abs() > 1e-6
    assert bool(changed[labelled].flatten(1).any(1).all())
    assert set(masks.unique().tolist()) <= {0.0, 1.0}


def test_changes_stay_within_a_pixel_rim_of_the_mask() -> None:
    """Outside the mask grown by the soft rim (2 px) no pixel changes: the label covers the change."""
    batch = normal_batch()
    altered, masks = add_anomalies(batch, torch.Generator().manual_seed(2))
    grown = torch.nn.functional.max_pool2d(masks, 5, stride=1, padding=2) > 0
    assert float((altered - batch).abs()[~grown].max()) < 1e-6


def test_every_labelled_anomaly_is_visible() -> None:
    """No label on an invisible change: inside each mask the image moved by MIN_VISIBLE on average."""
    batch = normal_batch()
    altered, masks = add_anomalies(batch, torch.Generator().manual_seed(6))
    for before, after, mask in zip(batch, altered, masks.bool(), strict=True):
        if mask.any():
            assert float((after - before).abs()[mask].mean()) >= MIN_VISIBLE


def test_regions_range_from_pits_to_a_large_share_of_the_image() -> None:
    """Region areas cover small pits (< 1 % of the image) and large areas (> 15 %), as real classes do."""
    generator = torch.Generator().manual_seed(3)
    areas = [float(region_mask(64, 96, generator).float().mean()) for _ in range(60)]
    assert min(areas) < 0.01 and max(areas) > 0.15


def test_an_area_range_bounds_the_region_size() -> None:
    """Asked for large areas only (the held-out classes' proxy in scripts/eval_unet_proxy.py), no pits."""
    generator = torch.Generator().manual_seed(7)
    areas = [float(region_mask(64, 96, generator, area_range=(0.05, 0.3)).float().mean()) for _ in range(30)]
    assert min(areas) >= 0.049 and max(areas) <= 0.301


def test_strokes_are_thin() -> None:
    """A stroke covers few pixels for its extent: at most 3 px wide."""
    generator = torch.Generator().manual_seed(4)
    for _ in range(20):
        mask = stroke_mask(64, 64, generator)
        rows, cols = torch.nonzero(mask, as_tuple=True)
        if len(rows) == 0:  # a walk that started at the border and left at once
            continue
        extent = max(int(rows.max() - rows.min()), int(cols.max() - cols.min())) + 1
        assert int(mask.sum()) <= 3 * 2 * extent


def test_same_generator_state_gives_the_same_anomalies() -> None:
    """Resumed training draws the same anomalies as an uninterrupted run."""
    batch = normal_batch(8)
    first = add_anomalies(batch, torch.Generator().manual_seed(5))
    second = add_anomalies(batch, torch.Generator().manual_seed(5))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])

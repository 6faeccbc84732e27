"""Copy-paste augmentation: real defects cut out with their masks and pasted onto other crops."""

from __future__ import annotations

import numpy as np

from models.defect_paste import cut_defects, paste_defect


def _image_with_two_pits() -> tuple[np.ndarray, np.ndarray]:
    image = np.full((64, 64), 0.5, dtype=np.float32)
    mask = np.zeros((64, 64), dtype=bool)
    mask[10:14, 10:14] = True  # a 4x4 pit
    mask[40:46, 30:33] = True  # a 6x3 pit
    image[mask] = -1.5
    return image, mask


def test_each_connected_defect_becomes_one_patch_with_its_own_mask() -> None:
    patches = cut_defects(*_image_with_two_pits())
    assert sorted(int(patch.mask.sum()) for patch in patches) == [16, 18]
    for patch in patches:
        assert patch.deviation.shape == patch.mask.shape == patch.alpha.shape
        assert np.allclose(patch.deviation[patch.mask], -2.0)  # pit minus its surroundings (0.5)
        assert np.allclose(patch.alpha[patch.mask], 1.0, atol=0.05)
        assert patch.alpha[0, 0] < 0.05  # the patch's corner blends into the new background


def test_a_pasted_defect_keeps_its_contrast_on_another_background() -> None:
    patch = next(patch for patch in cut_defects(*_image_with_two_pits()) if patch.mask.sum() == 16)
    background = np.full((32, 32), 3.0, dtype=np.float32)
    image, mask = paste_defect(
        background, np.zeros((32, 32), dtype=np.float32), patch, np.random.default_rng(0)
    )
    assert int(mask.sum()) == 16
    assert np.allclose(image[mask > 0], 1.0)  # 3.0 background, -2.0 deviation
    assert np.allclose(image[mask == 0].max(), 3.0)
    assert background.max() == 3.0  # the input crop is not modified in place


def test_a_patch_larger_than_the_crop_is_not_pasted() -> None:
    image = np.zeros((80, 80), dtype=np.float32)
    mask = np.zeros((80, 80), dtype=bool)
    mask[5:75, 5:75] = True
    patch = cut_defects(image - mask, mask)[0]
    crop, crop_mask = np.ones((32, 32), np.float32), np.zeros((32, 32), np.float32)
    pasted, pasted_mask = paste_defect(crop, crop_mask, patch, np.random.default_rng(0))
    assert pasted is crop and pasted_mask is crop_mask


def test_a_defect_covering_the_whole_image_is_cut_against_its_own_mean() -> None:
    """No background ring exists around it: the patch is measured against its own mean instead."""
    image = np.linspace(0.0, 1.0, 25, dtype=np.float32).reshape(5, 5)
    (patch,) = cut_defects(image, np.ones((5, 5), dtype=bool))
    assert np.isclose(patch.deviation.mean(), 0.0, atol=1e-6)
    assert patch.mask.all()

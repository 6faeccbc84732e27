"""U-Net training: learns drawn defects, resumes from its checkpoint, names images without masks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from segmentation_images import defect_images, write_dataset

from models.checkpoint import Checkpoint
from models.defects import MaskCounts
from models.images import save_png
from models.unet_model import SegmentationModel
from models.unet_training import (
    SegmentationEpoch,
    UNetTrainConfig,
    load_training_pairs,
    train_segmentation_model,
)

TINY = UNetTrainConfig(
    width=8, depth=2, crop=32, epochs=10, crops_per_epoch=96, batch_size=16, learning_rate=1e-2, device="cpu"
)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: on the shared 2-core machine, two threads of tiny convolutions run ~7x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model() -> SegmentationModel:
    images, masks = defect_images(12, seed=0)
    return train_segmentation_model(images, masks, TINY)


def test_tiny_training_segments_unseen_defects(model: SegmentationModel) -> None:
    """On new generated images the defect IoU is far above chance (a blob covers ~2 % of pixels)."""
    images, masks = defect_images(8, seed=1)
    pooled = sum(
        (MaskCounts.of(p, t) for p, t in zip(model.segment(images), masks, strict=True)), MaskCounts()
    )
    assert pooled.defect_iou > 0.5
    assert pooled.false_positive_rate < 0.02


def test_training_records_its_setup_in_the_card(model: SegmentationModel) -> None:
    """The card says how many images (and how many with defects) trained the model, and its threshold."""
    assert model.card["training"]["images"] == 12
    assert model.card["training"]["defect_images"] == 12
    assert model.card["training"]["config"]["width"] == 8
    assert model.threshold == TINY.threshold


class _Interrupted(Exception):
    pass


def test_resumed_training_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """A run interrupted after epoch 2 of 4 and resumed from its checkpoint ends with the same weights."""
    images, masks = defect_images(4, seed=2)
    short = UNetTrainConfig(
        width=4, depth=2, crop=32, epochs=4, crops_per_epoch=16, batch_size=8, device="cpu"
    )
    straight = train_segmentation_model(images, masks, short)
    checkpoint = Checkpoint(tmp_path / "checkpoint.pt")

    def stop_after_two(report: SegmentationEpoch) -> None:
        if report.epoch == 2:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        train_segmentation_model(images, masks, short, checkpoint, stop_after_two)
    epochs_seen: list[int] = []
    resumed = train_segmentation_model(
        images, masks, short, checkpoint, lambda r: epochs_seen.append(r.epoch)
    )
    assert epochs_seen == [3, 4]
    for name, tensor in straight.module.state_dict().items():
        torch.testing.assert_close(resumed.module.state_dict()[name], tensor, msg=name)


def test_resume_refuses_a_checkpoint_of_another_setup(tmp_path: Path) -> None:
    """A checkpoint written with another width is not silently loaded into a different network."""
    images, masks = defect_images(2, seed=3)
    checkpoint = Checkpoint(tmp_path / "checkpoint.pt")
    one = UNetTrainConfig(width=4, depth=2, crop=32, epochs=1, crops_per_epoch=8, batch_size=8, device="cpu")
    train_segmentation_model(images, masks, one, checkpoint)
    wider = UNetTrainConfig(
        width=6, depth=2, crop=32, epochs=2, crops_per_epoch=8, batch_size=8, device="cpu"
    )
    with pytest.raises(ValueError, match="different training setup"):
        train_segmentation_model(images, masks, wider, checkpoint)


def test_training_needs_at_least_one_defect_pixel() -> None:
    """All-background masks give nothing to learn: a clear error, not a model that finds nothing."""
    images, masks = defect_images(2, seed=4)
    with pytest.raises(ValueError, match="no mask marks any defect"):
        train_segmentation_model(images, [np.zeros_like(m) for m in masks], TINY)


def test_pairs_are_matched_by_base_name(tmp_path: Path) -> None:
    """JPEG or PNG images find `<base name>.png` masks, read as booleans."""
    images_dir, masks_dir = write_dataset(tmp_path, 2, seed=5, image_suffix=".jpg")
    images, masks = load_training_pairs(images_dir, masks_dir)
    assert len(images) == 2 and masks[0].dtype == bool and masks[0].shape == images[0].shape
    assert masks[0].any()


def test_an_image_without_mask_is_named(tmp_path: Path) -> None:
    """The error names the image and the mask path it expected."""
    images_dir, masks_dir = write_dataset(tmp_path, 2, seed=6)
    (masks_dir / "sample_1.png").unlink()
    with pytest.raises(ValueError, match=r"sample_1\.png has no mask: expected .*masks/sample_1\.png"):
        load_training_pairs(images_dir, masks_dir)


def test_a_mask_of_another_size_is_named(tmp_path: Path) -> None:
    """A mask whose size differs from its image is refused with both sizes."""
    images_dir, masks_dir = write_dataset(tmp_path, 1, seed=7)
    save_png(masks_dir / "sample_0.png", np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="sample_0.png is 10x10 but sample_0.png is 56x48"):
        load_training_pairs(images_dir, masks_dir)


def test_crop_must_fit_the_depth() -> None:
    """A crop that is not a multiple of 2**depth is refused up front."""
    with pytest.raises(ValueError, match="multiple of 2\\*\\*depth"):
        UNetTrainConfig(crop=100, depth=4)


def test_the_delivered_weights_are_averaged_over_the_end_of_the_run() -> None:
    """With an averaging window the delivered weights differ from the last ones, which a window
    of 0 delivers; a window outside [0, 1] is refused."""
    images, masks = defect_images(4, seed=4)
    short = UNetTrainConfig(
        width=4, depth=2, crop=32, epochs=3, crops_per_epoch=16, batch_size=8, device="cpu"
    )
    averaged = train_segmentation_model(images, masks, short).module.state_dict()
    last = train_segmentation_model(images, masks, replace(short, average_window=0.0)).module.state_dict()
    assert set(averaged) == set(last)
    assert not torch.equal(averaged["head.weight"], last["head.weight"])
    with pytest.raises(ValueError, match="average window"):
        UNetTrainConfig(average_window=1.5)

"""U-Net training: learns drawn defects, resumes from its checkpoint, names images without masks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image
from segmentation_images import defect_images, write_dataset

from models.checkpoint import Checkpoint
from models.defects import MaskCounts
from models.images import load_gray, save_png, to_uint8
from models.unet_model import SegmentationModel
from models.unet_training import (
    SegmentationEpoch,
    UNetTrainConfig,
    load_mask,
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


def _mask_values(masks_dir: Path, name: str, mask: np.ndarray, on: object) -> None:
    """Write the boolean `mask` as `<name>.png` with `on` (its dtype and channels) at defect pixels."""
    values = np.zeros((*mask.shape, *np.shape(on)), dtype=np.asarray(on).dtype)
    values[mask] = on
    Image.fromarray(values).save(masks_dir / f"{name}.png")


def test_any_non_zero_mask_value_marks_a_defect(tmp_path: Path) -> None:
    """0/1 masks, 16-bit masks, red marks on black, white marks on a transparent layer over white,
    and a mix of them in one folder all read as the defects they mark; 0/255 masks read exactly as
    before (anti-aliased edges aside)."""
    images_dir, masks_dir = write_dataset(tmp_path, 5, seed=8)
    truth = [load_gray(masks_dir / f"sample_{index}.png") > 0.5 for index in range(5)]
    _mask_values(masks_dir, "sample_1", truth[1], np.uint8(1))
    _mask_values(masks_dir, "sample_2", truth[2], np.array([255, 0, 0], np.uint8))
    _mask_values(masks_dir, "sample_3", truth[3], np.uint16(1))
    assert Image.open(masks_dir / "sample_3.png").mode == "I;16"
    layer = np.full((*truth[4].shape, 4), 255, np.uint8)
    layer[..., 3] = np.where(truth[4], 255, 0)
    Image.fromarray(layer).save(masks_dir / "sample_4.png")
    _, masks = load_training_pairs(images_dir, masks_dir)
    for index, (mask, expected) in enumerate(zip(masks, truth, strict=True)):
        np.testing.assert_array_equal(mask, expected, err_msg=f"sample_{index}")
    np.testing.assert_array_equal(load_mask(masks_dir / "sample_0.png"), truth[0])


def test_masks_marking_nothing_say_what_they_hold(tmp_path: Path) -> None:
    """All-zero masks are refused saying what they hold; black marks on a transparent layer are pointed out."""
    images_dir, masks_dir = write_dataset(tmp_path, 2, seed=9)
    for index in range(2):
        save_png(masks_dir / f"sample_{index}.png", np.zeros((48, 56), np.uint8))
    with pytest.raises(
        ValueError,
        match=r"no mask in .* marks any defect pixel: all 2 masks hold only 0 in every colour channel,",
    ):
        load_training_pairs(images_dir, masks_dir)
    _mask_values(masks_dir, "sample_0", np.eye(48, 56, dtype=bool), np.array([0, 0, 0, 255], np.uint8))
    with pytest.raises(
        ValueError,
        match="only 0 in the colour channels of their visible pixels.*black marks on a transparent layer",
    ):
        load_training_pairs(images_dir, masks_dir)


def test_masks_are_found_in_any_letter_case(tmp_path: Path) -> None:
    """`sample_0.jpg` takes `SAMPLE_0.PNG` (image listing ignores case too); two candidates are named."""
    images_dir, masks_dir = write_dataset(tmp_path, 2, seed=10, image_suffix=".jpg")
    (masks_dir / "sample_0.png").rename(masks_dir / "SAMPLE_0.PNG")
    (images_dir / "sample_1.jpg").rename(images_dir / "Sample_1.JPG")
    images, masks = load_training_pairs(images_dir, masks_dir)
    assert len(images) == 2 and all(mask.any() for mask in masks)
    save_png(masks_dir / "sample_0.png", np.zeros((48, 56), np.uint8))
    with pytest.raises(ValueError, match=r"sample_0\.jpg has two masks, SAMPLE_0\.PNG and sample_0\.png"):
        load_training_pairs(images_dir, masks_dir)


def test_images_sharing_a_base_name_are_refused(tmp_path: Path) -> None:
    """dup.png and dup.jpg would both take masks/dup.png: refused, naming both."""
    images_dir, masks_dir = write_dataset(tmp_path, 1, seed=11)
    (images_dir / "sample_0.png").rename(images_dir / "dup.png")
    (masks_dir / "sample_0.png").rename(masks_dir / "dup.png")
    Image.open(images_dir / "dup.png").save(images_dir / "dup.jpg")
    with pytest.raises(ValueError, match=r"dup\.jpg and dup\.png in .* share the base name"):
        load_training_pairs(images_dir, masks_dir)


def test_an_exif_turned_image_fits_its_mask(tmp_path: Path) -> None:
    """A JPEG stored sideways with an EXIF orientation pairs with a mask drawn on the displayed image."""
    images_dir, masks_dir = write_dataset(tmp_path, 1, seed=12)
    displayed = load_gray(images_dir / "sample_0.png")  # 48 high, 56 wide
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown turned a quarter clockwise from the stored pixels
    stored = Image.fromarray(to_uint8(np.rot90(displayed)))
    stored.save(images_dir / "sample_0.jpg", quality=95, exif=exif.tobytes())
    (images_dir / "sample_0.png").unlink()
    (image,), (mask,) = load_training_pairs(images_dir, masks_dir)
    assert image.shape == mask.shape == (48, 56)
    assert np.abs(image - displayed).mean() < 0.02


def _checkpoint_after(
    epochs: int, stop: int, tmp_path: Path
) -> tuple[list[np.ndarray], list[np.ndarray], Checkpoint]:
    """A run of `epochs` interrupted after epoch `stop`: the images, masks and its checkpoint."""
    images, masks = defect_images(2, seed=13)
    checkpoint = Checkpoint(tmp_path / "checkpoint.pt")
    config = UNetTrainConfig(
        width=4, depth=2, crop=32, epochs=epochs, crops_per_epoch=8, batch_size=8, device="cpu"
    )

    def stop_early(report: SegmentationEpoch) -> None:
        if report.epoch == stop:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        train_segmentation_model(images, masks, config, checkpoint, stop_early)
    return images, masks, checkpoint


@pytest.mark.parametrize("epochs", [2, 4])
def test_resume_refuses_another_epoch_count(tmp_path: Path, epochs: int) -> None:
    """Every epoch's learning rate depends on --epochs: a checkpoint of a 3-epoch run is not continued
    with 2 (which wrote a model of 3 epochs of another schedule) nor with 4 (a spliced schedule)."""
    images, masks, checkpoint = _checkpoint_after(3, 2, tmp_path)
    config = UNetTrainConfig(
        width=4, depth=2, crop=32, epochs=epochs, crops_per_epoch=8, batch_size=8, device="cpu"
    )
    with pytest.raises(
        ValueError,
        match=rf"different training setup \(checkpoint: epochs 3; now: epochs {epochs}\); delete it",
    ):
        train_segmentation_model(images, masks, config, checkpoint)


def test_a_checkpoint_of_another_model_kind_is_refused(tmp_path: Path) -> None:
    """An image autoencoder's checkpoint left in the folder is one line, not KeyError: 'config'."""
    images, masks = defect_images(1, seed=14)
    checkpoint = Checkpoint(tmp_path / "checkpoint.pt")
    checkpoint.save(1, {"module": {}, "optimiser": {}, "extra": {"identity": {"patch": 128}}})
    with pytest.raises(
        ValueError, match=r"different training setup \(it holds another kind of model\); delete it"
    ):
        train_segmentation_model(images, masks, TINY, checkpoint)

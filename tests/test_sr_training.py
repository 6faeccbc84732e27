"""SR training: the generator learns detail bicubic misses, and a run resumes from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sr_helpers import shapes_image

from models.checkpoint import Checkpoint
from models.degradation import DegradationConfig, degrade
from models.sr_metrics import psnr
from models.sr_training import SREpochReport, SRTrainConfig, train_sr_model

TINY = SRTrainConfig(
    scale=2,
    width=12,
    blocks=1,
    crop=32,
    batch_size=16,
    crops_per_epoch=192,
    epochs=6,
    gan_epochs=1,
    learning_rate=2e-3,
    discriminator_width=8,
    val_crops=16,
    device="cpu",
    degradation=DegradationConfig(
        blur_min=1.5, blur_max=2.0, noise_max=0.005
    ),  # a soft camera: much to restore
)


def test_trained_generator_beats_bicubic_on_a_held_out_image() -> None:
    """After a few epochs the generator's PSNR on an unseen degraded image is above bicubic's."""
    images = [shapes_image(seed, 64) for seed in range(8)]
    reports: list[SREpochReport] = []
    model = train_sr_model(images, TINY, progress=reports.append)
    held_out = shapes_image(100, 64)
    lr = degrade(held_out, 2, TINY.degradation, np.random.default_rng(5))
    bicubic = torch.nn.functional.interpolate(
        torch.from_numpy(lr)[None, None], scale_factor=2, mode="bicubic", align_corners=False
    )[0, 0].numpy()
    assert psnr(model.upscale([lr])[0], held_out, 2) > psnr(bicubic, held_out, 2) + 0.1
    assert [r.phase for r in reports] == ["pretrain"] * 6 + ["adversarial"]
    assert model.card["metrics"]["pretrain_psnr"] > model.card["metrics"]["initial_psnr"]
    assert model.card["degradation"]["jpeg_min"] == TINY.degradation.jpeg_min


def test_fine_tuning_that_loses_psnr_delivers_the_pretrained_generator() -> None:
    """An adversarial phase that wrecks validation PSNR is discarded: the pre-trained weights ship."""
    images = [shapes_image(seed, 48) for seed in range(4)]
    base = {**_fields(TINY), "epochs": 3, "crops_per_epoch": 128}  # enough to beat bicubic
    pretrained = train_sr_model(images, SRTrainConfig(**{**base, "gan_epochs": 0}))
    assert pretrained.card["delivered"]["epoch"] == 3
    harsh = SRTrainConfig(**{**base, "gan_epochs": 2, "adversarial_weight": 10.0, "gan_learning_rate": 1e-2})
    model = train_sr_model(images, harsh)
    metrics = model.card["metrics"]
    assert metrics["adversarial_psnr"] < metrics["pretrain_psnr"]
    assert model.version == pretrained.version
    assert model.card["delivered"]["phase"] == "pretrain"
    assert "pre-trained weights kept" in model.card["delivered"]["reason"]
    assert metrics["final_psnr"] == pretrained.card["metrics"]["final_psnr"]


def test_resumed_run_ends_with_the_same_generator(tmp_path: Path) -> None:
    """Stopping after epoch 2 and resuming gives the weights of an unbroken run."""
    images = [shapes_image(seed, 48) for seed in range(3)]
    config = SRTrainConfig(**{**_fields(TINY), "epochs": 2, "gan_epochs": 1, "crops_per_epoch": 32})
    unbroken = train_sr_model(images, config)
    checkpoint = Checkpoint.in_folder(tmp_path)
    first = SRTrainConfig(**{**_fields(config), "gan_epochs": 0})
    train_sr_model(images, first, checkpoint=checkpoint)
    assert checkpoint.load() is not None
    epochs_seen: list[int] = []
    resumed = train_sr_model(
        images, config, progress=lambda r: epochs_seen.append(r.epoch), checkpoint=checkpoint
    )
    assert epochs_seen == [3]
    assert resumed.version == unbroken.version


def test_checkpoint_of_other_settings_is_refused(tmp_path: Path) -> None:
    """A checkpoint written for another generator shape says so instead of crashing."""
    images = [shapes_image(seed, 48) for seed in range(2)]
    checkpoint = Checkpoint.in_folder(tmp_path)
    train_sr_model(
        images,
        SRTrainConfig(**{**_fields(TINY), "epochs": 1, "gan_epochs": 0, "crops_per_epoch": 16}),
        checkpoint=checkpoint,
    )
    wider = SRTrainConfig(
        **{**_fields(TINY), "width": 16, "epochs": 2, "gan_epochs": 0, "crops_per_epoch": 16}
    )
    with pytest.raises(ValueError, match="other settings") as raised:
        train_sr_model(images, wider, checkpoint=checkpoint)
    assert "\n" not in str(raised.value)  # load_state_dict's list of tensors would be many error lines


def test_images_smaller_than_the_crop_are_refused() -> None:
    """Training needs at least one image as large as the crop."""
    with pytest.raises(ValueError, match="at least 32x32"):
        train_sr_model([np.zeros((20, 20), np.float32)], TINY)


def _fields(config: SRTrainConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in SRTrainConfig.__dataclass_fields__}


def test_a_changed_pretraining_length_is_refused_on_resume(tmp_path: Path) -> None:
    """More adversarial epochs continue a run; another --epochs would move the phase boundary under it."""
    images = [shapes_image(seed, 48) for seed in range(2)]
    checkpoint = Checkpoint.in_folder(tmp_path)
    tiny = {**_fields(TINY), "epochs": 1, "gan_epochs": 0, "crops_per_epoch": 16}
    train_sr_model(images, SRTrainConfig(**tiny), checkpoint=checkpoint)
    with pytest.raises(
        ValueError, match=r"other settings \(checkpoint: epochs 1; now: epochs 2\); delete it"
    ):
        train_sr_model(images, SRTrainConfig(**{**tiny, "epochs": 2}), checkpoint=checkpoint)


def test_fewer_total_epochs_than_the_checkpoint_finished_are_refused(tmp_path: Path) -> None:
    """--gan-epochs may grow on resume, but a checkpoint after epoch 2 of 1 + 1 is not delivered as
    a 1 + 0 model: one line saying what to give instead."""
    images = [shapes_image(seed, 48) for seed in range(2)]
    checkpoint = Checkpoint.in_folder(tmp_path)
    tiny = {**_fields(TINY), "epochs": 1, "gan_epochs": 1, "crops_per_epoch": 16}
    train_sr_model(images, SRTrainConfig(**tiny), checkpoint=checkpoint)
    with pytest.raises(
        ValueError,
        match=r"finished epoch 2, more than --epochs 1 \+ --gan-epochs 0 = 1; give --gan-epochs 1 or more",
    ):
        train_sr_model(images, SRTrainConfig(**{**tiny, "gan_epochs": 0}), checkpoint=checkpoint)


def test_a_checkpoint_of_another_model_kind_is_refused(tmp_path: Path) -> None:
    """An image autoencoder's checkpoint left in the folder is one line naming the missing settings."""
    checkpoint = Checkpoint.in_folder(tmp_path)
    checkpoint.save(1, {"module": {}, "extra": {"identity": {"patch": 128}}})
    config = SRTrainConfig(**{**_fields(TINY), "epochs": 1, "gan_epochs": 0, "crops_per_epoch": 16})
    with pytest.raises(
        ValueError, match=r"was written with other settings \(it holds another kind of model\); delete it"
    ):
        train_sr_model([shapes_image(0, 48)], config, checkpoint=checkpoint)


def test_a_run_that_never_beats_bicubic_delivers_bicubic() -> None:
    """Training that only hurts (a learning rate far too high) ships the untrained generator: bicubic."""
    images = [shapes_image(seed, 48) for seed in range(3)]
    wild = SRTrainConfig(**{**_fields(TINY), "epochs": 2, "gan_epochs": 0, "learning_rate": 5.0})
    model = train_sr_model(images, wild)
    metrics = model.card["metrics"]
    assert metrics["pretrain_psnr"] < metrics["bicubic_psnr"]
    assert model.card["delivered"]["epoch"] == 0 and "bicubic delivered" in model.card["delivered"]["reason"]
    assert metrics["final_psnr"] == metrics["bicubic_psnr"]

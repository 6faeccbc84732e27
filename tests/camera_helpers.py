"""Shared helpers for camera tests: tiny vision models trained on generated frames, frame payloads.

The models are trained once per test process (seconds): a small autoencoder on normal 64x64 frames,
a small U-Net on frames with drawn defects and their masks, a x4 super-resolution generator.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from models.image_ae import ImageAEConfig
from models.image_ae_model import ImageAnomalyModel, ScoringConfig
from models.image_ae_training import ImageTrainConfig, train_image_ae
from models.sr_model import SuperResolutionModel
from models.sr_training import SRTrainConfig, train_sr_model
from models.unet_model import SegmentationModel
from models.unet_training import UNetTrainConfig, train_segmentation_model
from monitor import registry
from monitor.settings import Settings
from monitor.simulate_frames import make_frame
from monitor.store.db import create_engine_for
from monitor.store.migrate import upgrade

SIZE = 64
DEFECTS = ("blob", "scratch")


@dataclass(frozen=True)
class CameraModels:
    ae: ImageAnomalyModel
    unet: SegmentationModel
    sr: SuperResolutionModel


@functools.cache
def tiny_camera_models() -> CameraModels:
    """Models good enough to tell a frame with a blob and a scratch from a clean one at 64x64."""
    torch.set_num_threads(1)
    normal = [make_frame(i, SIZE).image for i in range(24)]
    ae = train_image_ae(
        normal,
        ImageTrainConfig(
            architecture=ImageAEConfig(widths=(8, 16, 16), latent=8, head_width=4, head_depth=2),
            scoring=ScoringConfig(size=SIZE),
            epochs=12,
            patch=32,
            patches_per_image=8,
            learning_rate=3e-3,  # the head must learn in few steps here
            device="cpu",
        ),
    )
    frames = [make_frame(300 + i, SIZE, DEFECTS if i % 2 else ()) for i in range(16)]
    unet = train_segmentation_model(
        [f.image for f in frames],
        [f.mask for f in frames],
        UNetTrainConfig(width=8, depth=2, crop=32, epochs=12, crops_per_epoch=128, device="cpu"),
    )
    sr = train_sr_model(
        normal,
        SRTrainConfig(
            scale=4, width=8, blocks=1, crop=32, crops_per_epoch=32, epochs=1, gan_epochs=0, device="cpu"
        ),
    )
    return CameraModels(ae, unet, sr)


def install_camera_models(
    settings: Settings, camera: str, models: CameraModels, with_sr: bool = False
) -> None:
    """Migrate the test database and register the camera's image-ae and unet (and sr) models."""
    upgrade(settings.database.url)
    engine = create_engine_for(settings.database.url)
    try:
        chosen = [("image-ae", models.ae), ("unet", models.unet)] + ([("sr", models.sr)] if with_sr else [])
        for kind, model in chosen:
            directory = settings.models.store / camera / kind / model.version
            model.save(directory)
            registry.register(engine, camera, kind, directory, model.card, activate=True)
    finally:
        engine.dispose()


def camera_settings(**overrides: object) -> dict[str, object]:
    """Config of one test camera: both models, artifacts for anomalous frames and every 5th."""
    return {"models": ["ae", "unet"], "backlog": 64, "batch_max": 8, **overrides}


def artifact_dir(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"

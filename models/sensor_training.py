"""Training a sensor model from a baseline recording: normalisation, windows, a time-ordered
validation split, early stopping, and the baseline scores that initialise the threshold."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.utils.data import TensorDataset

from models.sensor_ae import SensorAE, SensorAEConfig
from models.sensor_model import Normalisation, SensorModel, Standardiser, sliding_windows
from models.training import FitConfig, ProgressCallback, fit, resolve_device, seed_everything

MIN_TRAIN_WINDOWS = 8


@dataclass(frozen=True, slots=True)
class SensorTrainConfig:
    """Everything that decides the trained model; stored in the card for reproducibility."""

    window: int = 32
    width: int = 16
    depth: int = 2
    latent: int = 4
    kernel: int = 5
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    fit: FitConfig = field(default_factory=FitConfig)


def _windows(data: np.ndarray, window: int) -> torch.Tensor:
    """All raw windows [B, W, C] of readings [N, C], in time order."""
    return torch.from_numpy(np.ascontiguousarray(sliding_windows(data, window), dtype=np.float32))


def train_sensor_model(
    data: np.ndarray,
    channels: list[str],
    config: SensorTrainConfig,
    progress: ProgressCallback | None = None,
) -> SensorModel:
    """Train an autoencoder on baseline readings `data` [N, C] (raw units, time order).

    The validation split is the last `val_fraction` of the readings, not a random sample of windows:
    overlapping windows would otherwise leak the validation data into training.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != len(channels):
        raise ValueError(f"data must be [readings, {len(channels)} channels], got {list(data.shape)}")
    if not np.isfinite(data).all():
        raise ValueError("training data holds NaN or infinite values")
    val_rows = max(int(round(len(data) * config.val_fraction)), config.window)
    train_rows = len(data) - val_rows
    if train_rows - config.window + 1 < MIN_TRAIN_WINDOWS:
        needed = MIN_TRAIN_WINDOWS + 2 * config.window - 1
        raise ValueError(
            f"{len(data)} readings are too few to train with window {config.window} (need {needed})"
        )

    generator = seed_everything(config.seed)
    device = resolve_device(config.device)
    normalisation = Normalisation.fit(data, config.window)
    standardise = Standardiser(normalisation, torch.device("cpu"))
    train = standardise(_windows(data[:train_rows], config.window))
    val = standardise(_windows(data[train_rows:], config.window))
    architecture = SensorAEConfig(
        channels=len(channels),
        window=config.window,
        width=config.width,
        depth=config.depth,
        latent=config.latent,
        kernel=config.kernel,
    )
    module = SensorAE(architecture)
    started = time.perf_counter()
    result = fit(
        module,
        torch.nn.functional.mse_loss,
        TensorDataset(train, train),
        TensorDataset(val, val),
        config.fit,
        device,
        generator,
        progress,
    )
    card = {
        "training": {
            "readings": len(data),
            "train_windows": len(train),
            "val_windows": len(val),
            "config": asdict(config),
            "device": device.type,
            "seconds": round(time.perf_counter() - started, 3),
        },
        "metrics": {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "val_loss": result.best_val_loss,
            "train_loss": result.history[result.best_epoch - 1].train_loss,
        },
    }
    model = SensorModel(module, channels, normalisation, np.zeros(0), card, device=device.type)
    model.training_scores, _ = model.score_windows(_windows(data, config.window).numpy())
    model.card["training"]["score_summary"] = _summary(model.training_scores)
    return model


def _summary(scores: np.ndarray) -> dict[str, float]:
    return {
        "count": float(len(scores)),
        "mean": float(scores.mean()),
        "p50": float(np.quantile(scores, 0.5)),
        "p99": float(np.quantile(scores, 0.99)),
        "max": float(scores.max()),
    }

"""Training utilities shared by every model: device choice, seeding, mixed precision and the epoch
loop with early stopping and progress reports.

Each model's own module decides the architecture and the loss; this module decides how an epoch is
run, so that every model trains, stops and reports the same way.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, TensorDataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EpochReport:
    """What one epoch achieved, for the progress callback (CLI prints it, commissioning logs it)."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    seconds: float
    best: bool


ProgressCallback = Callable[[EpochReport], None]


@dataclass(frozen=True, slots=True)
class FitConfig:
    """How long and how fast to train; early stopping keeps the weights of the best validation epoch."""

    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 8


@dataclass(frozen=True, slots=True)
class FitResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    history: list[EpochReport]


def resolve_device(name: str = "auto") -> torch.device:
    """Map the configured device name to a torch device; `auto` picks CUDA when it is present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but CUDA is not available")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; valid: auto, cpu, cuda")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch so that a run with the same seed trains the same model."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Mixed precision on CUDA (bfloat16 where supported, else float16); full precision on the CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def weight_average(module: nn.Module, window: float) -> AveragedModel | None:
    """A moving average of the weights (Polyak averaging) over the last `window` share of the steps
    taken so far, or None for window 0 (the last weights are delivered).

    Call `update_parameters` after every optimiser step. The averaged weights sit in the middle of
    the region the last steps wander around in, so they depend less on where the final step happened
    to land: fewer false defect regions for the U-Net, a higher mean image AUROC for the anomaly
    model (docs/evaluation.md). The window grows with the run instead of being fixed, so a
    short run is not dragged back to its first, untrained weights, and a resumed or extended run
    averages exactly as an uninterrupted one.
    """
    if window <= 0.0:
        return None

    @torch.no_grad()
    def update(
        averaged: Sequence[torch.Tensor], current: Sequence[torch.Tensor], steps: torch.Tensor | int
    ) -> None:
        weight = min(1.0, 1.0 / (window * (float(steps) + 1.0)))
        for mean, value in zip(averaged, current, strict=True):
            if mean.is_floating_point():
                mean.lerp_(value, weight)
            else:  # counters such as BatchNorm's num_batches_tracked
                mean.copy_(value)

    return AveragedModel(module, multi_avg_fn=update, use_buffers=True)


def _batches(
    loader: DataLoader[tuple[torch.Tensor, ...]], device: torch.device
) -> Iterator[list[torch.Tensor]]:
    for batch in loader:
        yield [tensor.to(device, non_blocking=True) for tensor in batch]


def fit(
    module: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    train: TensorDataset,
    val: TensorDataset,
    config: FitConfig,
    device: torch.device,
    generator: torch.Generator,
    progress: ProgressCallback | None = None,
) -> FitResult:
    """Train `module` on (input, target) pairs with Adam, stop early on the validation loss and leave
    the module holding the weights of its best validation epoch.

    Why restore the best weights: the last epoch before patience runs out has, by definition, a
    worse validation loss; the model card records the best epoch and its loss.
    """
    module.to(device)
    optimiser = torch.optim.Adam(
        module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    use_scaler = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    train_loader = DataLoader(train, batch_size=config.batch_size, shuffle=True, generator=generator)
    val_loader = DataLoader(val, batch_size=max(config.batch_size, 256))
    best_loss, best_epoch, best_state = float("inf"), 0, copy.deepcopy(module.state_dict())
    history: list[EpochReport] = []
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        module.train()
        train_sum, train_count = 0.0, 0
        for inputs, targets in _batches(train_loader, device):
            optimiser.zero_grad(set_to_none=True)
            with autocast(device):
                loss = loss_fn(module(inputs).float(), targets)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            train_sum += float(loss.detach()) * len(inputs)
            train_count += len(inputs)
        val_loss = evaluate(module, loss_fn, val_loader, device)
        improved = val_loss < best_loss
        if improved:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(module.state_dict())
        report = EpochReport(
            epoch=epoch,
            epochs=config.epochs,
            train_loss=train_sum / max(train_count, 1),
            val_loss=val_loss,
            seconds=time.perf_counter() - started,
            best=improved,
        )
        history.append(report)
        if progress is not None:
            progress(report)
        if epoch - best_epoch >= config.patience:
            logger.info("early stop at epoch %d (best %d, val loss %.5g)", epoch, best_epoch, best_loss)
            break
    module.load_state_dict(best_state)
    module.eval()
    return FitResult(best_epoch=best_epoch, best_val_loss=best_loss, epochs_run=len(history), history=history)


def evaluate(
    module: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    loader: DataLoader[tuple[torch.Tensor, ...]],
    device: torch.device,
) -> float:
    """Mean loss over a loader, in eval mode and without gradients."""
    module.eval()
    total, count = 0.0, 0
    with torch.inference_mode(), autocast(device):
        for inputs, targets in _batches(loader, device):
            total += float(loss_fn(module(inputs).float(), targets)) * len(inputs)
            count += len(inputs)
    return total / max(count, 1)

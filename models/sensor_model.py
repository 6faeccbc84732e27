"""A trained sensor model ready to score: the autoencoder, the per-channel normalisation learnt from
the baseline, the channel order, and the scores of the baseline windows.

This is the one scoring function of the project: the daemon's worker, `monitor score sensor` and the
SKAB evaluation all call `SensorModel.score_windows`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.card import ModelCardError, ModelFiles, check_version, load_model_dir, save_model_dir
from models.sensor_ae import SensorAE, SensorAEConfig
from models.training import autocast, resolve_device

KIND = "sensor-ae"
CARD_FORMAT = 1
LEVEL_FREE_RATIO = 0.5  # within-window share of a channel's variance below which its level is ignored
SCORE_CHUNK = 8192  # windows per forward pass: bounds memory when a whole CSV is scored at once


def sliding_windows(values: np.ndarray, window: int) -> np.ndarray:
    """All windows [N - window + 1, window, C] of readings [N, C] (the model's input layout), as a
    read-only view; each window's last row is the reading its score belongs to."""
    if len(values) < window:
        return np.zeros((0, window, values.shape[1]), dtype=values.dtype)
    return np.lib.stride_tricks.sliding_window_view(values, window, axis=0).transpose(0, 2, 1)


def state_version(state_dict: dict[str, torch.Tensor]) -> str:
    """A short content hash of the weights: the same weights give the same version on any machine."""
    digest = hashlib.sha256()
    for name, tensor in state_dict.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Normalisation:
    """How raw readings become model inputs, learnt from the baseline.

    Most channels are standardised with the baseline mean and std: their level is what the model
    judges. A channel whose baseline variance lies mostly on time scales longer than a window
    (temperatures warming up, slow drifts) is `level_free`: the baseline cannot tell its normal
    range, so the model sees it minus its window mean, scaled by its within-window std, and judges
    its shape only.
    """

    mean: np.ndarray
    std: np.ndarray
    level_free: np.ndarray

    @classmethod
    def fit(cls, data: np.ndarray, window: int) -> Normalisation:
        mean, total_var = data.mean(axis=0), data.var(axis=0)
        within_var = np.lib.stride_tricks.sliding_window_view(data, window, axis=0).var(axis=2).mean(axis=0)
        level_free = within_var < LEVEL_FREE_RATIO * total_var
        std = np.sqrt(np.where(level_free, within_var, total_var))
        constant = std <= 1e-9 * np.maximum(np.abs(mean), 1.0)
        return cls(mean=mean, std=np.where(constant, 1.0, std), level_free=level_free)

    def to_dict(self) -> dict[str, list[float] | list[bool]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "level_free": self.level_free.tolist()}

    @classmethod
    def from_dict(cls, values: dict[str, list[float]]) -> Normalisation:
        return cls(
            mean=np.asarray(values["mean"], dtype=np.float64),
            std=np.asarray(values["std"], dtype=np.float64),
            level_free=np.asarray(values["level_free"], dtype=bool),
        )


class Standardiser:
    """`Normalisation` as tensors on the model's device: raw windows [B, W, C] to inputs [B, C, W]."""

    def __init__(self, normalisation: Normalisation, device: torch.device) -> None:
        self.mean = torch.as_tensor(normalisation.mean, dtype=torch.float32, device=device)
        self.scale = torch.as_tensor(1.0 / normalisation.std, dtype=torch.float32, device=device)
        self.level_free = torch.as_tensor(normalisation.level_free, device=device)
        self.any_level_free = bool(normalisation.level_free.any())

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        centre = self.mean
        if self.any_level_free:
            centre = torch.where(self.level_free, windows.mean(dim=1, keepdim=True), self.mean)
        return ((windows - centre) * self.scale).transpose(1, 2)


SCORE_CAP = 1e30  # a channel's contribution when the model's arithmetic overflowed


class SensorModel:
    """Scores raw sensor windows; each score belongs to the window's last reading (causal)."""

    def __init__(
        self,
        module: SensorAE,
        channels: list[str],
        normalisation: Normalisation,
        training_scores: np.ndarray,
        card: dict[str, Any],
        device: str = "auto",
    ) -> None:
        if len(channels) != module.config.channels:
            raise ValueError(
                f"{len(channels)} channel names for a module of {module.config.channels} channels"
            )
        self.device = resolve_device(device)
        self.module = module.to(self.device).eval()
        self.channels = list(channels)
        self.window = module.config.window
        self.normalisation = normalisation
        self.standardise = Standardiser(normalisation, self.device)
        self.training_scores = np.asarray(training_scores, dtype=np.float64)
        self.version = state_version(module.state_dict())
        self.card = {**card, "kind": KIND, "format": CARD_FORMAT, "version": self.version}

    def score_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score windows [B, window, C] in raw units; return scores [B] and contributions [B, C].

        The score is the mean squared reconstruction error of the standardised window; a channel's
        contribution is its share of that mean, so each row of contributions sums to its score and
        the operator sees which sensor moved.
        """
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 3 or windows.shape[1:] != (self.window, len(self.channels)):
            raise ValueError(
                f"windows must have shape [B, {self.window}, {len(self.channels)}], got {list(windows.shape)}"
            )
        parts = [self._score_chunk(windows[i : i + SCORE_CHUNK]) for i in range(0, len(windows), SCORE_CHUNK)]
        if not parts:
            return np.zeros(0, dtype=np.float64), np.zeros((0, len(self.channels)), dtype=np.float64)
        # A window the float32 model overflows on scores the cap: not normal, and still a number
        # that thresholds, alerts and their JSON can carry.
        contributions = np.nan_to_num(
            np.concatenate(parts).astype(np.float64), nan=SCORE_CAP, posinf=SCORE_CAP
        )
        return contributions.sum(axis=1), contributions

    def _score_chunk(self, windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.require(windows, requirements=["C", "W"])).to(self.device)
            x = self.standardise(x)
            with autocast(self.device):
                reconstruction = self.module(x)
            error = (reconstruction.float() - x).square_()
            contributions = error.mean(dim=2).div_(x.shape[1])
            return contributions.cpu().numpy()

    def save(self, directory: Path) -> None:
        """Write the model directory (weights, baseline scores, card with hashes)."""
        card = {
            **self.card,
            "inputs": {"channels": self.channels, "window": self.window},
            "architecture": self.module.config.to_dict(),
            "normalisation": self.normalisation.to_dict(),
        }
        state = {name: tensor.detach().cpu() for name, tensor in self.module.state_dict().items()}
        files = ModelFiles(
            card=card, state_dict=state, arrays={"training_scores": self.training_scores.astype(np.float64)}
        )
        self.card = save_model_dir(directory, files)

    @classmethod
    def load(cls, directory: Path, device: str = "auto") -> SensorModel:
        """Load and verify a model directory written by `save`; ModelCardError says what is wrong
        with it, ValueError that `device` cannot be used (checked first, apart: not the model's fault)."""
        resolved = resolve_device(device).type
        files = load_model_dir(directory, KIND)
        card = files.card
        try:
            config = SensorAEConfig(**card["architecture"])
            module = SensorAE(config)
            module.load_state_dict(files.state_dict)
            model = cls(
                module,
                channels=card["inputs"]["channels"],
                normalisation=Normalisation.from_dict(card["normalisation"]),
                training_scores=files.arrays["training_scores"],
                card=card,
                device=resolved,
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelCardError(f"{directory}: model card and weights do not fit together: {exc}") from exc
        check_version(directory, model.version, card)
        return model

"""A trained U-Net ready to segment: the module, the probability threshold that makes a mask, and the
card. The daemon, `monitor segment` and scripts/eval_unet.py all call `SegmentationModel.segment`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.card import ModelCardError, ModelFiles, check_version, load_model_dir, save_model_dir
from models.images import pad_to_multiple
from models.sensor_model import state_version
from models.tiling import per_pass, run_tiled
from models.training import autocast, resolve_device
from models.unet import UNet, UNetConfig

KIND = "unet"
CARD_FORMAT = 1
BATCH = 8  # images per forward pass: bounds memory when a whole folder is segmented at once
PASS_PIXELS = 4 * 1024 * 1024  # and pixels per pass: about 1.2 GB of activations on CPU
WHOLE_PIXELS = 2 * 1024 * 1024  # larger images are segmented in tiles (models/tiling.py)
TILE, TILE_MARGIN = 512, 32  # a tile's centre and the context around it, in pixels
STD_FLOOR = 0.02  # a flat image is not stretched into noise


def normalise(image: np.ndarray) -> np.ndarray:
    """Per-image standardisation of a gray image [H, W] in [0, 1].

    Why per image: inspection lighting differs between runs and cameras (exposure, gain); removing
    each image's mean and scale lets one model read defects as local contrast under any of them.
    """
    image = np.asarray(image, dtype=np.float32)
    return (image - image.mean()) / max(float(image.std()), STD_FLOOR)


class SegmentationModel:
    """Segments gray images of any size into boolean defect masks at the input resolution."""

    def __init__(self, module: UNet, threshold: float, card: dict[str, Any], device: str = "auto") -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
        self.device = resolve_device(device)
        # channels_last: the CPU convolution kernels run about 1.8x faster in this layout (measured)
        self.module = module.to(self.device).to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
        self.threshold = float(threshold)
        self.version = state_version(module.state_dict())
        self.card = {**card, "kind": KIND, "format": CARD_FORMAT, "version": self.version}

    def segment(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Boolean defect masks [H, W], one per gray image [H, W] in [0, 1]."""
        return [probability >= self.threshold for probability in self.probabilities(images)]

    def probabilities(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Per-pixel defect probability maps (float32 [H, W]), one per image, in input order.

        Images of one size are batched together (within BATCH images and PASS_PIXELS pixels); each
        batch is reflect-padded to a multiple of 2**depth and the output cropped back, so any size is
        segmented at its own resolution. Images above WHOLE_PIXELS go in overlapping tiles, standardised
        as a whole first, so memory stays bounded whatever the camera sends.
        """
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            if np.ndim(image) != 2:
                raise ValueError(f"image {index} must be gray [H, W], got shape {list(np.shape(image))}")
            by_shape[np.shape(image)].append(index)
        maps: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(images)
        for (height, width), indices in by_shape.items():
            if height * width > WHOLE_PIXELS:
                for index in indices:
                    maps[index] = self._tiled(normalise(images[index]))
                continue
            step = per_pass(height * width, PASS_PIXELS, BATCH)
            for start in range(0, len(indices), step):
                chunk = indices[start : start + step]
                batch = np.stack([normalise(images[i]) for i in chunk])
                for index, probability in zip(chunk, self._forward(batch), strict=True):
                    maps[index] = probability
        return maps

    def _tiled(self, standardised: np.ndarray) -> np.ndarray:
        # Padded as the whole image would be (bottom and right, to the network's multiple), so the
        # tiles, their margins and the image all lie on the whole image's pooling grid.
        height, width = standardised.shape
        multiple = self.module.config.multiple
        padded = np.pad(standardised, ((0, -height % multiple), (0, -width % multiple)), mode="reflect")
        return run_tiled(self._forward, padded, TILE, TILE_MARGIN, PASS_PIXELS)[:height, :width]

    def _forward(self, standardised: np.ndarray) -> np.ndarray:
        """Probabilities [B, H, W] of a batch of standardised images [B, H, W]."""
        batch = torch.from_numpy(np.ascontiguousarray(standardised, dtype=np.float32)[:, None])
        with torch.inference_mode():
            padded, (height, width) = pad_to_multiple(batch.to(self.device), self.module.config.multiple)
            with autocast(self.device):
                logits = self.module(padded.contiguous(memory_format=torch.channels_last))
            return torch.sigmoid(logits.float()[:, 0, :height, :width]).cpu().numpy()

    def save(self, directory: Path) -> None:
        """Write the model directory (weights, card with architecture, threshold and hashes)."""
        card = {
            **self.card,
            "inputs": {"channels": 1, "size": "any", "multiple": self.module.config.multiple},
            "normalisation": {"method": "per-image standardisation", "std_floor": STD_FLOOR},
            "architecture": self.module.config.to_dict(),
            "threshold": self.threshold,
        }
        state = {
            name: tensor.detach().cpu().contiguous() for name, tensor in self.module.state_dict().items()
        }
        self.card = save_model_dir(directory, ModelFiles(card=card, state_dict=state))

    @classmethod
    def load(cls, directory: Path, device: str = "auto") -> SegmentationModel:
        """Load and verify a model directory written by `save`; ModelCardError says what is wrong
        with it, ValueError that `device` cannot be used (checked first, apart: not the model's fault)."""
        resolved = resolve_device(device).type
        files = load_model_dir(directory, KIND)
        card = files.card
        try:
            module = UNet(UNetConfig(**card["architecture"]))
            module.load_state_dict(files.state_dict)
            model = cls(module, threshold=float(card["threshold"]), card=card, device=resolved)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelCardError(f"{directory}: model card and weights do not fit together: {exc}") from exc
        check_version(directory, model.version, card)
        return model

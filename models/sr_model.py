"""A trained super-resolution generator ready to upscale frames: the daemon (for low-resolution
cameras), `monitor upscale` and the evaluation all call `SuperResolutionModel.upscale`."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.card import ModelCardError, ModelFiles, check_version, load_model_dir, save_model_dir
from models.sensor_model import state_version
from models.sr_gan import Generator, GeneratorConfig
from models.tiling import per_pass, run_tiled
from models.training import autocast, resolve_device

KIND = "sr"
CARD_FORMAT = 1
BATCH = 16  # frames per forward pass: bounds memory when a folder of equal-sized images is upscaled
PASS_PIXELS = 4 * 1024 * 1024  # and output pixels per pass
WHOLE_PIXELS = 4 * 1024 * 1024  # larger outputs are upscaled in tiles (models/tiling.py)
TILE, TILE_MARGIN = 256, 16  # a tile's centre and the context around it, in input pixels


class SuperResolutionModel:
    """Upscales gray [0, 1] images by the generator's factor (2 or 4); any input size."""

    def __init__(self, module: Generator, card: dict[str, Any], device: str = "auto") -> None:
        self.device = resolve_device(device)
        self.module = module.to(self.device).eval()
        self.scale = module.config.scale
        self.version = state_version(module.state_dict())
        self.card = {**card, "kind": KIND, "format": CARD_FORMAT, "version": self.version}

    def upscale(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """float32 [H·scale, W·scale] in [0, 1] for each gray [H, W] image, in input order.

        Images of the same size share forward passes (a camera's frames usually do), within BATCH
        frames and PASS_PIXELS output pixels; an image whose output would exceed WHOLE_PIXELS is
        upscaled in overlapping tiles, so memory stays bounded whatever its size.
        """
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            if image.ndim != 2:
                raise ValueError(
                    f"image {index}: expected a gray [H, W] array, got shape {list(image.shape)}"
                )
            by_shape[image.shape].append(index)
        results: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(images)
        for (height, width), indices in by_shape.items():
            out_pixels = height * width * self.scale**2
            if out_pixels > WHOLE_PIXELS:
                for index in indices:
                    results[index] = self._tiled(images[index])
                continue
            step = per_pass(out_pixels, PASS_PIXELS, BATCH)
            for start in range(0, len(indices), step):
                chunk = indices[start : start + step]
                outputs = self._forward(np.stack([images[i] for i in chunk]))
                for i, output in zip(chunk, outputs, strict=True):
                    results[i] = output
        return results

    def _tiled(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        return run_tiled(self._forward, image, TILE, TILE_MARGIN, PASS_PIXELS, self.scale)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).unsqueeze(1).to(self.device)
            with autocast(self.device):
                y = self.module(x)
            return y.float().clamp_(0.0, 1.0).squeeze(1).cpu().numpy()

    def save(self, directory: Path) -> None:
        """Write the model directory (generator weights, card with hashes)."""
        card = {
            **self.card,
            "scale": self.scale,
            "inputs": {"channels": 1, "range": [0.0, 1.0], "size": "any"},
            "architecture": self.module.config.to_dict(),
        }
        state = {name: tensor.detach().cpu() for name, tensor in self.module.state_dict().items()}
        self.card = save_model_dir(directory, ModelFiles(card=card, state_dict=state))

    @classmethod
    def load(cls, directory: Path, device: str = "auto") -> SuperResolutionModel:
        """Load and verify a model directory written by `save`; ModelCardError says what is wrong
        with it, ValueError that `device` cannot be used (checked first, apart: not the model's fault)."""
        resolved = resolve_device(device).type
        files = load_model_dir(directory, KIND)
        card = files.card
        try:
            module = Generator(GeneratorConfig(**card["architecture"]))
            module.load_state_dict(files.state_dict)
            model = cls(module, card, device=resolved)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelCardError(f"{directory}: model card and weights do not fit together: {exc}") from exc
        check_version(directory, model.version, card)
        return model

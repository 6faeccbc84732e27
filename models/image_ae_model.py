"""A trained image anomaly model ready to score: the network (reconstructive autoencoder plus
discriminative head), the working resolution, how the head's anomaly map becomes a heatmap and a
score, and the scores of the normal training images.

The one image scoring path: the daemon, `monitor score image-ae` and the evaluation script all call
`ImageAnomalyModel.score_images`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.card import ModelCardError, ModelFiles, check_version, load_model_dir, save_model_dir
from models.image_ae import ImageAEConfig, ImageAnomalyNet, blur
from models.images import pad_to_multiple
from models.sensor_model import state_version
from models.training import autocast, resolve_device

KIND = "image-ae"
CARD_FORMAT = 2  # 2: autoencoder + discriminative head (format 1 held the autoencoder alone)
SCORE_BATCH = 16  # images per forward pass: bounds memory when a whole folder is scored
NORMALISED_STD = 0.15
MIRRORS = ((), (-1,), (-2,), (-2, -1))  # flip_average: as is, left-right, upside down, both


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """How images enter the model and how the head's anomaly map becomes a heatmap and one score.

    `size`: the longer image side is resized to this many pixels (aspect kept), a fixed scale per
    camera that bounds the cost for large frames. `smooth_sigma`: Gaussian smoothing of the anomaly
    probabilities in working pixels; kept light, because at the working size a small defect covers
    a few pixels and wider smoothing (DRAEM mean-filters 21 px at 256) spread its peak below broad,
    mild responses on normal texture (docs/evaluation.md). `top_fraction`: the score is the mean of
    this share of the highest heatmap pixels; the default (one pixel) is DRAEM's max.
    `normalise`: each image is standardised to mean 0.5 and std NORMALISED_STD, so that lighting
    runs of different brightness and gain look alike, and SSIM sees the texture of dark images.
    `flip_average`: the anomaly map is the mean over the image and its three mirror images, which
    evens out the head's orientation-dependent false peaks on normal texture (image AUROC on the
    magnetic tiles 0.953 against 0.917 over four seeds) at 3.6 times the cost; off by default
    because two CPU cores then no longer score 25 frames/s beside the U-Net (docs/evaluation.md).
    """

    size: int = 128
    normalise: bool = True
    smooth_sigma: float = 0.5
    top_fraction: float = 1e-9
    flip_average: bool = False

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {self.size}")
        if not 0.0 < self.top_fraction <= 1.0 or self.smooth_sigma < 0:
            raise ValueError("top_fraction must lie in (0, 1] and smooth_sigma be at least 0")

    def working_shape(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """(height, width) at which an image of `shape` is scored: longer side = size."""
        height, width = shape[:2]
        factor = self.size / max(height, width)
        return max(1, round(height * factor)), max(1, round(width * factor))


def to_working(image: np.ndarray, config: ScoringConfig) -> torch.Tensor:
    """A float image [H, W] as a [1, 1, h, w] tensor at the working resolution, normalised if so configured."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    shape = config.working_shape(image.shape)
    if shape != tuple(image.shape):
        mode = "area" if shape[0] < image.shape[0] else "bilinear"
        tensor = F.interpolate(tensor, size=shape, mode=mode)
    if config.normalise:
        std = tensor.std().clamp_min(1e-3)
        tensor = (tensor - tensor.mean()) * (NORMALISED_STD / std) + 0.5
    return tensor.clamp_(0.0, 1.0)


class ImageAnomalyModel:
    """Scores grayscale images: an anomaly heatmap per pixel and one score per image."""

    kind = KIND

    def __init__(
        self,
        module: ImageAnomalyNet,
        scoring: ScoringConfig,
        training_scores: np.ndarray,
        card: dict[str, Any],
        device: str = "auto",
    ) -> None:
        self.device = resolve_device(device)
        # channels_last: the CPU convolution kernels run faster in this layout (as for the U-Net)
        self.module = module.to(self.device).to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
        self.scoring = scoring
        self.training_scores = np.asarray(training_scores, dtype=np.float64)
        self.version = state_version(module.state_dict())
        self.card = {**card, "kind": KIND, "format": CARD_FORMAT, "version": self.version}

    @property
    def threshold(self) -> float | None:
        """The calibrated threshold stored in the card, when there is one."""
        calibration = self.card.get("threshold_calibration")
        return None if calibration is None else float(calibration["value"])

    def score_images(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Score float images [H, W] in [0, 1]; return scores [B] and heatmaps at each input's size.

        Images of one working shape are batched together (a camera's frames all are).
        """
        scores = np.zeros(len(images), dtype=np.float64)
        heatmaps: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            if image.ndim != 2:
                raise ValueError(f"images must be grayscale [H, W], got shape {list(image.shape)}")
            groups.setdefault(self.scoring.working_shape(image.shape), []).append(index)
        for members in groups.values():
            for start in range(0, len(members), SCORE_BATCH):
                chunk = members[start : start + SCORE_BATCH]
                batch = torch.cat([to_working(images[i], self.scoring) for i in chunk])
                maps = self.heatmaps(batch)
                scores[chunk] = self.image_scores(maps).cpu().numpy()
                for i, heatmap in zip(chunk, maps, strict=True):
                    full = F.interpolate(heatmap[None], size=images[i].shape, mode="bilinear")
                    heatmaps[i] = full[0, 0].cpu().numpy().astype(np.float32)
        return scores, heatmaps

    def heatmaps(self, batch: torch.Tensor) -> torch.Tensor:
        """Smoothed anomaly probabilities [B, 1, h, w] of a working-resolution batch [B, 1, h, w]."""
        with torch.inference_mode():
            x = batch.to(self.device)
            if self.scoring.flip_average:
                mirrored = [self._probabilities(x.flip(dims)).flip(dims) for dims in MIRRORS]
                probabilities = torch.stack(mirrored).mean(dim=0)
            else:
                probabilities = self._probabilities(x)
            return blur(probabilities.contiguous(), self.scoring.smooth_sigma)

    def _probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """The head's anomaly probabilities [B, 1, h, w] of a working-resolution batch."""
        padded, (height, width) = pad_to_multiple(x, self.module.config.stride, self.module.config.min_size)
        with autocast(self.device):
            _, logits = self.module(padded.contiguous(memory_format=torch.channels_last))
        return torch.sigmoid(logits.float()[..., :height, :width])

    def image_scores(self, maps: torch.Tensor) -> torch.Tensor:
        """Mean of the top `top_fraction` of each heatmap's pixels, [B]."""
        flat = maps.flatten(1)
        k = max(1, round(self.scoring.top_fraction * flat.shape[1]))
        return flat.topk(k, dim=1).values.mean(dim=1).double()

    def save(self, directory: Path) -> None:
        """Write the model directory (weights, training scores, card with hashes)."""
        card = {
            **self.card,
            "inputs": {"channels": 1, "mode": "L", "size": self.scoring.size},
            "architecture": self.module.config.to_dict(),
            "scoring": asdict(self.scoring),
        }
        state = {name: tensor.detach().cpu() for name, tensor in self.module.state_dict().items()}
        files = ModelFiles(card=card, state_dict=state, arrays={"training_scores": self.training_scores})
        self.card = save_model_dir(directory, files)

    @classmethod
    def load(cls, directory: Path, device: str = "auto") -> ImageAnomalyModel:
        """Load and verify a model directory written by `save`; ModelCardError says what is wrong
        with it, ValueError that `device` cannot be used (checked first, apart: not the model's fault)."""
        resolved = resolve_device(device).type
        files = load_model_dir(directory, KIND)
        card = files.card
        if card.get("format") != CARD_FORMAT:
            raise ModelCardError(
                f"{directory}: card format {card.get('format')}, this version reads {CARD_FORMAT}; retrain the model"
            )
        try:
            module = ImageAnomalyNet(ImageAEConfig.from_dict(card["architecture"]))
            module.load_state_dict(files.state_dict)
            model = cls(
                module,
                scoring=ScoringConfig(**card["scoring"]),
                training_scores=files.arrays["training_scores"],
                card=card,
                device=resolved,
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelCardError(f"{directory}: model card and weights do not fit together: {exc}") from exc
        check_version(directory, model.version, card)
        return model

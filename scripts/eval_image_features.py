"""Feature-space anomaly baselines on the magnetic-tile split of scripts/eval_image_ae.py: what a
frozen, randomly initialised convolutional encoder (no pretrained weights exist here) plus a model of
normal patch features gives, as a yardstick for replacing the pixel autoencoder's scoring.

Encoder: three 3x3 convolutions (1->32 stride 1, ->64 stride 2, ->128 stride 2, ReLU, Kaiming init,
seed 0); the three maps pooled to stride 4 and concatenated (224 features per location). Normal
model, fitted on all locations of the training free tiles: (1) one Gaussian (Mahalanobis distance),
(2) nearest neighbour in a random sample of `--bank` training locations (per-feature standardised).
Image score: max of the distance map (raw, or 3x3-averaged). Images are standardised per image and
their longer side resized to `--size` px (0: native resolution).

Usage: python scripts/eval_image_features.py [--data DIR] [--size PX] [--bank N]
The printed table is what docs/evaluation.md (## Image anomaly detection) reports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from eval_image_ae import ANCHORS, split  # the shared split rule (scripts/ is on sys.path)
from sklearn.metrics import roc_auc_score
from torch import nn

from models.images import load_gray


class RandomEncoder(nn.Module):
    """Frozen random convolutions: multi-scale patch features [224, H/4, W/4] of one image."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        for conv in (self.c1, self.c2, self.c3):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        x = F.pad(x, (0, (-width) % 4, 0, (-height) % 4), mode="reflect")
        a = F.relu(self.c1(x))
        b = F.relu(self.c2(a))
        c = F.relu(self.c3(b))
        return torch.cat([F.avg_pool2d(a, 4), F.avg_pool2d(b, 2), F.avg_pool2d(c, 3, 1, 1)], 1)[0]


def prepare(path: Path, size: int) -> torch.Tensor:
    """[1, 1, h, w], per-image standardised, longer side `size` (0 keeps the native size)."""
    x = torch.from_numpy(load_gray(path))[None, None]
    if size:
        height, width = x.shape[-2:]
        factor = size / max(height, width)
        shape = (round(height * factor), round(width * factor))
        x = F.interpolate(x, size=shape, mode="area" if factor < 1 else "bilinear")
    return (x - x.mean()) / x.std().clamp_min(1e-3)


def gaussian(train: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Mahalanobis distance map under one Gaussian of all training locations [N, D]."""
    data = train.double()
    cov = torch.cov(data.T)
    cov += 1e-3 * cov.diagonal().mean() * torch.eye(cov.shape[0], dtype=torch.double)
    precision, mean = torch.linalg.inv(cov).float(), data.mean(0).float()

    def distance(features: torch.Tensor) -> torch.Tensor:
        d = features.flatten(1).T - mean
        return ((d @ precision) * d).sum(1).clamp_min(0).sqrt().reshape(features.shape[1:])

    return distance


def nearest(train: torch.Tensor, bank: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Distance map to the nearest of `bank` randomly sampled training locations (standardised)."""
    sample = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:bank]]
    mean, std = sample.mean(0), sample.std(0) + 1e-6
    memory = (sample - mean) / std

    def distance(features: torch.Tensor) -> torch.Tensor:
        query = (features.flatten(1).T - mean) / std
        return torch.cdist(query, memory).min(1).values.reshape(features.shape[1:])

    return distance


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/magnetic-tile"
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--bank", type=int, default=20000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_paths, free_paths, defect_paths = split(args.data)
    encoder = RandomEncoder().eval()
    with torch.inference_mode():
        train, free, defect = (
            [encoder(prepare(p, args.size)) for p in paths]
            for paths in (train_paths, free_paths, defect_paths)
        )
        locations = torch.cat([f.flatten(1) for f in train], 1).T
        labels = [0] * len(free) + [1] * len(defect)
        rows = []
        for model_name, distance in (
            ("Gaussian", gaussian(locations)),
            (f"nearest of {args.bank}", nearest(locations, args.bank)),
        ):
            maps = [distance(f)[None, None] for f in free + defect]
            for pool_name, pool in (
                ("max", lambda m: m),
                ("3x3 mean, max", lambda m: F.avg_pool2d(m, 3, 1, 1)),
            ):
                scores = [float(pool(m).max()) for m in maps]
                rows.append((f"{model_name}, {pool_name}", roc_auc_score(labels, scores)))
    print(f"size {args.size or 'native'}")
    print("| random-init features | image AUROC |\n|---|---|")
    print("\n".join(f"| {name} | {value:.3f} |" for name, value in rows))
    print("\n".join(f"| anchor: {name} | {value:.3f} |" for name, value in ANCHORS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

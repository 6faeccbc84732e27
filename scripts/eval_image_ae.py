"""Image anomaly detection on the magnetic-tile development slice: train the default image
autoencoder on free tiles only, then report image AUROC of blowhole tiles against held-out free tiles.

Split (deterministic, file names only): a name `expK_num_N.jpg` belongs to a tile group; the numbers
N of all images (free and blowhole) are sorted and a new group starts wherever N jumps by more than
GROUP_GAP (the shots of one physical tile under the six lighting runs lie within about 150 of each
other). A group is a test group when the first byte of sha1("tile-<first N of the group>") is odd.
Training: free tiles of the training groups. Test: free and blowhole tiles of the test groups, so no
physical tile is seen both in training and in test.

Usage: python scripts/eval_image_ae.py [--data DIR] [--epochs N] [--size PX] [--no-normalise]
The printed table is what docs/evaluation.md (## Image anomaly detection) reports.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from models.image_ae_model import ImageAnomalyModel, ScoringConfig
from models.image_ae_training import ImageTrainConfig, train_image_ae
from models.images import list_images, load_gray
from models.training import EpochReport

GROUP_GAP = 300
ANCHORS = {"DifferNet (ImageNet-pretrained)": 0.977, "CS-Flow (ImageNet-pretrained)": 0.993, "GANomaly": 0.77}
NAME = re.compile(r"exp\d+_num_(\d+)\.", re.IGNORECASE)


def tile_number(path: Path) -> int:
    match = NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path.name}: not an expK_num_N file name")
    return int(match.group(1))


def test_groups(paths: list[Path]) -> set[int]:
    """The numbers N whose tile group is a test group (see the module docstring)."""
    numbers = sorted({tile_number(path) for path in paths})
    test: set[int] = set()
    group: list[int] = []
    for number in [*numbers, None]:
        if group and (number is None or number - group[-1] > GROUP_GAP):
            if hashlib.sha1(f"tile-{group[0]}".encode()).digest()[0] % 2:
                test.update(group)
            group = []
        if number is not None:
            group.append(number)
    return test


def split(data: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Training free tiles, test free tiles, test blowhole tiles."""
    free = list_images(data / "free")
    blowhole = list_images(data / "blowhole" / "images")
    test = test_groups(free + blowhole)
    return (
        [p for p in free if tile_number(p) not in test],
        [p for p in free if tile_number(p) in test],
        [p for p in blowhole if tile_number(p) in test],
    )


def variants(model: ImageAnomalyModel) -> dict[str, ScoringConfig]:
    """Scoring variants of the same trained model, measured beside the default."""
    base = model.scoring
    return {
        "default": base,
        "max pixel": replace(base, top_fraction=1e-9),
        "top 1 %": replace(base, top_fraction=0.01),
        "no smoothing": replace(base, smooth_sigma=0.0),
        "smoothing sigma 4": replace(base, smooth_sigma=4.0),
    }


def auroc(model: ImageAnomalyModel, normal: list[np.ndarray], defect: list[np.ndarray]) -> float:
    normal_scores, _ = model.score_images(normal)
    defect_scores, _ = model.score_images(defect)
    labels = np.r_[np.zeros(len(normal_scores)), np.ones(len(defect_scores))]
    return float(roc_auc_score(labels, np.r_[normal_scores, defect_scores]))


def frames_per_second(model: ImageAnomalyModel, threads: int, batch: int = 8, repeats: int = 5) -> float:
    """CPU scoring speed of 256x256 frames in batches of `batch` (heatmaps included)."""
    torch.set_num_threads(threads)
    frames = [np.random.default_rng(i).random((256, 256), dtype=np.float32) for i in range(batch)]
    model.score_images(frames)
    started = time.perf_counter()
    for _ in range(repeats):
        model.score_images(frames)
    return batch * repeats / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/magnetic-tile"
    )
    parser.add_argument("--epochs", type=int, default=ImageTrainConfig().epochs)
    parser.add_argument("--size", type=int, default=ScoringConfig().size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-normalise", action="store_true", help="skip per-image standardisation")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_paths, free_paths, defect_paths = split(args.data)
    print(f"split: train {len(train_paths)} free, test {len(free_paths)} free + {len(defect_paths)} blowhole")
    config = ImageTrainConfig(
        scoring=ScoringConfig(size=args.size, normalise=not args.no_normalise),
        epochs=args.epochs,
        seed=args.seed,
        device="cpu",
    )
    started = time.perf_counter()

    def report(epoch: EpochReport) -> None:
        print(
            f"epoch {epoch.epoch}/{epoch.epochs} train {epoch.train_loss:.4f} val {epoch.val_loss:.4f} {epoch.seconds:.1f}s",
            flush=True,
        )

    model = train_image_ae([load_gray(p) for p in train_paths], config, progress=report)
    minutes = (time.perf_counter() - started) / 60
    normal = [load_gray(p) for p in free_paths]
    defect = [load_gray(p) for p in defect_paths]
    rows = []
    for name, scoring in variants(model).items():
        model.scoring = scoring
        rows.append((name, auroc(model, normal, defect)))
    lines = [
        "| scoring | image AUROC |",
        "|---|---|",
        *(f"| {name} | {value:.3f} |" for name, value in rows),
        *(f"| anchor: {name} | {value:.3f} |" for name, value in ANCHORS.items()),
    ]
    model.scoring = variants(model)["default"]
    speed = {threads: frames_per_second(model, threads) for threads in (1, 2)}
    lines.append("")
    lines.append(
        f"CPU speed, 256x256 frames, batch 8: {speed[1]:.1f} frames/s on 1 thread, {speed[2]:.1f} on 2 threads"
    )
    print("\n".join(lines))
    print(
        f"training {minutes:.1f} min on 1 CPU thread, size {args.size}, epochs {args.epochs}, seed {args.seed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

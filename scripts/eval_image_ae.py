"""Image anomaly detection on the magnetic-tile development slice: train the default image anomaly
model (`monitor train image-ae`) on free tiles only, then report image AUROC of blowhole tiles
against held-out free tiles, scoring variants of the same model, the card threshold's hits and CPU speed.

Split (deterministic, file names only): a name `expK_num_N.jpg` belongs to a tile group; the numbers
N of all images (free and blowhole) are sorted and a new group starts wherever N jumps by more than
GROUP_GAP (the shots of one physical tile under the six lighting runs lie within about 150 of each
other). A group is a test group when the first byte of sha1("tile-<first N of the group>") is odd.
Training: free tiles of the training groups. Test: free and blowhole tiles of the test groups, so no
physical tile is seen both in training and in test.

Usage: .venv/bin/python scripts/eval_image_ae.py [--data DIR] [--epochs N] [--size PX] [--seed S] [--write-doc]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from evalkit import DOC, link_all, run_cli, write_section  # scripts/ is on sys.path
from sklearn.metrics import roc_auc_score

from models.image_ae_model import ImageAnomalyModel, ScoringConfig
from models.image_ae_training import ImageTrainConfig
from models.images import list_images, load_gray

GROUP_GAP = 300
ANCHORS = {"DifferNet (ImageNet-pretrained)": 0.977, "CS-Flow (ImageNet-pretrained)": 0.993, "GANomaly": 0.77}
NAME = re.compile(r"exp\d+_num_(\d+)\.", re.IGNORECASE)
SECTION = "## Image anomaly detection"
TARGET = 0.90
SPEED_SIZE, SPEED_BATCH = 256, 8
PROTOCOL = """Magnetic-tile development slice (`../shared/data/magnetic-tile`, README there), trained on free
tiles only through `monitor train image-ae` with its defaults, scored with
`ImageAnomalyModel.score_images` (the path the daemon and `monitor score image-ae` use). Reproduce:
`.venv/bin/python scripts/eval_image_ae.py --write-doc` (`--seed N` for another seed).

**Split** (deterministic, file names only): the numbers N of all names `expK_num_N` (free and
blowhole) are sorted; a new tile group starts where N jumps by more than 300 (the six lighting runs
of one tile lie within ~150). A group is a test group when the first byte of `sha1("tile-<first N>")`
is odd. No physical tile is on both sides.

**Model** (DRAEM, Zavrtanik et al., ICCV 2021, trained from scratch): the reconstructive autoencoder
(encoder widths 16-32-64-64, 16 latent channels, ~0.2 M parameters) and a discriminative head (U-Net
width 8, depth 3, ~0.12 M parameters) that sees the image and its reconstruction side by side. Images
are gray, longer side resized to `--size` (default 128 px), standardised per image. Training: whole
working images (128 px crops, flips, brightness ±0.08, contrast ±15 %), 4 per image per epoch, batch
8, 30 epochs, Adam 1e-3; about a third of them get synthetic anomalies (`models/synthetic_anomalies.py`:
thresholded smooth noise from pits to 30 % of the image, random-walk scratches and cracks; filled
with an intensity shift, noise, blur or a texture-contrast change of the image's own pixels, opacity
0.3-1; draws changing their mask by < 5 grey levels are dropped). Losses: the
autoencoder reconstructs the clean image (0.85·(1−SSIM)/2 + 0.15·L1), the head predicts the pasted
mask (focal loss, γ 2, output bias initialised to p = 0.01). Best epoch by the loss on held-out
training tiles (15 %) with a fixed set of pasted anomalies, judged and delivered with the weights
averaged over the last tenth of the steps so far. No real defect image or mask is used.
Heatmap: the head's anomaly probability, Gaussian-smoothed (σ 0.5 px); score: its maximum."""
NOTES = """**Result: mean over four training seeds 0.917 against the 0.90 target; three of the four runs
reach it on their own (0.919 / 0.951 / 0.933 / 0.867 with seeds 0-3). Scored with `--flip-average`
the same models all reach it (0.978 / 0.955 / 0.969 / 0.910, mean 0.953), at 3.6 times the
scoring cost.** Up from 0.901 for the previous defaults (last weights of the best epoch), 0.51-0.56
for the pixel autoencoder alone and 0.58-0.68 for the random-feature kNN yardstick
(`scripts/eval_image_features.py`). The heatmap's maximum lies on or next to the blowhole
(within 3 px) in 41 of 42 defect tiles (seed 0, previous defaults): localisation works, the score
is limited by normal tiles with equally strong peaks.

**Weight averaging and flip averaging** (exploration runs through `train_image_ae` on one CPU
thread each, same split; the flip rows score the shipped runs' models; image AUROC by training seed):

| recipe | seed 0 | seed 1 | seed 2 | seed 3 | mean |
| --- | --- | --- | --- | --- | --- |
| last weights of the best epoch (previous defaults) | 0.881 | 0.925 | 0.903 | 0.897 | 0.901 |
| moving average of the weights, 0.99 per step | 0.917 | 0.952 | 0.930 | 0.867 | 0.917 |
| **shipped: average over the last tenth of the steps so far** | **0.919** | **0.951** | **0.933** | **0.867** | **0.917** |
| same models, mean over the image and its left-right mirror (2x cost) | 0.951 | 0.928 | 0.938 | 0.870 | 0.922 |
| same models, `--flip-average`: mean over all four mirror images (4x cost) | 0.978 | 0.955 | 0.969 | 0.910 | 0.953 |

- **Weight averaging** (Polyak; the U-Net delivers averaged weights too) raised three seeds by
  0.026-0.038 and lowered seed 3 by 0.031: a gain of the mean (+0.016) at no cost, not a smaller
  spread. A fixed time constant drags short runs back towards their untrained first weights (with
  three epochs, the 8-epoch model of `tests/test_image_ae_model.py` no longer told a blob from clean
  texture: 0.146 against 0.149), and one set as a share of the epoch budget would change when a
  resumed run is given more epochs; a window that grows with the run (`models/training.py:
  weight_average`) scores as the fixed rate here and leaves short runs alone (the same test model:
  1.0 against 0.196).
- **Flip averaging** gains on every seed (+0.004 to +0.059) and lifts the weakest run above the
  target: the head's strongest false peaks on normal tiles depend on the tile's orientation, a
  blowhole's do not, so the mean over the mirror images keeps the defects and evens out the rest.
  It is an option, not the default: four passes of the anomaly model (the flip-averaged speed in
  the CPU line above) leave two CPU cores no room for 25 frames/s beside the U-Net.
  `monitor train image-ae --flip-average` records it in the card, so the threshold, the daemon
  and `monitor score image-ae` all use it; worth it on a GPU or for slower cameras.

**How the other defaults were chosen** (exploration runs before weight averaging, seed 0, same
split, trained with `train_image_ae` on one CPU thread while other jobs shared the 2 cores; AUROC of the max of the head probability
smoothed by σ, same trained model). Generator v1: foreign texture (another training tile, shifted)
as a fifth fill, no visibility check; v2: foreign texture turned by 90°, draws changing their mask
by < 5 grey levels dropped; v3 (shipped): v2 without foreign texture.

| run | crop (px) x per image | batch | generator, head init | epochs | σ 2 | σ 0.5 | σ 0 |
| --- | --- | --- | --- | --- | --- | --- | --- |
| A | 64 x 16 | 32 | v1, bias 0 | 30 | 0.550 | | 0.740 |
| B | 96 x 8 | 32 | v1, bias 0 | 30 | 0.721 | | 0.831 |
| E | 96 x 8 | 32 | v1, p 0.01 | 40 | 0.712 | | 0.788 |
| D | 128 x 4 | 32 | v1, p 0.01 | 30 | 0.757 | 0.839 | 0.839 |
| F | 128 x 4 | 32 | v2, p 0.01 | 30 | | 0.853 | 0.862 |
| G: `--size 256` | 128 x 4 | 32 | v2, p 0.01 | 30 | | 0.688 | 0.677 |
| H | 128 x 4 | 8 | v2, p 0.01 | 30 | | 0.915 | 0.914 |
| H, seed 1 (through the CLI) | 128 x 4 | 8 | v2, p 0.01 | 30 | | 0.777 | 0.790 |
| I: Adam 2e-3 | 128 x 4 | 8 | v2, p 0.01 | 30 | | 0.851 | 0.849 |
| K = defaults before weight averaging | 128 x 4 | 8 | v3, p 0.01 | 30 | | 0.881 | 0.882 |

- **Context beats crop count** (A → B → D): the head must see tile edges, the dark crop border and
  lighting bands in context to learn that they are normal; with 64 px crops it fired on them.
- **Little smoothing**: at 128 px a blowhole is 2-6 px, so σ 2 spread its peak below broad, mild
  responses on normal texture (D: 0.757 → 0.839 with σ ≤ 0.5). Thin cracks and scratches gain from
  the same choice, and large regions (Uneven, Fray) do not lose by it: their probability is high over
  many pixels. The max, not a top-k mean: a top 0.2 % mean lost 0.03-0.05 in every run.
- **Visible, unambiguous synthetic anomalies** (D → F): labels on changes the head cannot see had
  taught it broad, cloudy responses on normal tiles.
- **Batch 8** (F → H): on the CPU the cost is per image, so small batches give four times the
  optimiser steps in the same time; the validation loss was still falling at epoch 30 in every run
  (longer training is the first thing to try with more CPU time).
- **Foreign texture dropped** (H → K, −0.03 on this seed): turned tile texture is an anomaly only on
  surfaces whose grain has one direction. On the simulator's frames (grain at any angle) it is normal
  texture under an anomaly label, and the head never learned to find their blobs and scratches
  (tests/test_camera_worker.py failed with it, magnified instead of turned texture too). The held-out
  classes and other products should not depend on a fixed grain direction, so generality won.
- **Not adopted**: `--size 256` (G) is worse in the same number of epochs (its 128 px crops see a
  quarter of a tile) and costs four times the inference; Adam 2e-3 (I) was worse. The head's output
  bias initialised to p = 0.01 (RetinaNet's prior for focal loss) was needed for the tiny tests to
  learn at all, and is kept.
- **Spread**: seeds move the AUROC by ±0.07 (H: 0.915 / 0.777), more than most choices above, so
  single-seed differences below ~0.05 are not evidence. 42 defect tiles come from few physical tiles,
  and the top-scoring normal tiles are the 4-6 lighting runs of one physical tile (one with a curly
  mark, one with bright blotchy texture). Missed: blowholes right at a tile's top edge.
- **Longer training, measured after the fact**: 45 epochs (best epochs 44 and 42) gave 0.899 with
  seed 0 and 0.885 with seed 1, mean 0.892 against 0.903 at 30 epochs: within the seed spread, so the
  default stays at 30 (card thresholds of those runs: 0.709 and 0.822).
- **Cosine learning-rate decay, measured after the fact** (the U-Net trains with it): 0.906 with seed 0
  and 0.828 with seed 1 (best epochs 26 and 29), mean 0.867 against 0.903 with the constant rate;
  not adopted.

**Threshold**: the card's threshold comes from the training tiles' own scores by
`image_thresholds` (99th percentile, margin 1.0; line above the speed); the daemon recalibrates it
from live scores. The sensors' `thresholds` (margin 1.5) would put it above every tile: image scores
are probabilities, at most 1.

**Speed**: at 128 px on one thread the autoencoder takes ~4.6 ms a frame and the head ~5.3 ms
(inference runs `channels_last` and no longer computes the SSIM map). `monitor bench vision`
(docs/benchmarks.md, whole camera pipeline with the U-Net): 24.2 and 24.8 frames/s while the U-Net
ran after the anomaly model; the camera worker now runs the U-Net on a second thread beside it
(one intra-op thread each, both cores): 34.5 frames/s at 256x256 and 26.7 with x4 SR (31.2 in
the previous run; the unchanged super-resolution step measured slower all through this session),
target 25."""


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


def variants(base: ScoringConfig) -> dict[str, ScoringConfig]:
    """Scoring variants of the same trained model, measured beside the default."""
    return {
        "default": base,
        "top 0.2 % mean": replace(base, top_fraction=0.002),
        "top 1 % mean": replace(base, top_fraction=0.01),
        "no smoothing": replace(base, smooth_sigma=0.0),
        "smoothing sigma 1": replace(base, smooth_sigma=1.0),
        "smoothing sigma 4": replace(base, smooth_sigma=4.0),
        "flip-averaged (`--flip-average`)": replace(base, flip_average=True),
    }


def scores_of(
    model: ImageAnomalyModel, normal: list[np.ndarray], defect: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    return model.score_images(normal)[0], model.score_images(defect)[0]


def auroc(normal_scores: np.ndarray, defect_scores: np.ndarray) -> float:
    labels = np.r_[np.zeros(len(normal_scores)), np.ones(len(defect_scores))]
    return float(roc_auc_score(labels, np.r_[normal_scores, defect_scores]))


def frames_per_second(model: ImageAnomalyModel, threads: int, repeats: int = 5) -> float:
    """CPU scoring speed of 256x256 frames in batches of SPEED_BATCH (heatmaps included)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        frames = [rng.random((SPEED_SIZE, SPEED_SIZE), dtype=np.float32) for _ in range(SPEED_BATCH)]
        model.score_images(frames)
        started = time.perf_counter()
        for _ in range(repeats):
            model.score_images(frames)
        return SPEED_BATCH * repeats / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(previous)


def evaluate(args: argparse.Namespace, work: Path) -> str:
    """Train through the CLI, score the test tiles, and return the report's Markdown table."""
    train_paths, free_paths, defect_paths = split(args.data)
    model_dir = work / "model"
    started = time.perf_counter()
    run_cli(
        ["train", "image-ae", "--images", str(link_all(train_paths, work / "train")), "--out", str(model_dir)]
        + [
            "--size",
            str(args.size),
            "--epochs",
            str(args.epochs),
            "--seed",
            str(args.seed),
            "--device",
            "cpu",
        ]
    )
    minutes = (time.perf_counter() - started) / 60
    model = ImageAnomalyModel.load(model_dir, device="cpu")
    normal = [load_gray(p) for p in free_paths]
    defect = [load_gray(p) for p in defect_paths]
    rows = []
    default, default_scores = model.scoring, (np.zeros(0), np.zeros(0))
    for name, scoring in variants(default).items():
        model.scoring = scoring
        normal_scores, defect_scores = scores_of(model, normal, defect)
        if name == "default":
            default_scores = (normal_scores, defect_scores)
        rows.append(f"| {name} | {auroc(normal_scores, defect_scores):.3f} |")
        print(rows[-1], flush=True)
    model.scoring = default
    threshold = model.threshold or 0.0
    flagged_free = int((default_scores[0] > threshold).sum())
    flagged_defect = int((default_scores[1] > threshold).sum())
    speed = {threads: frames_per_second(model, threads) for threads in (1, 2)}
    model.scoring = replace(default, flip_average=True)
    flipped_speed = frames_per_second(model, 1)
    model.scoring = default
    best_epoch = model.card["metrics"]["best_epoch"]
    return "\n".join(
        [
            f"Split: train {len(train_paths)} free tiles; test {len(free_paths)} free + {len(defect_paths)} "
            f"blowhole tiles. `--size {args.size}`, {args.epochs} epochs (best epoch {best_epoch}), "
            f"seed {args.seed}, trained in {minutes:.1f} min on one CPU thread.",
            "",
            "| scoring (same trained model) | image AUROC |",
            "| --- | --- |",
            *rows,
            *(f"| anchor: {name} | {value:.3f} |" for name, value in ANCHORS.items()),
            f"| target (issue 3) | ≥ {TARGET:.2f} |",
            "",
            f"Card threshold ({model.card['threshold_calibration']['method']}, from the training tiles' "
            f"scores) {threshold:.3g}: flags {flagged_free} of {len(free_paths)} held-out free tiles and "
            f"{flagged_defect} of {len(defect_paths)} blowhole tiles.",
            "",
            f"CPU speed of `score_images`, {SPEED_SIZE}x{SPEED_SIZE} frames, batch {SPEED_BATCH}: "
            f"{speed[1]:.1f} frames/s on 1 thread, {speed[2]:.1f} on 2 threads; flip-averaged "
            f"{flipped_speed:.1f} on 1 thread.",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/magnetic-tile"
    )
    parser.add_argument("--epochs", type=int, default=ImageTrainConfig().epochs)
    parser.add_argument("--size", type=int, default=ScoringConfig().size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training (shared CPU)")
    parser.add_argument("--write-doc", action="store_true", help=f"replace '{SECTION}' in {DOC}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="eval-image-ae-") as tmp:
        table = evaluate(args, Path(tmp))
    print(table)
    if args.write_doc:
        write_section(SECTION, f"{SECTION}\n\n{PROTOCOL}\n\n{table}\n\n{NOTES}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

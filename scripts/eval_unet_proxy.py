"""Defect segmentation on proxies of the held-out defect classes: real free tiles carrying synthetic
defects of the shapes the development slice lacks, trained and tested through the same CLI, split
and counts as scripts/eval_unet.py.

Why: the held-out classes look nothing like blowholes. Crack is thin lines a few pixels wide;
Uneven and Fray cover 17-24 % of a tile on average. The blowhole evaluation cannot show whether the
U-Net's defaults (defect-centred crops, copy-paste, pooled Dice, 128 px crops) learn such shapes.
These proxies can, though they cannot show how the real classes look. The shapes and fills are those
of models/synthetic_anomalies.py, at the sizes of the held-out classes:
- areas: one or two smooth-noise regions of 5-30 % of the tile each;
- cracks: one or two random-walk strokes 1-3 px wide, straight to wandering.
Each defect changes its pixels by at least 10 grey levels on average (one an inspector can see).
Half of the free tiles (by a hash of the file name, so every lighting run is on both sides) carry
the defects, the others stay free; a physical tile stays on one side of the split.

Usage: .venv/bin/python scripts/eval_unet_proxy.py [--data DIR] [--proxies areas,cracks] [--seeds 0]
       [--epochs N] [--jobs N] [--write-doc]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from eval_unet import DEFAULT_DATA, TARGETS, Result, evaluate, split  # scripts/ is on sys.path
from evalkit import DOC, write_section

from models.defects import MaskCounts
from models.images import list_images, load_gray, save_png
from models.synthetic_anomalies import FILLS, mean_change, paste, region_mask, stroke_mask
from models.unet_model import SegmentationModel
from models.unet_training import UNetTrainConfig, load_mask

SECTION = "## Defect segmentation: proxies of the held-out classes"
INTRO = __doc__.split("\n\n")[1]  # the "Why" paragraph opens the doc section
VISIBLE = 0.04  # mean absolute change inside a defect, ~10 grey levels
OPACITY = (0.5, 1.0)
DRAWS = 100  # redraws allowed for one visible defect
THRESHOLDS = (0.5, 0.7, 0.8, 0.9)  # `monitor train unet --threshold` values compared
MaskDraw = Callable[[int, int, torch.Generator], torch.Tensor]
PROXIES: dict[str, MaskDraw] = {
    "areas": partial(region_mask, area_range=(0.05, 0.3)),
    "cracks": stroke_mask,
}


NOTES = """
Reading the numbers (training seeds 0 and 1; the false-positive tiles were looked at in a second
run of the areas proxy with seed 0, kept on disk, which gave the same numbers to the last digit):
- **Both shapes are learnt with the blowhole defaults.** Areas of a fifth of a tile: Dice 0.764 /
  0.735 per image, mIoU 0.784 / 0.761. Cracks 1-3 px wide: 92 / 91 of 105 found, Dice 0.636 /
  0.657; on a 2-px line a one-pixel disagreement at each edge halves the overlap, so Dice is the
  harsh number there, and false-positive pixels stay at 0.07-0.08 %. No setting was changed for
  these proxies.
- **Large faint areas cost false positives on free tiles: 1.17 % / 1.44 %, above the 0.5 % the
  blowholes meet.** With seed 0, 48 of 50 test free tiles have some; the worst (12 %, 8 %, 7 % of
  their pixels) are lighting gradients, glare bands and the dark rim at a tile's end. A faint
  brightness or texture change over a fifth of a tile (the weakest proxies change 10-15 grey
  levels) looks like those, so the proxy itself is ambiguous there; a real class with faint large
  areas may be too. The lever is `monitor train unet --threshold` (second table): 0.8 halves the
  false pixels (0.64 % / 0.61 %) for 0.034 / 0.048 of Dice; thin cracks barely move with it. The
  default stays 0.5, at which the blowholes were measured; tuning it to these proxies would tune
  it to our own generator.
- An earlier version of this script let the lighting runs exp1/3/5 carry the defects and kept
  exp2/4/6 free, so each lighting run was seen only with defects or only without; the FP rate was
  1.77 % / 1.40 % (seeds 0 / 1; Dice 0.786 / 0.794). The carriers are now picked by a hash of the
  file name.
"""


def carries_defects(path: Path) -> bool:
    return hashlib.sha1(f"carrier-{path.name}".encode()).digest()[0] % 2 == 1


def add_defects(
    image: np.ndarray, draw: MaskDraw, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One or two visible defects drawn into `image`; returns the image and its bool mask."""
    altered = torch.from_numpy(image)[None]
    mask = torch.zeros(image.shape, dtype=torch.bool)
    for _ in range(int(torch.randint(1, 3, (), generator=generator))):
        for _ in range(DRAWS):  # redraw until visible: a blur over a smooth spot changes nothing
            shape = draw(image.shape[0], image.shape[1], generator)
            fill = FILLS[int(torch.randint(len(FILLS), (), generator=generator))](altered, generator)
            opacity = OPACITY[0] + (OPACITY[1] - OPACITY[0]) * float(torch.rand((), generator=generator))
            pasted = paste(altered, shape, fill, opacity)
            if mean_change(altered, pasted, shape) >= VISIBLE:
                break
        else:
            raise ValueError(f"no visible defect in {DRAWS} draws: is the image flat?")
        altered, mask = pasted, mask | shape
    return altered[0].numpy(), mask.numpy()


def build_proxy(data: Path, proxy: str, out: Path) -> Path:
    """`out/free` and `out/<proxy>/{images,masks}` from the free tiles of `data`, reproducibly."""
    for folder in ("free", f"{proxy}/images", f"{proxy}/masks"):
        (out / folder).mkdir(parents=True)
    for path in list_images(data / "free"):
        if not carries_defects(path):
            (out / "free" / path.name).symlink_to(path)
            continue
        seed = int.from_bytes(hashlib.sha1(f"{proxy}-{path.name}".encode()).digest()[:8], "little")
        image, mask = add_defects(load_gray(path), PROXIES[proxy], torch.Generator().manual_seed(seed))
        save_png(out / proxy / "images" / f"{path.stem}.png", image)
        save_png(out / proxy / "masks" / f"{path.stem}.png", mask.astype(np.float32))
    return out


@dataclass(frozen=True, slots=True)
class ProxyResult:
    proxy: str
    result: Result
    area_percent: float  # mean defect area of the proxy's defect images
    sizes: dict[str, int]  # images per part of the split
    sweep: dict[float, tuple[float, float]]  # threshold -> (FP % on test free tiles, Dice per image)


def threshold_sweep(
    model_dir: Path, parts: dict[str, list[Path]], masks: Path
) -> dict[float, tuple[float, float]]:
    """FP % on the test free tiles and Dice per test defect image at each of THRESHOLDS: what
    `--threshold` trades."""
    model = SegmentationModel.load(model_dir, device="cpu")
    free = model.probabilities([load_gray(path) for path in parts["test_free"]])
    defects = model.probabilities([load_gray(path) for path in parts["test_defect"]])
    truths = [load_mask(masks / f"{path.stem}.png") for path in parts["test_defect"]]
    sweep = {}
    for threshold in THRESHOLDS:
        false_pixels = sum(int(np.count_nonzero(p >= threshold)) for p in free) / sum(p.size for p in free)
        dice = float(
            np.mean([MaskCounts.of(p >= threshold, t).dice for p, t in zip(defects, truths, strict=True)])
        )
        sweep[threshold] = (100 * false_pixels, dice)
    return sweep


def _evaluate_proxy(data: Path, proxy: str, epochs: int, seed: int) -> ProxyResult:
    defaults = UNetTrainConfig()
    with tempfile.TemporaryDirectory(prefix=f"eval-unet-{proxy}-") as tmp:
        proxy_data = build_proxy(data, proxy, Path(tmp) / "data")
        work = Path(tmp) / "work"
        result = evaluate(proxy_data, defaults.width, defaults.depth, epochs, work, seed, proxy)
        area = float(np.mean([load_gray(path).mean() for path in list_images(proxy_data / proxy / "masks")]))
        parts = split(proxy_data, proxy)
        sweep = threshold_sweep(work / "model", parts, proxy_data / proxy / "masks")
    return ProxyResult(proxy, result, 100 * area, {part: len(paths) for part, paths in parts.items()}, sweep)


def render(results: list[ProxyResult], epochs: int) -> str:
    sizes = results[0].sizes
    lines = [
        f"Split by tile group as in the section above: {sizes['train_defect']} tiles with proxy defects + "
        f"{sizes['train_free']} free tiles for training, {sizes['test_defect']} + {sizes['test_free']} for "
        f"test. Default U-Net (`monitor train unet` defaults, {epochs} epochs), one row per proxy and "
        "training seed:",
        "",
        "| proxy | seed | defect area (mean) | mIoU per image | defect IoU per image | Dice per image "
        "| Dice pooled | defects found | FP pixels on free tiles |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results:
        result = run.result
        lines.append(
            f"| {run.proxy} | {result.seed} | {run.area_percent:.1f} % | {result.mean('mean_iou'):.3f} "
            f"| {result.mean('defect_iou'):.3f} | {result.mean('dice'):.3f} | {result.pooled.dice:.3f} "
            f"| {result.found[0]} / {result.found[1]} | {100 * result.free.false_positive_rate:.3f} % |"
        )
    lines.append(
        f"| blowhole targets (issue 3), for scale | | | ≥ {TARGETS['miou']} | | ≥ {TARGETS['dice']} | | "
        f"| ≤ {TARGETS['fp_percent']} % |"
    )
    lines += [
        "",
        "The same models at other `--threshold` values (FP pixels on free tiles / Dice per image):",
        "",
        "| proxy | seed | " + " | ".join(f"threshold {t}" for t in THRESHOLDS) + " |",
        "| --- | --- |" + " --- |" * len(THRESHOLDS),
    ]
    for run in results:
        cells = " | ".join(f"{run.sweep[t][0]:.2f} % / {run.sweep[t][1]:.3f}" for t in THRESHOLDS)
        lines.append(f"| {run.proxy} | {run.result.seed} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="magnetic-tile folder")
    parser.add_argument("--proxies", default=",".join(PROXIES), help=f"any of {', '.join(PROXIES)}")
    parser.add_argument("--seeds", default="0", help="training seeds (default 0)")
    parser.add_argument("--epochs", type=int, default=UNetTrainConfig().epochs)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, one process and thread each")
    parser.add_argument("--write-doc", action="store_true", help=f"replace '{SECTION}' in {DOC}")
    args = parser.parse_args()
    proxies = args.proxies.split(",")
    if unknown := set(proxies) - set(PROXIES):
        parser.error(f"unknown proxy {', '.join(sorted(unknown))}; choose from {', '.join(PROXIES)}")
    runs = [(args.data, proxy, args.epochs, int(seed)) for proxy in proxies for seed in args.seeds.split(",")]
    spawn = multiprocessing.get_context("spawn")  # a fresh torch per process, no forked thread pools
    results = []
    with ProcessPoolExecutor(args.jobs, spawn, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        for run in pool.map(_evaluate_proxy, *zip(*runs, strict=True)):
            results.append(run)
            result = run.result
            print(
                f"{run.proxy}, seed {result.seed}: mIoU {result.mean('mean_iou'):.3f}, "
                f"Dice {result.mean('dice'):.3f}, found {result.found[0]}/{result.found[1]}, "
                f"FP {100 * result.free.false_positive_rate:.3f} %, {result.train_seconds / 60:.1f} min",
                flush=True,
            )
    table = render(results, args.epochs)
    print(table)
    if args.write_doc:
        write_section(SECTION, f"{SECTION}\n\n{INTRO}\n\n{table}\n{NOTES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

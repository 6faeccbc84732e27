"""Super-resolution x4 on the magnetic-tile development slice: PSNR and SSIM of the GAN against
bicubic upscaling on held-out tiles, the U-Net's IoU on upscaled defect images, and CPU speed.

Split: the tile-group rule of scripts/eval_image_ae.py (imported, so every section of
docs/evaluation.md tests on the same physical tiles): `expK_num_N` numbers sorted over free and
blowhole images together, a new group wherever N jumps by more than 300, a group is held out when
the first byte of sha1("tile-<first N>") is odd. The generator trains on the free and blowhole
images of the training groups; every image of the test groups is evaluated.

Protocol: each test image is cut to a multiple of 4 (HR), degraded exactly as in training (blur,
bicubic x1/4, noise, JPEG; strengths drawn from the default ranges with a per-image seed), then
upscaled x4 by the GAN and by bicubic interpolation (PIL); a second table feeds both the same HR
downsampled by plain bicubic (no blur, noise or JPEG), which training never shows. PSNR and SSIM
on the gray channel with 4 border pixels cut. Downstream: a U-Net trained with the project's
defaults (`monitor train unet`, or --unet DIR) segments the test blowhole images as originals,
GAN-upscaled and bicubic-upscaled.

Usage: .venv/bin/python scripts/eval_sr.py [--data DIR] [--epochs N --gan-epochs N] [--unet DIR] [--write-doc]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.fft
import torch
from eval_image_ae import test_groups, tile_number  # the shared split rule (scripts/ is on sys.path)
from evalkit import DOC, link_all, run_cli, write_section

from models.checkpoint import Checkpoint
from models.defects import MaskCounts
from models.degradation import degrade, modcrop
from models.images import list_images, load_gray, resize
from models.sr_metrics import psnr, ssim
from models.sr_model import SuperResolutionModel
from models.sr_training import SRTrainConfig, train_sr_model
from models.unet_model import SegmentationModel
from models.unet_training import load_mask

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "magnetic-tile"
SECTION = "## Super-resolution"
SCALE = 4
LINEAR_WINDOW = 7
TARGET_PSNR_GAIN, TARGET_IOU_GAP, SPEED_TARGET_MS = 1.0, 0.05, 20.0
NOTES = """
Reading the numbers:
- **Delivery rule.** Training now delivers the epoch with the best validation PSNR (crops of held-back
  training images), so the delivered generator is never below its pre-trained state on validation,
  nor below bicubic (the untrained generator, epoch 0, is a candidate too: a run too short to beat
  it delivers it); the card's `delivered` entry names the epoch and the reason. The default
  adversarial weight is 1e-4 (was 1e-3, which cost 0.3 dB). At 1e-4 fine-tuning is PSNR-neutral on validation (31.28 -> 31.26-31.28 dB).
- **The +1 dB target is not met, and it lies above what the low-resolution grid carries on these
  tiles.** The "bound" row keeps every frequency the x4 grid can represent and drops the rest: it
  is only +0.75 dB above bicubic (+0.68 with the FFT low-pass of earlier runs, whose periodic
  extension rings at the tiles' rims), and it assumes that band recovered exactly, through blur,
  noise and JPEG. 71 % of the energy above that limit varies along x only: the fine
  vertical grinding streaks, whose position within an LR pixel the LR frame does not record. Beyond
  +0.75 dB an upscaler would have to guess their phase, and an L1/PSNR-trained network predicts their
  mean instead. The HR images also carry about 3/255 of noise (wavelet MAD estimate).
- **The degradation is not the limit.** Dropping blur, noise and JPEG entirely (clean PIL bicubic x1/4)
  lifts bicubic only from 29.59 to 29.97 dB (every 4th test image), and the best linear 7x7 filter
  gains +0.07 dB on the default degradation and +0.10 dB on clean input. Area (box) downsampling, as
  a sensor with 4x larger pixels does, gives the same numbers within 0.05 dB. The ranges (blur sigma
  0.2-1.2 HR px = 0.05-0.3 LR px, noise <= 2.6/255, JPEG 70-95) are mild for a low-resolution camera,
  and the same degraded LR frame feeds both bicubic and the generator.
- **Clean input is safe, not improved.** On LR frames made by plain bicubic x1/4, which training
  never shows it, the generator scores as bicubic (30.15 against 30.16 dB, SSIM 0.6524 against
  0.6526): it does not over-sharpen frames that are sharper than its training pairs, and it has
  nothing to add to them either.
- **More training or a larger generator does not help** (L1 only, same split): 1024 crops per epoch x
  30 epochs 29.72 dB / 0.6305 (+0.09); width 32 x 8 blocks, 20 epochs 29.69 / 0.6283 (+0.06, and
  over the 20 ms budget); default 16 x 6 with 512 crops 29.72 / 0.6300 (+0.08). The delivered generator
  gains about +0.09 dB and its SSIM is higher than bicubic's: the SSIM target is met and the PSNR
  target is not.
- **Downstream.** The U-Net (the segmentation section's defaults, seed 0) keeps its mIoU on x4
  GAN-upscaled low-resolution frames: 0.772 there, 0.787 on the originals and 0.773 on
  bicubic-upscaled frames. Earlier U-Net defaults gave 0.791 / 0.801 / 0.790 (fixed-rate weight
  average) and 0.807 / 0.798 / 0.812 (30 epochs, copy-paste into 30 % of the crops): the upscaled
  frames score within 0.02 of the originals either way, well within the 0.05 allowed; the 5-15 px
  blowholes survive a 1/4-scale frame (defect IoU 0.546 on GAN x4 against 0.574 on the originals).
- **Latency**: median 7.0 ms in this run, 4.6 and 2.5 ms in earlier ones on other hosts (the
  network did not change); all far inside the 20 ms budget.
"""


def split(data: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Training images (free + blowhole), test free images, test blowhole images."""
    free = list_images(data / "free")
    blowhole = list_images(data / "blowhole" / "images")
    test = test_groups(free + blowhole)
    return (
        [p for p in free + blowhole if tile_number(p) not in test],
        [p for p in free if tile_number(p) in test],
        [p for p in blowhole if tile_number(p) in test],
    )


def low_resolution(path: Path, config: SRTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The HR image (cut to a multiple of the scale) and its degraded LR version, seeded by name."""
    hr = modcrop(load_gray(path), SCALE)
    seed = int.from_bytes(hashlib.sha1(path.name.encode()).digest()[:4], "big")
    return hr, degrade(hr, SCALE, config.degradation, np.random.default_rng(seed))


def clean_low_resolution(hr: np.ndarray) -> np.ndarray:
    """The HR image downsampled by plain bicubic x1/SCALE, with no blur, noise or JPEG: the LR
    frames of a benchmark made the textbook way, which a model trained on degraded pairs has not
    seen (does it then sharpen what is already sharp?)."""
    return np.clip(resize(hr, (hr.shape[0] // SCALE, hr.shape[1] // SCALE)), 0.0, 1.0)


def quality(
    model: SuperResolutionModel | np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """Mean PSNR and SSIM of the model (or linear filter weights) and of bicubic upscaling over
    (HR, LR) pairs."""
    rows = []
    for hr, lr in pairs:
        gan = model.upscale([lr])[0] if isinstance(model, SuperResolutionModel) else apply_linear(model, lr)
        bicubic = np.clip(resize(lr, hr.shape), 0.0, 1.0)
        rows.append(
            (psnr(gan, hr, SCALE), ssim(gan, hr, SCALE), psnr(bicubic, hr, SCALE), ssim(bicubic, hr, SCALE))
        )
    psnr_gan, ssim_gan, psnr_bic, ssim_bic = np.mean(rows, axis=0)
    return {"psnr": psnr_gan, "ssim": ssim_gan, "psnr_bicubic": psnr_bic, "ssim_bicubic": ssim_bic}


def _neighbourhoods(lr: np.ndarray, size: int = LINEAR_WINDOW) -> np.ndarray:
    """[h·w, size² + 1]: each LR pixel's size x size neighbourhood (reflect-padded) and a constant."""
    padded = np.pad(lr, size // 2, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size)).reshape(lr.size, -1)
    return np.c_[windows, np.ones(lr.size, dtype=np.float32)]


def linear_upscaler(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The least-squares optimal linear x4 filter (7x7 LR pixels -> the 16 HR pixels they cover),
    fitted on training pairs: how far any linear method can get, a yardstick for the headroom."""
    inputs = np.concatenate([_neighbourhoods(lr) for _, lr in pairs])
    targets = np.concatenate(
        [
            hr.reshape(lr.shape[0], SCALE, lr.shape[1], SCALE).transpose(0, 2, 1, 3).reshape(lr.size, -1)
            for hr, lr in pairs
        ]
    )
    return np.linalg.lstsq(inputs, targets, rcond=None)[0]


def apply_linear(weights: np.ndarray, lr: np.ndarray) -> np.ndarray:
    height, width = lr.shape
    blocks = (_neighbourhoods(lr) @ weights).reshape(height, width, SCALE, SCALE)
    return blocks.transpose(0, 2, 1, 3).reshape(height * SCALE, width * SCALE)


def band_limited_psnr(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean PSNR of each HR image with every frequency above the LR grid's Nyquist limit removed
    (ideal low-pass, 1/(2·scale) cycles per HR pixel): what a method that recovered everything the
    low-resolution grid can carry, and predicted nothing finer, would score. Gains beyond it need the
    upscaler to predict sub-LR-pixel detail (here mostly the phase of fine grinding streaks).

    The low-pass works on the DCT (the image mirrored at its edges), not the FFT: the FFT's periodic
    extension joins a tile's left rim to its right one, and the ringing of that jump would lower the
    bound by ~0.08 dB for reasons that have nothing to do with resolution."""
    scores = []
    for hr, _ in pairs:
        coefficients = scipy.fft.dctn(hr.astype(np.float64), norm="ortho")
        fy = np.arange(hr.shape[0])[:, None] / (2 * hr.shape[0])  # DCT index k: k/(2N) cycles per px
        fx = np.arange(hr.shape[1])[None, :] / (2 * hr.shape[1])
        cutoff = 0.5 / SCALE
        low = scipy.fft.idctn(coefficients * ((fy < cutoff) & (fx < cutoff)), norm="ortho")
        scores.append(psnr(np.clip(low, 0.0, 1.0), hr, SCALE))
    return float(np.mean(scores))


def cpu_latency_ms(model_dir: Path, frames: int = 200) -> tuple[float, float]:
    """Median and p99 milliseconds of one 64x64 -> 256x256 `upscale` call on one CPU thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = SuperResolutionModel.load(model_dir, device="cpu")
        frame = np.random.default_rng(0).random((64, 64), dtype=np.float32)
        for _ in range(10):
            model.upscale([frame])
        times = []
        for _ in range(frames):
            started = time.perf_counter()
            model.upscale([frame])
            times.append(1000 * (time.perf_counter() - started))
        return float(np.median(times)), float(np.quantile(times, 0.99))
    finally:
        torch.set_num_threads(previous)


def train_unet(data: Path, train: list[Path], work: Path) -> Path:
    """A U-Net with the project's defaults on the training groups (blowholes + free negatives)."""
    defects = [p for p in train if p.parent.name == "images"]
    free = [p for p in train if p.parent.name == "free"]
    images = link_all(defects, work / "unet-train" / "images")
    masks = link_all(
        [data / "blowhole" / "masks" / f"{p.stem}.png" for p in defects], work / "unet-train" / "masks"
    )
    negatives = link_all(free, work / "unet-train" / "free")
    out = work / "unet"
    run_cli(
        ["train", "unet", "--images", str(images), "--masks", str(masks), "--negatives", str(negatives)]
        + ["--out", str(out), "--device", "cpu"]
    )
    return out


def downstream_iou(
    unet: SegmentationModel,
    model: SuperResolutionModel,
    data: Path,
    defects: list[Path],
    config: SRTrainConfig,
) -> dict[str, tuple[float, float]]:
    """Mean (two-class mIoU, defect IoU) over the test blowhole images, per input variant."""
    counts: dict[str, list[MaskCounts]] = {"original": [], "GAN x4": [], "bicubic x4": []}
    for path in defects:
        hr, lr = low_resolution(path, config)
        truth = modcrop(load_mask(data / "blowhole" / "masks" / f"{path.stem}.png"), SCALE)
        inputs = {
            "original": hr,
            "GAN x4": model.upscale([lr])[0],
            "bicubic x4": np.clip(resize(lr, hr.shape), 0.0, 1.0),
        }
        for name, image in inputs.items():
            counts[name].append(MaskCounts.of(unet.segment([image])[0], truth))
    return {
        name: (float(np.mean([c.mean_iou for c in rows])), float(np.mean([c.defect_iou for c in rows])))
        for name, rows in counts.items()
    }


def render(
    split_sizes: tuple[int, int, int],
    config: SRTrainConfig,
    after_pretrain: dict[str, float],
    final: dict[str, float],
    linear: dict[str, float],
    clean: dict[str, float],
    band_limited: float,
    latency: tuple[float, float],
    iou: dict[str, tuple[float, float]] | None,
    train_seconds: float,
    delivered: dict[str, object],
) -> str:
    train, test_free, test_defect = split_sizes
    gain = final["psnr"] - final["psnr_bicubic"]
    lines = [
        f"x4 on {test_free + test_defect} held-out tiles ({test_free} free, {test_defect} blowhole; "
        f"{train} training images, split by tile group as in the sections above). Generator width "
        f"{config.width}, {config.blocks} residual blocks; {config.epochs} L1 pre-training + "
        f"{config.gan_epochs} adversarial epochs of {config.crops_per_epoch} crops of {config.crop} px "
        f"(adversarial weight {config.adversarial_weight:g}), trained in {train_seconds / 60:.1f} min on one CPU thread. "
        f"Degradation: {config.degradation.to_dict()}. PSNR/SSIM on gray, {SCALE}-pixel border cut.",
        "",
        "| upscaler | PSNR dB | SSIM |",
        "| --- | --- | --- |",
        f"| bicubic (PIL) | {final['psnr_bicubic']:.2f} | {final['ssim_bicubic']:.4f} |",
        f"| best linear 7x7 filter (least squares on the training tiles) | {linear['psnr']:.2f} | {linear['ssim']:.4f} |",
        f"| bound: HR with all detail above the LR Nyquist limit removed (not an upscaler) | {band_limited:.2f} | - |",
        f"| generator after L1 pre-training | {after_pretrain['psnr']:.2f} | {after_pretrain['ssim']:.4f} |",
        f"| delivered generator (run epoch {delivered['epoch']}, {delivered['phase']}) | {final['psnr']:.2f} | {final['ssim']:.4f} |",
        "",
        f"Delivered: {delivered['reason']} (selection by PSNR on validation crops of the training images).",
        "",
        f"PSNR gain over bicubic {gain:+.2f} dB (target >= +{TARGET_PSNR_GAIN:.1f}: "
        f"{'met' if gain >= TARGET_PSNR_GAIN else 'NOT met'}); SSIM "
        f"{'above' if final['ssim'] > final['ssim_bicubic'] else 'NOT above'} bicubic.",
        "",
        "The same generator on LR frames made by plain bicubic x1/4 (no blur, noise or JPEG; not seen in training):",
        "",
        "| upscaler, clean LR input | PSNR dB | SSIM |",
        "| --- | --- | --- |",
        f"| bicubic (PIL) | {clean['psnr_bicubic']:.2f} | {clean['ssim_bicubic']:.4f} |",
        f"| delivered generator | {clean['psnr']:.2f} | {clean['ssim']:.4f} |",
        "",
        f"CPU latency of one 64x64 -> 256x256 frame, one thread: median {latency[0]:.1f} ms, p99 {latency[1]:.1f} ms "
        f"(budget {SPEED_TARGET_MS:.0f} ms).",
    ]
    if iou is None:
        lines += ["", "Downstream U-Net IoU: not measured (no U-Net)."]
    else:
        gap = iou["original"][0] - iou["GAN x4"][0]
        lines += [
            "",
            f"Downstream: U-Net (project defaults) on the {test_defect} held-out blowhole images.",
            "",
            "| U-Net input | mean IoU (2-class) | defect IoU |",
            "| --- | --- | --- |",
            *(f"| {name} | {miou:.3f} | {diou:.3f} |" for name, (miou, diou) in iou.items()),
            "",
            f"GAN x4 mIoU minus the originals' mIoU: {-gap:+.3f} (target: no more than {TARGET_IOU_GAP} below; "
            f"{'met' if abs(gap) <= TARGET_IOU_GAP else 'NOT met'}).",
        ]
    return "\n".join(lines)


def main() -> int:
    defaults = SRTrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="magnetic-tile folder")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="L1 pre-training epochs")
    parser.add_argument("--gan-epochs", type=int, default=defaults.gan_epochs, help="adversarial epochs")
    parser.add_argument("--unet", type=Path, help="U-Net model directory (default: train one with defaults)")
    parser.add_argument("--no-unet", action="store_true", help="skip the downstream U-Net measurement")
    parser.add_argument("--write-doc", action="store_true", help=f"replace '{SECTION}' in {DOC}")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test_free, test_defect = split(args.data)
    config = replace(defaults, scale=SCALE, epochs=args.epochs, gan_epochs=args.gan_epochs, device="cpu")
    images = [load_gray(p) for p in train]
    pairs = [low_resolution(p, config) for p in test_free + test_defect]
    progress = lambda r: print(  # noqa: E731
        f"epoch {r.epoch}/{r.epochs} {r.phase} val PSNR {r.val_psnr:.2f} (bicubic {r.bicubic_psnr:.2f})",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="eval-sr-") as tmp:
        work = Path(tmp)
        checkpoint = Checkpoint.in_folder(work / "sr")
        started = time.perf_counter()
        pretrained = train_sr_model(images, replace(config, gan_epochs=0), progress, checkpoint)
        after_pretrain = quality(pretrained, pairs)
        model = train_sr_model(images, config, progress, checkpoint)  # resumes into the adversarial phase
        train_seconds = time.perf_counter() - started
        final = quality(model, pairs)
        linear = quality(linear_upscaler([low_resolution(p, config) for p in train]), pairs)
        clean = quality(model, [(hr, clean_low_resolution(hr)) for hr, _ in pairs])
        model.save(work / "sr")
        latency = cpu_latency_ms(work / "sr")
        iou = None
        if not args.no_unet:
            unet_dir = args.unet or train_unet(args.data, train, work)
            unet = SegmentationModel.load(unet_dir, device="cpu")
            iou = downstream_iou(unet, model, args.data, test_defect, config)
    table = render(
        (len(train), len(test_free), len(test_defect)),
        config,
        after_pretrain,
        final,
        linear,
        clean,
        band_limited_psnr(pairs),
        latency,
        iou,
        train_seconds,
        model.card["delivered"],
    )
    print(table)
    if args.write_doc:
        write_section(SECTION, f"{SECTION}\n\n{table}\n{NOTES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training a U-Net from images and their defect masks: defect-centred crops, copy-pasted
defects, scale and contrast jitter, BCE + Dice, cosine learning rate, a checkpoint after every epoch.

Why this recipe: defects are a few % of the pixels (blowholes 0.2 %) or a quarter of the image
(uneven surfaces). Half of every batch is crops centred on a random defect pixel, so small defects
are seen often; a share of the crops get a real defect from another image pasted in
(models/defect_paste.py), so a defect is learnt apart from the place it was photographed in;
crops are drawn at a random scale and contrast, so a defect a little larger, smaller or fainter
than the training ones is still one. The Dice term scores the defect class as a whole, so the loss
cannot be won by predicting background; BCE keeps the per-pixel probabilities calibrated around
the 0.5 threshold, which holds false positives on defect-free surfaces down. The delivered weights
are an average over the last fifth of the steps (Polyak averaging, `models/training.py`), which
marked fewer false defect regions than the last weights in every run measured. Nothing assumes a
defect size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from models.checkpoint import Checkpoint, setup_difference, state_mismatch
from models.defect_paste import DefectPatch, cut_defects, paste_defect
from models.images import check_unique_stems, list_images, load_gray, load_mask_channels
from models.training import autocast, resolve_device, seed_everything, weight_average
from models.unet import UNet, UNetConfig
from models.unet_model import SegmentationModel, normalise


@dataclass(frozen=True, slots=True)
class UNetTrainConfig:
    """Everything that decides the trained model; stored in the card for reproducibility."""

    width: int = 8
    depth: int = 4
    crop: int = 128
    epochs: int = 60
    crops_per_epoch: int = 512
    batch_size: int = 16
    learning_rate: float = 3e-3
    defect_crop_fraction: float = 0.5
    paste_fraction: float = 0.5  # share of crops that get a defect cut from a training image pasted in
    scale_jitter: float = 1.35  # crops are drawn at a random scale between 1/x and x
    contrast_jitter: float = 0.2  # random gain exp(±x) and offset ±x on the standardised crop
    dice_weight: float = 1.0
    threshold: float = 0.5
    average_window: float = 0.2  # delivered weights: averaged over this last share of the steps (0: the last)
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.crop % 2**self.depth or self.crop < 2**self.depth:
            raise ValueError(f"crop size {self.crop} must be a multiple of 2**depth = {2**self.depth}")
        if self.epochs < 1 or self.crops_per_epoch < 1 or self.batch_size < 1:
            raise ValueError("epochs, crops per epoch and batch size must be at least 1")
        if self.scale_jitter < 1.0 or self.contrast_jitter < 0.0 or not 0.0 <= self.paste_fraction <= 1.0:
            raise ValueError("scale jitter must be >= 1, contrast jitter >= 0 and paste fraction in [0, 1]")
        if not 0.0 <= self.average_window <= 1.0:
            raise ValueError(f"average window must lie in [0, 1], got {self.average_window}")


@dataclass(frozen=True, slots=True)
class SegmentationEpoch:
    """What one epoch achieved, for the progress display."""

    epoch: int
    epochs: int
    loss: float
    dice: float  # soft Dice of the training crops: rises from ~0 as the defects are learnt
    seconds: float


@dataclass(frozen=True, slots=True)
class _Example:
    image: np.ndarray  # normalised, padded to at least the crop size
    mask: np.ndarray  # float32 0/1, same shape
    defects: np.ndarray  # [N, 2] row, col of defect pixels (empty for a defect-free image)


def load_mask(path: Path) -> np.ndarray:
    """A mask file as a boolean array: a defect pixel is one with a non-zero value, as stored, in
    any colour channel, so 0/255, 0/1 and 16-bit gray masks and coloured marks on black (RGB or
    palette) all read alike; with an alpha channel, only where it is not fully transparent (marks
    painted on a transparent layer, whatever colour lies under the transparency)."""
    return _defects(*load_mask_channels(path))


def _defects(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    marked = np.any(colour != 0, axis=-1)
    return marked if alpha is None else marked & (alpha != 0)


def load_training_pairs(images_dir: Path, masks_dir: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each image of `images_dir` with its mask: the PNG of `masks_dir` with the same base name, in
    any letter case (`f0.jpg` takes `f0.PNG`). ValueError (one line) naming two images that would
    share a mask, the first image without a mask or with a mask of another size, or saying what
    the masks hold when none marks a defect pixel (see `load_mask`)."""
    paths = list_images(images_dir)
    check_unique_stems(paths)
    masks_by_stem = _masks_by_stem(masks_dir)
    images, masks, alpha_marks = [], [], False
    for path in paths:
        found = masks_by_stem.get(path.stem.casefold(), [])
        if not found:
            raise ValueError(f"{path.name} has no mask: expected {masks_dir / f'{path.stem}.png'}")
        if len(found) > 1:
            raise ValueError(f"{path.name} has two masks, {found[0].name} and {found[1].name}; remove one")
        image, (colour, alpha) = load_gray(path), load_mask_channels(found[0])
        mask = _defects(colour, alpha)
        if image.shape != mask.shape:
            raise ValueError(
                f"{found[0].name} is {mask.shape[1]}x{mask.shape[0]} but {path.name} is "
                f"{image.shape[1]}x{image.shape[0]}"
            )
        alpha_marks = alpha_marks or (alpha is not None and alpha.min() != alpha.max())
        images.append(image)
        masks.append(mask)
    if not any(mask.any() for mask in masks):
        channels = "the colour channels of their visible pixels" if alpha_marks else "every colour channel"
        hint = (
            " (black marks on a transparent layer do not count: draw them in a colour)" if alpha_marks else ""
        )
        raise ValueError(
            f"no mask in {masks_dir} marks any defect pixel: all {len(masks)} masks hold only 0 in "
            f"{channels}, and a defect pixel is a non-zero one{hint}; nothing to learn"
        )
    return images, masks


def _masks_by_stem(masks_dir: Path) -> dict[str, list[Path]]:
    """The PNG files of `masks_dir` by lower-case base name (more than one: ambiguous)."""
    if not masks_dir.is_dir():
        raise ValueError(f"{masks_dir}: not a folder")
    found: dict[str, list[Path]] = {}
    for path in sorted(masks_dir.iterdir()):
        if path.is_file() and path.suffix.lower() == ".png":
            found.setdefault(path.stem.casefold(), []).append(path)
    return found


def _prepare(image: np.ndarray, mask: np.ndarray, crop: int) -> _Example:
    pad_h, pad_w = max(crop - image.shape[0], 0), max(crop - image.shape[1], 0)
    padding = ((0, pad_h), (0, pad_w))
    normal = np.pad(normalise(image), padding, mode="symmetric")
    target = np.pad(mask.astype(np.float32), padding, mode="symmetric")
    return _Example(normal, target, np.argwhere(target > 0.5))


def _sample_batch(
    examples: list[_Example],
    patches: list[DefectPatch],
    count: int,
    config: UNetTrainConfig,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` random crops: a `defect_crop_fraction` share centred (with jitter) on a random defect
    pixel, the rest anywhere in any image; each at a random scale, resized to the crop size, with
    random flips, quarter turns and contrast; then a `paste_fraction` share get a pasted defect,
    which keeps the contrast it was cut with."""
    crop = config.crop
    with_defects = [index for index, example in enumerate(examples) if len(example.defects)]
    inputs = np.empty((count, 1, crop, crop), dtype=np.float32)
    targets = np.empty_like(inputs)
    log_jitter = math.log(config.scale_jitter)
    for slot in range(count):
        centred = bool(with_defects) and rng.random() < config.defect_crop_fraction
        pool = with_defects if centred else range(len(examples))
        example = examples[pool[int(rng.integers(len(pool)))]]
        height, width = example.image.shape
        size = min(round(crop * math.exp(rng.uniform(-log_jitter, log_jitter))), height, width)
        if centred:
            row, col = example.defects[rng.integers(len(example.defects))]
            top = int(np.clip(row - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, height - size))
            left = int(np.clip(col - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, width - size))
        else:
            top, left = int(rng.integers(height - size + 1)), int(rng.integers(width - size + 1))
        window = (slice(top, top + size), slice(left, left + size))
        image, mask = _resized(example.image[window], example.mask[window], crop)
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        image, mask = np.rot90(image, turns), np.rot90(mask, turns)
        if flip:
            image, mask = image[:, ::-1], mask[:, ::-1]
        gain = math.exp(rng.uniform(-config.contrast_jitter, config.contrast_jitter))
        image = image * gain + rng.uniform(-config.contrast_jitter, config.contrast_jitter)
        if patches and rng.random() < config.paste_fraction:
            image, mask = paste_defect(image, mask, patches[int(rng.integers(len(patches)))], rng)
        inputs[slot, 0], targets[slot, 0] = image, mask
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def _resized(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A square crop and its 0/1 mask resized to `size` (bilinear, antialiased when shrinking; the
    mask is re-binarised at one half)."""
    if image.shape[0] == size:
        return image, mask
    pair = torch.from_numpy(np.stack([image, mask]).astype(np.float32))[None]
    pair = F.interpolate(
        pair, size=(size, size), mode="bilinear", align_corners=False, antialias=image.shape[0] > size
    )
    resized = pair[0].numpy()
    return resized[0], (resized[1] > 0.5).astype(np.float32)


def segmentation_loss(logits: torch.Tensor, targets: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """BCE per pixel plus `dice_weight` x (1 - soft Dice of the defect class over the whole batch).

    Dice is pooled over the batch, not per crop, so defect-free crops add false positives to it
    instead of being undefined.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    return bce + dice_weight * (1.0 - soft_dice(torch.sigmoid(logits), targets))


def soft_dice(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    overlap = (probabilities * targets).sum()
    return (2 * overlap + 1.0) / (probabilities.sum() + targets.sum() + 1.0)


def train_segmentation_model(
    images: list[np.ndarray],
    masks: list[np.ndarray],
    config: UNetTrainConfig,
    checkpoint: Checkpoint | None = None,
    progress: Callable[[SegmentationEpoch], None] | None = None,
) -> SegmentationModel:
    """Train a U-Net on gray images [H, W] in [0, 1] and boolean masks of the same sizes (all-false
    masks for defect-free examples). With a checkpoint, training continues after its last epoch
    and writes a new one after every epoch (the caller removes it once the model is saved).
    """
    if len(images) != len(masks) or not images:
        raise ValueError(f"need matching images and masks, got {len(images)} images and {len(masks)} masks")
    examples = [
        _prepare(image, np.asarray(mask, dtype=bool), config.crop)
        for image, mask in zip(images, masks, strict=True)
    ]
    if not any(len(example.defects) for example in examples):
        raise ValueError("no mask marks any defect pixel: nothing to learn")
    patches = [
        patch
        for example in examples
        if len(example.defects)
        for patch in cut_defects(example.image, example.mask > 0.5)
    ]
    seed_everything(config.seed)
    device = resolve_device(config.device)
    architecture = UNetConfig(width=config.width, depth=config.depth)
    module = UNet(architecture).to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    average = weight_average(module, config.average_window)
    optimiser = torch.optim.AdamW(module.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    use_scaler = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    first_epoch, seconds = 1, 0.0
    if checkpoint is not None:
        first_epoch, seconds = _resume(checkpoint, config, module, optimiser, average)
    report: SegmentationEpoch | None = None
    for epoch in range(first_epoch, config.epochs + 1):
        started = time.perf_counter()
        report = _run_epoch(module, average, optimiser, scaler, examples, patches, config, epoch, device)
        seconds += time.perf_counter() - started
        if checkpoint is not None:
            checkpoint.save(
                epoch,
                {
                    "module": module.state_dict(),
                    "average": average.state_dict() if average is not None else {},
                    "optimiser": optimiser.state_dict(),
                    "config": _resume_key(config),
                    "progress": {"seconds": seconds},
                },
            )
        if progress is not None:
            progress(report)
    defect_pixels = sum(int(np.count_nonzero(mask)) for mask in masks)
    card = {
        "training": {
            "images": len(images),
            "defect_images": sum(bool(np.any(mask)) for mask in masks),
            "defect_pixel_percent": 100.0 * defect_pixels / sum(mask.size for mask in masks),
            "config": asdict(config),
            "device": device.type,
            "seconds": round(seconds, 3),
        },
        # The last epoch's, on its training crops (a run resumed past its last epoch has none).
        "metrics": {"train_dice": report.dice, "train_loss": report.loss, "epochs": config.epochs}
        if report is not None
        else {},
    }
    delivered = cast(UNet, average.module) if average is not None else module
    return SegmentationModel(delivered.cpu(), config.threshold, card, device=device.type)


def _resume_key(config: UNetTrainConfig) -> dict[str, float | int]:
    """The settings a checkpoint must share with the run that resumes it: all but the device. The
    epochs too, because the cosine learning rate of every epoch depends on them."""
    return {name: value for name, value in asdict(config).items() if name != "device"}


def _resume(
    checkpoint: Checkpoint,
    config: UNetTrainConfig,
    module: UNet,
    optimiser: torch.optim.Optimizer,
    average: AveragedModel | None,
) -> tuple[int, float]:
    """The first epoch to run and the seconds already trained: (1, 0.0) without a checkpoint, else
    after loading its states. ValueError (one line) for a checkpoint of another setup or model kind."""
    resumed = checkpoint.load()
    if resumed is None:
        return 1, 0.0
    done, states = resumed
    if states.get("config") != _resume_key(config):
        raise checkpoint.other_setup(setup_difference(states.get("config"), _resume_key(config)))
    try:
        module.load_state_dict(states["module"])
        optimiser.load_state_dict(states["optimiser"])
        if average is not None:
            average.load_state_dict(states["average"])
        seconds = float(states["progress"]["seconds"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise checkpoint.other_setup(state_mismatch(exc)) from exc
    return done + 1, seconds


def _run_epoch(
    module: UNet,
    average: AveragedModel | None,
    optimiser: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    examples: list[_Example],
    patches: list[DefectPatch],
    config: UNetTrainConfig,
    epoch: int,
    device: torch.device,
) -> SegmentationEpoch:
    """One epoch of `crops_per_epoch` fresh crops. The crops and the learning rate (cosine decay)
    depend only on (seed, epoch), so a resumed run continues exactly as an uninterrupted one."""
    started = time.perf_counter()
    rng = np.random.default_rng([config.seed, epoch])
    learning_rate = config.learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config.epochs))
    for group in optimiser.param_groups:
        group["lr"] = learning_rate
    module.train()
    loss_sum, overlap, total = 0.0, 0.0, 0.0
    for start in range(0, config.crops_per_epoch, config.batch_size):
        count = min(config.batch_size, config.crops_per_epoch - start)
        inputs, targets = _sample_batch(examples, patches, count, config, rng)
        inputs = inputs.to(device).contiguous(memory_format=torch.channels_last)
        targets = targets.to(device)
        optimiser.zero_grad(set_to_none=True)
        with autocast(device):
            logits = module(inputs).float()
        loss = segmentation_loss(logits, targets, config.dice_weight)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        if average is not None:
            average.update_parameters(module)
        scaler.update()
        with torch.no_grad():
            probabilities = torch.sigmoid(logits)
            overlap += float((probabilities * targets).sum())
            total += float(probabilities.sum() + targets.sum())
        loss_sum += float(loss.detach()) * count
    return SegmentationEpoch(
        epoch=epoch,
        epochs=config.epochs,
        loss=loss_sum / config.crops_per_epoch,
        dice=2 * overlap / max(total, 1e-9),
        seconds=time.perf_counter() - started,
    )

"""`monitor train unet` and `monitor segment`: train a defect-segmentation U-Net from images and
their masks (any non-zero value marks a defect), and write one 0/255 PNG mask per input image
(same base name, same size)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models.card import ModelCardError
from models.images import list_images, load_gray, save_png
from models.unet_model import SegmentationModel
from models.unet_training import (
    SegmentationEpoch,
    UNetTrainConfig,
    load_training_pairs,
    train_segmentation_model,
)
from monitor.cli.common import Subparsers, command_group, png_outputs, resume_checkpoint, usable_device
from monitor.cli.main import UsageError
from monitor.settings import load_settings

DEFAULTS = UNetTrainConfig()


def register(subparsers: Subparsers) -> None:
    train = command_group(subparsers, "train", "train a model").add_parser(
        "unet", help="train a defect-segmentation U-Net from images and their defect masks"
    )
    train.add_argument("--images", type=Path, required=True, help="folder of training images")
    train.add_argument(
        "--masks",
        type=Path,
        required=True,
        help="folder of PNG masks named like each image (any letter case); non-zero pixels mark defects",
    )
    train.add_argument(
        "--negatives", type=Path, help="optional folder of defect-free images (all-background examples)"
    )
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help=f"default {DEFAULTS.epochs}")
    train.add_argument(
        "--size",
        type=int,
        default=DEFAULTS.crop,
        help=f"training crop size in pixels (default {DEFAULTS.crop})",
    )
    train.add_argument(
        "--crops-per-epoch",
        type=int,
        default=DEFAULTS.crops_per_epoch,
        help=f"random training crops per epoch (default {DEFAULTS.crops_per_epoch})",
    )
    train.add_argument(
        "--learning-rate",
        type=float,
        default=DEFAULTS.learning_rate,
        help=f"default {DEFAULTS.learning_rate}",
    )
    train.add_argument(
        "--width", type=int, default=DEFAULTS.width, help=f"first-level channels ({DEFAULTS.width})"
    )
    train.add_argument("--depth", type=int, default=DEFAULTS.depth, help=f"down-samplings ({DEFAULTS.depth})")
    train.add_argument(
        "--threshold", type=float, default=DEFAULTS.threshold, help="defect probability threshold (0.5)"
    )
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: models.device")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--config", type=Path, help="config file (models.device)")
    train.set_defaults(handler=_train)

    segment = subparsers.add_parser("segment", help="write a 0/255 PNG defect mask per image")
    segment.add_argument("--model", type=Path, required=True, help="U-Net model directory")
    segment.add_argument("--images", type=Path, required=True, help="folder of images to segment")
    segment.add_argument("--out", type=Path, required=True, help="folder for the masks (<base name>.png)")
    segment.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: models.device")
    segment.add_argument("--config", type=Path, help="config file (models.device)")
    segment.set_defaults(handler=_segment)


def _print_epoch(report: SegmentationEpoch) -> None:
    print(
        f"epoch {report.epoch:3d}/{report.epochs}  loss {report.loss:.4f}  "
        f"train dice {report.dice:.3f}  {report.seconds:.1f}s",
        flush=True,
    )


def _train(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if not 0.0 < args.threshold < 1.0:
        raise UsageError(f"--threshold must lie in (0, 1), got {args.threshold}")
    device = usable_device(args.device or settings.models.device)
    checkpoint = resume_checkpoint(args.out)
    try:
        config = UNetTrainConfig(
            width=args.width,
            depth=args.depth,
            crop=args.size,
            crops_per_epoch=args.crops_per_epoch,
            learning_rate=args.learning_rate,
            epochs=args.epochs,
            threshold=args.threshold,
            seed=args.seed,
            device=device,
        )
        images, masks = load_training_pairs(args.images, args.masks)
        negatives = [load_gray(path) for path in list_images(args.negatives)] if args.negatives else []
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    masks += [np.zeros(image.shape, dtype=bool) for image in negatives]
    print(f"training on {len(images)} images with masks and {len(negatives)} defect-free images")
    try:
        model = train_segmentation_model(images + negatives, masks, config, checkpoint, _print_epoch)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    model.card["training"]["sources"] = {
        "images": str(args.images),
        "masks": str(args.masks),
        "negatives": str(args.negatives) if args.negatives else None,
    }
    model.save(args.out)
    checkpoint.remove()
    print(f"model {model.version} written to {args.out} (threshold {model.threshold})")
    return 0


def _segment(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    device = usable_device(args.device or settings.models.device)
    try:
        model = SegmentationModel.load(args.model, device=device)
        paths = list_images(args.images)
    except (ModelCardError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    outputs = png_outputs(args.images, paths, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    for path, output in zip(paths, outputs, strict=True):
        try:
            image = load_gray(path)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        (mask,) = model.segment([image])
        save_png(output, np.where(mask, 255, 0).astype(np.uint8))
    print(f"{len(paths)} masks written to {args.out}")
    return 0

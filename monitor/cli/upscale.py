"""`monitor train sr` and `monitor upscale`: train a super-resolution GAN on a folder of
high-resolution images, and upscale a folder of images with it (one PNG per input)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from models.card import ModelCardError
from models.images import list_images, load_gray, save_png
from models.sr_gan import SCALES
from models.sr_model import SuperResolutionModel
from models.sr_training import SREpochReport, SRTrainConfig, train_sr_model
from monitor.cli.common import Subparsers, command_group, png_outputs, resume_checkpoint, usable_device
from monitor.cli.main import UsageError
from monitor.settings import load_settings


def register(subparsers: Subparsers) -> None:
    defaults = SRTrainConfig()
    train = command_group(subparsers, "train", "train a model").add_parser(
        "sr", help="train a super-resolution GAN (x2 or x4) on high-resolution images"
    )
    train.add_argument("--images", type=Path, required=True, help="folder of high-resolution images")
    train.add_argument("--scale", type=int, required=True, choices=SCALES, help="upscaling factor")
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument(
        "--epochs",
        type=int,
        default=defaults.epochs,
        help=f"L1 pre-training epochs (default {defaults.epochs})",
    )
    train.add_argument(
        "--gan-epochs",
        type=int,
        default=defaults.gan_epochs,
        help=f"adversarial fine-tuning epochs after pre-training (default {defaults.gan_epochs})",
    )
    train.add_argument(
        "--crops-per-epoch",
        type=int,
        default=defaults.crops_per_epoch,
        help=f"random training crops per epoch (default {defaults.crops_per_epoch})",
    )
    train.add_argument(
        "--crop",
        type=int,
        default=defaults.crop,
        help=f"high-resolution crop size in pixels (default {defaults.crop})",
    )
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: models.device")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--config", type=Path, help="config file (models.device)")
    train.set_defaults(handler=_train)

    upscale = subparsers.add_parser("upscale", help="upscale images: one PNG per input, scaled by the model")
    upscale.add_argument("--model", type=Path, required=True, help="super-resolution model directory")
    upscale.add_argument("--images", type=Path, required=True, help="folder of images to upscale")
    upscale.add_argument("--out", type=Path, required=True, help="folder to write the PNGs into")
    upscale.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: models.device")
    upscale.add_argument("--config", type=Path, help="config file (models.device)")
    upscale.set_defaults(handler=_upscale)


def _print_epoch(report: SREpochReport) -> None:
    discriminator = f"  D {report.discriminator_loss:.4f}" if report.phase == "adversarial" else ""
    print(
        f"epoch {report.epoch:3d}/{report.epochs} {report.phase:<11}  G {report.generator_loss:.5f}{discriminator}  "
        f"val PSNR {report.val_psnr:.2f} dB (bicubic {report.bicubic_psnr:.2f})  {report.seconds:.1f}s",
        flush=True,
    )


def _images(folder: Path) -> list[Path]:
    try:
        return list_images(folder)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _train(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.epochs < 0 or args.gan_epochs < 0 or args.epochs + args.gan_epochs < 1:
        raise UsageError("--epochs and --gan-epochs must be >= 0 and together at least 1")
    if args.crops_per_epoch < 1:
        raise UsageError("--crops-per-epoch must be at least 1")
    device = usable_device(args.device or settings.models.device)
    checkpoint = resume_checkpoint(args.out)
    try:
        config = replace(
            SRTrainConfig(),
            scale=args.scale,
            epochs=args.epochs,
            gan_epochs=args.gan_epochs,
            crops_per_epoch=args.crops_per_epoch,
            crop=args.crop,
            seed=args.seed,
            device=device,
        )
        images = [load_gray(path) for path in _images(args.images)]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(f"training x{args.scale} super-resolution on {len(images)} images from {args.images}")
    try:
        model = train_sr_model(images, config, progress=_print_epoch, checkpoint=checkpoint)
    except ValueError as exc:
        raise UsageError(f"{args.images}: {exc}") from exc
    model.card["training"]["source"] = str(args.images)
    model.save(args.out)
    checkpoint.remove()
    metrics = model.card["metrics"]
    print(
        f"model {model.version} written to {args.out} (val PSNR {metrics['final_psnr']:.2f} dB, "
        f"bicubic {metrics['bicubic_psnr']:.2f} dB)"
    )
    print(f"delivered epoch {model.card['delivered']['epoch']}: {model.card['delivered']['reason']}")
    return 0


def _upscale(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    device = usable_device(args.device or settings.models.device)
    try:
        model = SuperResolutionModel.load(args.model, device=device)
    except ModelCardError as exc:
        raise UsageError(str(exc)) from exc
    paths = _images(args.images)
    outputs = png_outputs(args.images, paths, args.out)
    for path, output in zip(paths, outputs, strict=True):
        try:
            image = load_gray(path)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        save_png(output, model.upscale([image])[0])
    print(f"{len(paths)} images upscaled x{model.scale} into {args.out}")
    return 0

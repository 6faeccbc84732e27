"""`monitor train image-ae` and `monitor score image-ae`: train the image autoencoder on a folder of
normal images, and score a folder into `file,score,anomaly` with the card's calibrated threshold."""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from pathlib import Path

import numpy as np

from models.card import ModelCardError
from models.image_ae_model import ImageAnomalyModel, ScoringConfig
from models.image_ae_training import ImageTrainConfig, train_image_ae
from models.images import list_images, load_gray
from monitor.cli.common import (
    Subparsers,
    command_group,
    output_file,
    print_epoch,
    resume_checkpoint,
    usable_device,
)
from monitor.cli.main import UsageError
from monitor.settings import load_settings
from monitor.thresholds import calibration

SCORE_CHUNK = 32  # images read and scored at a time: bounds memory for large folders


def register(subparsers: Subparsers) -> None:
    defaults = ImageTrainConfig()
    train = command_group(subparsers, "train", "train a model").add_parser(
        "image-ae", help="train an image autoencoder on normal (defect-free) images"
    )
    train.add_argument("--images", type=Path, required=True, help="folder of normal images")
    train.add_argument("--out", type=Path, required=True, help="model directory (resumes its checkpoint)")
    train.add_argument(
        "--epochs", type=int, default=defaults.epochs, help=f"most epochs (default {defaults.epochs})"
    )
    train.add_argument(
        "--size",
        type=int,
        default=defaults.scoring.size,
        help=f"longer image side in working pixels (default {defaults.scoring.size})",
    )
    train.add_argument(
        "--flip-average",
        action="store_true",
        help="score each image as the mean over it and its mirror images: more accurate, four passes",
    )
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: models.device")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--config", type=Path, help="config file (models, thresholds)")
    train.set_defaults(handler=_train)

    score = command_group(subparsers, "score", "score data with a model").add_parser(
        "image-ae", help="score a folder of images: file,score,anomaly per image"
    )
    score.add_argument("--model", type=Path, required=True, help="model directory")
    score.add_argument("--images", type=Path, required=True, help="folder of images to score")
    score.add_argument("--out", type=Path, required=True, help="CSV to write")
    score.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: models.device")
    score.add_argument("--config", type=Path, help="config file (models.device)")
    score.set_defaults(handler=_score)


def _images(directory: Path) -> list[Path]:
    try:
        return list_images(directory)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _load(path: Path) -> np.ndarray:
    try:
        return load_gray(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _train(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.epochs < 1 or args.size < 16:
        raise UsageError("--epochs must be at least 1 and --size at least 16")
    device = usable_device(args.device or settings.models.device)
    checkpoint = resume_checkpoint(args.out)
    paths = _images(args.images)
    config = ImageTrainConfig(
        scoring=replace(ScoringConfig(), size=args.size, flip_average=args.flip_average),
        epochs=args.epochs,
        seed=args.seed,
        device=device,
    )
    print(f"training on {len(paths)} images from {args.images} at {args.size} px")
    try:
        model = train_image_ae([_load(path) for path in paths], config, print_epoch, checkpoint)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    model.card["threshold_calibration"] = calibration(settings.image_thresholds, model.training_scores)
    model.card["training"]["source"] = str(args.images)
    model.save(args.out)
    checkpoint.remove()
    start = model.card["threshold_calibration"]
    print(f"model {model.version} written to {args.out} (threshold {start['method']} {start['value']:.5g})")
    return 0


def _score(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    device = usable_device(args.device or settings.models.device)
    output_file(args.out)
    paths = _images(args.images)
    try:
        model = ImageAnomalyModel.load(args.model, device=device)
    except ModelCardError as exc:
        raise UsageError(str(exc)) from exc
    threshold = model.threshold
    if threshold is None:
        raise UsageError(f"{args.model}: the card holds no threshold calibration")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    flagged = 0
    with args.out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "score", "anomaly"])
        for start in range(0, len(paths), SCORE_CHUNK):
            chunk = paths[start : start + SCORE_CHUNK]
            scores, _ = model.score_images([_load(path) for path in chunk])
            for path, score in zip(chunk, scores, strict=True):
                anomaly = int(score > threshold)
                flagged += anomaly
                writer.writerow([path.name, f"{score:.6g}", anomaly])
    print(f"{len(paths)} images scored, {flagged} flagged (threshold {threshold:.5g}); written to {args.out}")
    return 0

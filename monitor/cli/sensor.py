"""`monitor train sensor` and `monitor score sensor`: train a window autoencoder from a CSV, and
score a CSV through the daemon's threshold and alert path (a backtest)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from models.card import ModelCardError
from models.sensor_model import SensorModel
from models.sensor_training import SensorTrainConfig, train_sensor_model
from models.training import FitConfig
from monitor.cli.common import Subparsers, command_group, output_file, output_folder, print_epoch
from monitor.cli.main import UsageError
from monitor.pipeline.backtest import backtest
from monitor.pipeline.csvio import CsvError, SensorTable, read_sensor_csv
from monitor.settings import load_settings
from monitor.thresholds import calibration


def register(subparsers: Subparsers) -> None:
    train = command_group(subparsers, "train", "train a model").add_parser(
        "sensor", help="train a sensor window autoencoder from a CSV"
    )
    train.add_argument("--csv", type=Path, required=True, help="baseline readings (normal operation)")
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--window", type=int, help="readings per window (default: sensors.window)")
    train.add_argument("--epochs", type=int, default=FitConfig().epochs, help="most epochs (early stopping)")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: models.device")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _add_csv_options(train)
    train.set_defaults(handler=_train)

    score = command_group(subparsers, "score", "score data with a model").add_parser(
        "sensor", help="score a CSV: timestamp,score,threshold,anomaly per row"
    )
    score.add_argument("--model", type=Path, required=True, help="model directory")
    score.add_argument("--csv", type=Path, required=True, help="readings to score")
    score.add_argument("--out", type=Path, required=True, help="CSV to write")
    _add_csv_options(score)
    score.set_defaults(handler=_score)


def _add_csv_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-column", help="time column (default: timestamp, datetime or time)")
    parser.add_argument("--ignore", default="", help="columns to drop when present, comma-separated (labels)")
    parser.add_argument("--config", type=Path, help="config file (thresholds, alerts, sensors)")


def _read(args: argparse.Namespace) -> SensorTable:
    ignore = [name.strip() for name in args.ignore.split(",") if name.strip()]
    try:
        return read_sensor_csv(args.csv, args.time_column, ignore)
    except CsvError as exc:
        raise UsageError(str(exc)) from exc


def _train(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    window = args.window if args.window is not None else settings.sensors.window
    if window < 4 or args.epochs < 1:
        raise UsageError("--window must be at least 4 and --epochs at least 1")
    output_folder(args.out)
    table = _read(args)
    config = SensorTrainConfig(
        window=window,
        seed=args.seed,
        device=args.device or settings.models.device,
        fit=replace(FitConfig(), epochs=args.epochs),
    )
    print(
        f"training on {len(table.values)} readings of {len(table.channels)} channels: {', '.join(table.channels)}"
    )
    try:
        model = train_sensor_model(table.values, table.channels, config, progress=print_epoch)
    except ValueError as exc:
        raise UsageError(f"{args.csv}: {exc}") from exc
    model.card["threshold_calibration"] = calibration(settings.thresholds, model.training_scores)
    model.card["training"]["source"] = str(args.csv)
    model.save(args.out)
    start = model.card["threshold_calibration"]
    print(f"model {model.version} written to {args.out} (threshold {start['method']} {start['value']:.5g})")
    return 0


def _score(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    output_file(args.out)
    try:
        model = SensorModel.load(args.model, device=settings.models.device)
    except ModelCardError as exc:
        raise UsageError(str(exc)) from exc
    table = _read(args)
    try:
        result = backtest(model, table, settings, asset=args.csv.stem)
    except CsvError as exc:
        raise UsageError(str(exc)) from exc
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.scores.to_csv(args.out, index=False)
    flagged = int(result.scores["anomaly"].sum())
    opened = len({alert.id for alert in result.alerts})
    print(f"{len(result.scores)} rows scored, {flagged} flagged, {opened} alerts; written to {args.out}")
    return 0

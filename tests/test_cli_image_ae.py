"""`monitor train image-ae` / `monitor score image-ae` round trip and their one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import damage_checkpoint, one_error_line

from models.checkpoint import Checkpoint
from models.image_ae_model import ScoringConfig
from models.image_ae_training import ImageTrainConfig, train_image_ae
from models.images import list_images, load_gray, save_png
from models.unet_training import UNetTrainConfig, train_segmentation_model
from monitor.cli.main import main
from monitor.settings import Settings
from monitor.thresholds import calibration


def write_textures(folder: Path, count: int, seed: int, size: int = 48) -> Path:
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    for index in range(count):
        stripes = 0.1 * np.sin(2 * np.pi * (rows + cols) / 10 + rng.uniform(0, 6.3))
        save_png(folder / f"img_{index:02d}.png", 0.5 + stripes + 0.02 * rng.standard_normal((size, size)))
    return folder


def test_train_then_score_writes_file_score_anomaly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training prints progress and writes a model dir without checkpoint; scoring writes one row per image."""
    images = write_textures(tmp_path / "normal", 5, seed=0)
    model = tmp_path / "model"
    argv = ["train", "image-ae", "--images", str(images), "--out", str(model), "--size", "64"]
    assert main([*argv, "--epochs", "2", "--device", "cpu"]) == 0
    output = capsys.readouterr().out
    assert "epoch   1/2" in output and "written to" in output
    assert {p.name for p in model.iterdir()} == {"card.json", "weights.pt", "training_scores.npy"}
    metrics = json.loads((model / "card.json").read_text())["metrics"]
    assert metrics["epochs"] == 2 and metrics["best_epoch"] in (1, 2) and metrics["val_loss"] > 0

    to_score = write_textures(tmp_path / "new", 3, seed=1)
    (to_score / "notes.txt").write_text("not an image")
    out = tmp_path / "out" / "scores.csv"
    assert (
        main(["score", "image-ae", "--model", str(model), "--images", str(to_score), "--out", str(out)]) == 0
    )
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["file"] for row in rows] == ["img_00.png", "img_01.png", "img_02.png"]
    assert all(float(row["score"]) >= 0 and row["anomaly"] in ("0", "1") for row in rows)


def test_flip_average_is_stored_in_the_card_and_used_when_scoring(tmp_path: Path) -> None:
    """`--flip-average` reaches the card, so `monitor score image-ae` (and a camera) score with it:
    an image and its mirror image get the same score."""
    images = write_textures(tmp_path / "normal", 5, seed=0)
    model = tmp_path / "model"
    argv = ["train", "image-ae", "--images", str(images), "--out", str(model), "--size", "64"]
    assert main([*argv, "--epochs", "2", "--device", "cpu", "--flip-average"]) == 0
    card = json.loads((model / "card.json").read_text())
    assert card["scoring"]["flip_average"] is True

    to_score = write_textures(tmp_path / "new", 1, seed=1)
    save_png(to_score / "img_01.png", load_gray(to_score / "img_00.png")[::-1, :])
    out = tmp_path / "scores.csv"
    assert (
        main(["score", "image-ae", "--model", str(model), "--images", str(to_score), "--out", str(out)]) == 0
    )
    with out.open() as handle:
        first, mirrored = (float(row["score"]) for row in csv.DictReader(handle))
    assert first == pytest.approx(mirrored, rel=1e-4)


def test_rerun_resumes_from_the_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An out dir holding a checkpoint (an interrupted run) resumes after its epoch."""
    images = write_textures(tmp_path / "normal", 4, seed=0)
    model = tmp_path / "model"
    config = ImageTrainConfig(scoring=ScoringConfig(size=64), epochs=1, device="cpu")
    train_image_ae(
        [load_gray(p) for p in list_images(images)], config, checkpoint=Checkpoint.in_folder(model)
    )
    argv = [
        "train",
        "image-ae",
        "--images",
        str(images),
        "--out",
        str(model),
        "--size",
        "64",
        "--epochs",
        "2",
    ]
    assert main([*argv, "--device", "cpu"]) == 0
    output = capsys.readouterr().out
    assert "after epoch 1" in output and "epoch   2/2" in output and "epoch   1/2" not in output
    assert not (model / "checkpoint.pt").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "image-ae", "--images", "{empty}", "--out", "{tmp}/m"], "holds no images"),
        (["train", "image-ae", "--images", "{tmp}/missing", "--out", "{tmp}/m"], "not a folder"),
        (["train", "image-ae", "--images", "{bad}", "--out", "{tmp}/m", "--size", "8"], "--size at least 16"),
        (["train", "image-ae", "--images", "{bad}", "--out", "{tmp}/m"], "undecodable image"),
        (
            ["score", "image-ae", "--model", "{tmp}", "--images", "{bad}", "--out", "{tmp}/s.csv"],
            "not a model",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Empty or missing folders, bad sizes, broken images and non-model dirs: exit 2, one line."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    values = {"{tmp}": str(tmp_path), "{empty}": str(tmp_path / "empty"), "{bad}": str(tmp_path / "bad")}
    filled = [values.get(arg, arg.replace("{tmp}", str(tmp_path))) for arg in argv]
    assert main(filled) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error


def test_card_threshold_of_probability_scores_stays_reachable() -> None:
    """Image scores are probabilities: the calibration is their 99th percentile, not ×1.5 beyond 1."""
    scores = np.linspace(0.3, 0.7, 100)
    start = calibration(Settings().image_thresholds, scores)
    assert start["method"] == "quantile"
    assert start["value"] == pytest.approx(np.quantile(scores, 0.99))
    assert start["value"] < scores.max()


def test_a_damaged_checkpoint_is_one_line_saying_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint torch cannot read names the file and the way out, not torch's many-line text."""
    images = write_textures(tmp_path / "normal", 2, seed=0)
    damaged = damage_checkpoint(tmp_path / "model")
    argv = ["train", "image-ae", "--images", str(images), "--out", str(tmp_path / "model"), "--size", "32"]
    assert main([*argv, "--epochs", "1", "--device", "cpu"]) == 2
    line = one_error_line(capsys, "train image-ae")
    assert damaged in line and "delete it to start over or choose another --out" in line


def test_scores_into_a_folder_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An --out that is a folder is refused before scoring, naming the file it wants, not an IsADirectoryError."""
    images = write_textures(tmp_path / "normal", 3, seed=0, size=32)
    argv = ["train", "image-ae", "--images", str(images), "--out", str(tmp_path / "model"), "--size", "32"]
    assert main([*argv, "--epochs", "1", "--device", "cpu"]) == 0
    capsys.readouterr()
    argv = ["score", "image-ae", "--model", str(tmp_path / "model"), "--images", str(images)]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a folder" in one_error_line(capsys, "score image-ae")


def _interrupted_unet(out: Path, images: Path) -> None:
    """Leave in `out` the checkpoint of a 1-epoch U-Net run on `images` (with all-defect masks)."""
    pictures = [load_gray(path) for path in list_images(images)]
    config = UNetTrainConfig(
        width=4, depth=2, crop=32, epochs=1, crops_per_epoch=8, batch_size=8, device="cpu"
    )
    masks = [np.ones(picture.shape, dtype=bool) for picture in pictures]
    train_segmentation_model(pictures, masks, config, Checkpoint.in_folder(out))


def test_a_checkpoint_of_another_model_kind_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interrupted `train unet --out mix`, then `train image-ae --out mix`: one line, not KeyError."""
    images = write_textures(tmp_path / "normal", 2, seed=0, size=32)
    _interrupted_unet(tmp_path / "mix", images)
    argv = ["train", "image-ae", "--images", str(images), "--out", str(tmp_path / "mix"), "--size", "32"]
    assert main([*argv, "--epochs", "1", "--device", "cpu"]) == 2
    line = one_error_line(capsys, "train image-ae")
    assert "was written by a different training setup (it holds another kind of model)" in line


def test_fewer_epochs_than_the_checkpoint_finished_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint after epoch 2 with --epochs 1 is one line saying what to give, and no model."""
    images = write_textures(tmp_path / "normal", 2, seed=0, size=32)
    model = tmp_path / "model"
    config = ImageTrainConfig(scoring=ScoringConfig(size=32), epochs=2, device="cpu")  # as the CLI trains
    train_image_ae(
        [load_gray(p) for p in list_images(images)], config, checkpoint=Checkpoint.in_folder(model)
    )
    argv = ["train", "image-ae", "--images", str(images), "--out", str(model), "--size", "32"]
    assert main([*argv, "--epochs", "1", "--device", "cpu"]) == 2
    line = one_error_line(capsys, "train image-ae")
    assert "the checkpoint has finished epoch 2, more than --epochs 1; give --epochs 2 or more" in line
    assert not (model / "card.json").exists()


def test_a_missing_cuda_is_a_device_error_before_any_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """models.device cuda without CUDA is one line about the device when scoring, not a broken model;
    training says so before reading the images (a broken one would be reported first otherwise)."""
    images = write_textures(tmp_path / "normal", 2, seed=0, size=32)
    argv = ["train", "image-ae", "--images", str(images), "--out", str(tmp_path / "model"), "--size", "32"]
    assert main([*argv, "--epochs", "1", "--device", "cpu"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("MONITOR_MODELS__DEVICE", "cuda")
    score = ["score", "image-ae", "--model", str(tmp_path / "model"), "--images", str(images)]
    assert main([*score, "--out", str(tmp_path / "scores.csv")]) == 2
    expected = "error: device cuda was asked for but CUDA is not available"
    assert one_error_line(capsys, "score image-ae").endswith(expected)
    (images / "broken.png").write_bytes(b"not an image")
    assert main([*argv, "--out", str(tmp_path / "other")]) == 2
    assert one_error_line(capsys, "train image-ae").endswith(expected)

"""`monitor train unet` -> `monitor segment` round trip, resume, and one-line errors (exit 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import damage_checkpoint, one_error_line
from PIL import Image
from segmentation_images import write_dataset

from models.checkpoint import Checkpoint
from models.defects import MaskCounts
from models.image_ae_model import ScoringConfig
from models.image_ae_training import ImageTrainConfig, train_image_ae
from models.images import save_png
from models.unet_training import (
    SegmentationEpoch,
    UNetTrainConfig,
    load_training_pairs,
    train_segmentation_model,
)
from monitor.cli.main import main

FAST = [
    "--epochs",
    "10",
    "--crops-per-epoch",
    "96",
    "--size",
    "32",
    "--width",
    "8",
    "--depth",
    "2",
    "--learning-rate",
    "0.01",
    "--device",
    "cpu",
]


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: on the shared 2-core machine, two threads of tiny convolutions run ~7x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("unet")
    images, masks = write_dataset(folder / "train", 12, seed=0)
    out = folder / "model"
    assert (
        main(["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(out), *FAST]) == 0
    )
    return out


def test_train_writes_a_model_directory_without_checkpoint(trained: Path) -> None:
    """A finished training leaves the weights and the card, with the metrics `monitor models list`
    shows; its checkpoint is removed."""
    assert {path.name for path in trained.iterdir()} == {"card.json", "weights.pt"}
    metrics = json.loads((trained / "card.json").read_text())["metrics"]
    assert set(metrics) == {"train_dice", "train_loss", "epochs"} and 0 <= metrics["train_dice"] <= 1


def test_segment_writes_one_png_mask_per_image(trained: Path, tmp_path: Path) -> None:
    """Same base name, .png, values 0/255, same size as the input, and the defects are found."""
    images, masks = write_dataset(tmp_path / "test", 4, seed=1, image_suffix=".jpg")
    out = tmp_path / "masks"
    assert main(["segment", "--model", str(trained), "--images", str(images), "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == [f"sample_{i}.png" for i in range(4)]
    pooled = MaskCounts()
    for index in range(4):
        written = np.asarray(Image.open(out / f"sample_{index}.png"))
        source = Image.open(images / f"sample_{index}.jpg")
        assert written.shape == (source.height, source.width)
        assert set(np.unique(written)) <= {0, 255}
        pooled += MaskCounts.of(written, np.asarray(Image.open(masks / f"sample_{index}.png")))
    assert pooled.defect_iou > 0.4


def test_train_resumes_from_the_checkpoint_in_its_out_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint left in --out by an interrupted run is picked up: only the remaining epochs run,
    and the checkpoint is gone once the model is written."""
    images, masks = write_dataset(tmp_path / "train", 2, seed=2)
    out = tmp_path / "model"
    _interrupt_unet(images, masks, out, epochs=3, stop=2)
    argv = ["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(out)]
    assert (
        main(
            [
                *argv,
                "--size",
                "32",
                "--width",
                "4",
                "--depth",
                "2",
                "--device",
                "cpu",
                "--epochs",
                "3",
                "--crops-per-epoch",
                "16",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "epoch   3/3" in printed and "epoch   2/3" not in printed
    assert not (out / "checkpoint.pt").exists()


def test_an_image_without_mask_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and one line naming the image, no traceback."""
    images, masks = write_dataset(tmp_path, 2, seed=3)
    (masks / "sample_0.png").unlink()
    code = main(
        ["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "m")]
    )
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and "sample_0.png has no mask" in error


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threshold", "1.5"], "--threshold must lie in"),
        (["--size", "100"], "must be a multiple of 2**depth"),
    ],
)
def test_bad_training_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """Impossible settings exit 2 with one line before any training."""
    images, masks = write_dataset(tmp_path, 1, seed=4)
    argv = ["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "m")]
    assert main([*argv, *extra]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert message in error


def test_segment_errors_are_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that is not a model, an empty image folder and an undecodable image exit 2."""
    (tmp_path / "empty").mkdir()
    assert (
        main(["segment", "--model", str(tmp_path), "--images", str(tmp_path), "--out", str(tmp_path / "o")])
        == 2
    )
    assert "not a model directory" in capsys.readouterr().err
    assert main(["segment", "--model", str(trained), "--images", str(tmp_path / "empty"), "--out", "x"]) == 2
    assert "holds no images" in capsys.readouterr().err
    (tmp_path / "broken.png").write_bytes(b"not an image")
    save_png(tmp_path / "fine.png", np.zeros((8, 8), dtype=np.uint8))
    assert (
        main(["segment", "--model", str(trained), "--images", str(tmp_path), "--out", str(tmp_path / "o")])
        == 2
    )
    assert "undecodable image" in capsys.readouterr().err


def test_segment_into_an_existing_file_is_a_one_line_error(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --out that is a file is refused before any mask is written, not a FileExistsError."""
    images, _ = write_dataset(tmp_path / "test", 1, seed=5)
    taken = tmp_path / "masks.png"
    taken.write_bytes(b"not a folder")
    assert main(["segment", "--model", str(trained), "--images", str(images), "--out", str(taken)]) == 2
    assert f"{taken}: exists and is not a folder" in one_error_line(capsys, "segment")


def test_a_damaged_checkpoint_is_one_line_saying_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint torch cannot read names the file and the way out, not torch's many-line text."""
    images, masks = write_dataset(tmp_path / "train", 1, seed=6)
    out = tmp_path / "model"
    damaged = damage_checkpoint(out)
    argv = ["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(out), *FAST]
    assert main(argv) == 2
    line = one_error_line(capsys, "train unet")
    assert damaged in line and "delete it to start over or choose another --out" in line


class _Interrupted(Exception):
    pass


def _interrupt_unet(images: Path, masks: Path, out: Path, epochs: int, stop: int) -> None:
    """Leave in `out` the checkpoint of a tiny `epochs`-epoch U-Net run stopped after epoch `stop`."""
    config = UNetTrainConfig(width=4, depth=2, crop=32, epochs=epochs, crops_per_epoch=16, device="cpu")

    def stop_early(report: SegmentationEpoch) -> None:
        if report.epoch == stop:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        train_segmentation_model(
            *load_training_pairs(images, masks), config, Checkpoint.in_folder(out), stop_early
        )


@pytest.mark.parametrize("spelling", ["{images}", "{images}/../images"])
def test_segment_into_the_images_folder_is_refused(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    """--out naming the --images folder (any spelling) would overwrite the images with masks: refused."""
    images, _ = write_dataset(tmp_path / "test", 2, seed=7)
    before = {path.name: path.read_bytes() for path in images.iterdir()}
    out = spelling.format(images=images)
    assert main(["segment", "--model", str(trained), "--images", str(images), "--out", out]) == 2
    assert "is the --images folder: the outputs would overwrite the images" in one_error_line(
        capsys, "segment"
    )
    assert {path.name: path.read_bytes() for path in images.iterdir()} == before


def test_segment_over_a_link_to_an_input_is_refused(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output that is a link to an input image would overwrite it through the link: refused."""
    images, _ = write_dataset(tmp_path / "test", 1, seed=7)
    out = tmp_path / "out"
    out.mkdir()
    (out / "sample_0.png").symlink_to(images / "sample_0.png")
    before = (images / "sample_0.png").read_bytes()
    assert main(["segment", "--model", str(trained), "--images", str(images), "--out", str(out)]) == 2
    line = one_error_line(capsys, "segment")
    assert f"{out / 'sample_0.png'} is the input image {images / 'sample_0.png'}" in line
    assert (images / "sample_0.png").read_bytes() == before


def test_images_sharing_a_base_name_are_refused_before_any_work(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dup.png and dup.jpg would both be written as dup.png (segment) or take masks/dup.png (train):
    one line naming both files, nothing written."""
    images, masks = write_dataset(tmp_path / "test", 1, seed=8)
    (images / "sample_0.png").rename(images / "dup.png")
    (masks / "sample_0.png").rename(masks / "dup.png")
    Image.open(images / "dup.png").save(images / "dup.jpg")
    out = tmp_path / "out"
    assert main(["segment", "--model", str(trained), "--images", str(images), "--out", str(out)]) == 2
    assert "dup.jpg and dup.png in" in one_error_line(capsys, "segment")
    assert not out.exists()
    argv = ["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(out), *FAST]
    assert main(argv) == 2
    assert "dup.jpg and dup.png in" in one_error_line(capsys, "train unet")
    assert not out.exists()


def test_resume_with_another_epoch_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 3-epoch run stopped after epoch 2 is not finished as a 2-epoch model: one line, no model."""
    images, masks = write_dataset(tmp_path / "train", 2, seed=9)
    out = tmp_path / "model"
    _interrupt_unet(images, masks, out, epochs=3, stop=2)
    argv = ["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(out)]
    settings = ["--size", "32", "--width", "4", "--depth", "2", "--crops-per-epoch", "16", "--device", "cpu"]
    assert main([*argv, *settings, "--epochs", "2"]) == 2
    line = one_error_line(capsys, "train unet")
    assert "different training setup (checkpoint: epochs 3; now: epochs 2); delete it to start over" in line
    assert not (out / "card.json").exists()


def test_a_checkpoint_of_another_model_kind_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interrupted `train image-ae --out mix`, then `train unet --out mix`: one line, not KeyError."""
    images, masks = write_dataset(tmp_path / "train", 2, seed=10)
    out = tmp_path / "mix"
    config = ImageTrainConfig(
        scoring=ScoringConfig(size=32), patch=32, patches_per_image=1, epochs=1, device="cpu"
    )
    train_image_ae(load_training_pairs(images, masks)[0], config, checkpoint=Checkpoint.in_folder(out))
    argv = ["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(out), *FAST]
    assert main(argv) == 2
    line = one_error_line(capsys, "train unet")
    assert "was written by a different training setup (it holds another kind of model)" in line


def test_a_missing_cuda_is_a_device_error_before_any_loading(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """models.device cuda without CUDA is one line about the device, not a broken model; training
    says so before reading the images (a broken one here would be reported first otherwise)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    images, masks = write_dataset(tmp_path / "test", 1, seed=11)
    monkeypatch.setenv("MONITOR_MODELS__DEVICE", "cuda")
    argv = ["segment", "--model", str(trained), "--images", str(images), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    assert one_error_line(capsys, "segment").endswith(
        "error: device cuda was asked for but CUDA is not available"
    )
    monkeypatch.delenv("MONITOR_MODELS__DEVICE")
    assert main([*argv, "--device", "cuda"]) == 2  # as an option too, as for `monitor upscale`
    assert one_error_line(capsys, "segment").endswith("CUDA is not available")
    assert (
        main(
            [
                "score",
                "image-ae",
                "--model",
                str(trained),
                "--images",
                str(images),
                "--out",
                "s.csv",
                "--device",
                "cuda",
            ]
        )
        == 2
    )
    assert one_error_line(capsys, "score image-ae").endswith("CUDA is not available")
    (images / "broken.png").write_bytes(b"not an image")
    argv = ["train", "unet", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "m")]
    assert main([*argv, "--device", "cuda"]) == 2
    assert one_error_line(capsys, "train unet").endswith(
        "error: device cuda was asked for but CUDA is not available"
    )

"""`monitor train unet` -> `monitor segment` round trip, resume, and one-line errors (exit 2)."""

from __future__ import annotations

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
from models.images import save_png
from models.unet_training import UNetTrainConfig, load_training_pairs, train_segmentation_model
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
    """A finished training leaves the weights and the card; its checkpoint is removed."""
    assert {path.name for path in trained.iterdir()} == {"card.json", "weights.pt"}


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
    interrupted = UNetTrainConfig(width=4, depth=2, crop=32, epochs=2, crops_per_epoch=16, device="cpu")
    train_segmentation_model(*load_training_pairs(images, masks), interrupted, Checkpoint.in_folder(out))
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

"""`monitor train sr` and `monitor upscale` round trip on a small folder of generated images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cli_helpers import damage_checkpoint, one_error_line
from PIL import Image
from sr_helpers import shapes_image

from models.images import save_png, to_uint8
from monitor.cli.main import main


def _folder(path: Path, sizes: list[tuple[int, int]]) -> Path:
    for index, (height, width) in enumerate(sizes):
        save_png(path / f"tile_{index}.png", shapes_image(index, 64)[:height, :width])
    return path


def _train(images: Path, out: Path) -> int:
    """`monitor train sr` x2 at the smallest settings that train at all (about a second)."""
    return main(
        ["train", "sr", "--images", str(images), "--scale", "2", "--out", str(out), "--device", "cpu"]
        + ["--epochs", "1", "--gan-epochs", "1", "--crops-per-epoch", "16", "--crop", "32"]
    )


def test_train_then_upscale_writes_scaled_pngs_with_the_same_names(tmp_path: Path) -> None:
    """Every input image comes back as <base name>.png, twice as large, and training leaves no checkpoint."""
    images = _folder(tmp_path / "hr", [(64, 64), (48, 56), (64, 40)])
    model = tmp_path / "model"
    assert _train(images, model) == 0
    assert (model / "card.json").is_file() and not (model / "checkpoint.pt").exists()
    low = _folder(tmp_path / "low", [(17, 23), (30, 30)])
    Image.fromarray(to_uint8(shapes_image(9, 21))).save(low / "frame.jpg")
    assert main(["upscale", "--model", str(model), "--images", str(low), "--out", str(tmp_path / "out")]) == 0
    written = {path.name: Image.open(path).size for path in (tmp_path / "out").iterdir()}
    assert written == {"tile_0.png": (46, 34), "tile_1.png": (60, 60), "frame.png": (42, 42)}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "sr", "--images", "{tmp}", "--scale", "3", "--out", "{tmp}/m"], "invalid choice: 3"),
        (
            [
                "train",
                "sr",
                "--images",
                "{tmp}",
                "--scale",
                "2",
                "--out",
                "{tmp}/m",
                "--epochs",
                "0",
                "--gan-epochs",
                "0",
            ],
            "together at least 1",
        ),
        (["train", "sr", "--images", "{tmp}/none", "--scale", "4", "--out", "{tmp}/m"], "not a folder"),
        (["upscale", "--model", "{tmp}", "--images", "{tmp}", "--out", "{tmp}/o"], "not a model directory"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Wrong scale, no epochs, a missing folder or a non-model directory: one error line, exit 2."""
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse rejects choices itself
        code = int(exc.code or 0)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_images_too_small_for_the_crop_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of thumbnails cannot train a 96-pixel crop; the user is told, not shown a traceback."""
    images = _folder(tmp_path / "hr", [(40, 40)])
    assert main(["train", "sr", "--images", str(images), "--scale", "4", "--out", str(tmp_path / "m")]) == 2
    assert "at least 96x96" in capsys.readouterr().err


def test_upscale_into_an_existing_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --out that is a file is refused before any image is upscaled, not a FileExistsError."""
    images = _folder(tmp_path / "hr", [(64, 64), (48, 56), (64, 40)])
    assert _train(images, tmp_path / "model") == 0
    taken = tmp_path / "upscaled.png"
    taken.write_bytes(b"not a folder")
    capsys.readouterr()
    argv = ["upscale", "--model", str(tmp_path / "model"), "--images", str(images), "--out", str(taken)]
    assert main(argv) == 2
    assert f"{taken}: exists and is not a folder" in one_error_line(capsys, "upscale")


def test_a_damaged_checkpoint_is_one_line_saying_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint torch cannot read names the file and the way out instead of a ValueError traceback."""
    images = _folder(tmp_path / "hr", [(64, 64), (48, 56), (64, 40)])
    damaged = damage_checkpoint(tmp_path / "model")
    assert _train(images, tmp_path / "model") == 2
    line = one_error_line(capsys, "train sr")
    assert damaged in line and "delete it to start over or choose another --out" in line


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sr")
    assert _train(_folder(folder / "hr", [(64, 64), (48, 56), (64, 40)]), folder / "model") == 0
    return folder / "model"


def test_upscale_into_the_images_folder_is_refused(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming the --images folder would replace each PNG with its upscaled copy: refused, untouched."""
    images = _folder(tmp_path / "low", [(17, 23), (30, 30)])
    before = {path.name: path.read_bytes() for path in images.iterdir()}
    argv = ["upscale", "--model", str(model), "--images", str(images), "--out", f"{images}/."]
    assert main(argv) == 2
    assert "is the --images folder: the outputs would overwrite the images" in one_error_line(
        capsys, "upscale"
    )
    assert {path.name: path.read_bytes() for path in images.iterdir()} == before


def test_images_sharing_a_base_name_are_refused(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dup.png and dup.jpg would both be written as dup.png: one line naming both, nothing written."""
    images = _folder(tmp_path / "low", [(17, 23)])
    (images / "tile_0.png").rename(images / "dup.png")
    Image.fromarray(to_uint8(shapes_image(9, 21))).save(images / "dup.jpg")
    out = tmp_path / "out"
    assert main(["upscale", "--model", str(model), "--images", str(images), "--out", str(out)]) == 2
    assert "dup.jpg and dup.png in" in one_error_line(capsys, "upscale")
    assert not out.exists()


def test_a_missing_cuda_is_a_device_error_before_any_loading(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--device cuda without CUDA is one line about the device, not "card and weights do not fit
    together"; training says so before reading the images (a broken one would be reported first)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    images = _folder(tmp_path / "low", [(17, 23)])
    argv = ["upscale", "--model", str(model), "--images", str(images), "--out", str(tmp_path / "out")]
    assert main([*argv, "--device", "cuda"]) == 2
    expected = "error: device cuda was asked for but CUDA is not available"
    assert one_error_line(capsys, "upscale").endswith(expected)
    (images / "broken.png").write_bytes(b"not an image")
    argv = ["train", "sr", "--images", str(images), "--scale", "2", "--out", str(tmp_path / "m")]
    assert main([*argv, "--device", "cuda"]) == 2
    assert one_error_line(capsys, "train sr").endswith(expected)

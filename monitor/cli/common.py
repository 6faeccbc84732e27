"""Pieces every command module shares: the shared `train`/`score` groups, checks of `--out` and the
device before any work starts, resuming from a checkpoint, and epoch progress lines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeAlias

from models.checkpoint import Checkpoint
from models.images import check_unique_stems
from models.training import EpochReport, resolve_device
from monitor.cli.main import OneLineParser, UsageError

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def command_group(subparsers: Subparsers, name: str, help_text: str) -> Subparsers:
    """The sub-commands of `monitor <name>`, created by whichever module registers first.

    `train` and `score` are shared by several model kinds (sensor, image-ae, ...), each registered
    from its own module, so each module finds the group instead of adding it twice.
    """
    parser = subparsers.choices.get(name)
    if parser is None:
        parser = subparsers.add_parser(name, help=help_text)
        return parser.add_subparsers(dest="kind", required=True, parser_class=OneLineParser)
    return next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))


def output_folder(path: Path) -> Path:
    """`path` as a folder to write into (created later); a file standing there is refused up front,
    before minutes of training or scoring end in an error."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: exists and is not a folder; choose another --out")
    return path


def png_outputs(images: Path, paths: list[Path], out: Path) -> list[Path]:
    """`<out>/<base name>.png` for each image of `paths` (listed from the folder `images`), refused
    up front when two images share a base name (one output would overwrite the other) or when an
    output would overwrite an input image: `--out` is the `--images` folder, or a file there is
    (a link to) an input."""
    output_folder(out)
    try:
        check_unique_stems(paths)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if out.is_dir() and out.samefile(images):
        raise UsageError(
            f"--out {out} is the --images folder: the outputs would overwrite the images; choose another --out"
        )
    inputs = {_identity(path): path for path in paths}
    outputs = [out / f"{path.stem}.png" for path in paths]
    for output in outputs:
        source = inputs.get(_identity(output)) if output.exists() else None
        if source is not None:
            raise UsageError(
                f"{output} is the input image {source}: it would be overwritten; choose another --out"
            )
    return outputs


def _identity(path: Path) -> tuple[int, int]:
    """The file a path leads to (links followed), as the file system tells files apart."""
    status = path.stat()
    return status.st_dev, status.st_ino


def usable_device(name: str) -> str:
    """`name` (auto, cpu, cuda), checked before any model or image is loaded: a missing CUDA is one
    line about the device, neither a broken model nor an error after minutes of loading."""
    try:
        resolve_device(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return name


def output_file(path: Path) -> Path:
    """`path` as a file to write; a folder standing there is refused up front, naming what to give."""
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; --out takes a file name, e.g. {path / 'scores.csv'}")
    return path


def resume_checkpoint(out: Path) -> Checkpoint:
    """The checkpoint of the model folder `out`, read before any data is loaded: an interrupted run
    is announced and resumed, a damaged file is one line saying what to do."""
    checkpoint = Checkpoint.in_folder(output_folder(out))
    try:
        resumed = checkpoint.load()
    except ValueError as exc:
        raise UsageError(
            f"{checkpoint.path}: damaged checkpoint, cannot resume from it; "
            "delete it to start over or choose another --out"
        ) from exc
    if resumed is not None:
        print(f"resuming from {checkpoint.path} after epoch {resumed[0]}")
    return checkpoint


def print_epoch(report: EpochReport) -> None:
    """One progress line per epoch; `*` marks the best validation loss so far."""
    marker = " *" if report.best else ""
    print(
        f"epoch {report.epoch:3d}/{report.epochs}  train {report.train_loss:.5f}  "
        f"val {report.val_loss:.5f}  {report.seconds:.2f}s{marker}",
        flush=True,
    )

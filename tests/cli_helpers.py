"""Shared checks of the CLI's error contract (one line `monitor <command>: error: ...`, exit 2) and
the inputs that used to break it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
import torch

from models.checkpoint import Checkpoint


def damage_checkpoint(out: Path) -> str:
    """Leave in model folder `out` a checkpoint torch refuses to read, with its many-line message (it
    holds an object outside the weights-only allow-list, as a foreign or tampered file can); its path."""
    checkpoint = Checkpoint.in_folder(out)
    checkpoint.path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 1, "states": {"extra": {"where": PurePosixPath("elsewhere")}}}, checkpoint.path)
    return str(checkpoint.path)


def one_error_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    """The single stderr line of a failed command, checked to name the full sub-command path."""
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"monitor {command}: error: "), lines[0]
    return lines[0]

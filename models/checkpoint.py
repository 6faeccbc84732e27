"""Resumable training: one checkpoint file per output folder, written after every epoch.

Only state dicts and plain numbers are stored and they are read back with
`torch.load(weights_only=True)`, so a checkpoint can never run code. The file is written to a
temporary name and renamed, so an interrupted save leaves the previous epoch's checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FILE = "checkpoint.pt"


class Checkpoint:
    """`<out>/checkpoint.pt`: the last finished epoch and the states needed to continue after it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # The states read last: a command checks the file before loading its data, then the
        # trainer resumes from it, and one read serves both. Any save or removal forgets it.
        self._read: tuple[int, dict[str, dict[str, Any]]] | None = None

    @classmethod
    def in_folder(cls, directory: Path) -> Checkpoint:
        return cls(directory / CHECKPOINT_FILE)

    def save(self, epoch: int, states: dict[str, dict[str, Any]]) -> None:
        """Record that `epoch` has finished, with module/optimiser state dicts and plain numbers."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        torch.save({"epoch": int(epoch), "states": states}, partial)
        os.replace(partial, self.path)
        self._read = None

    def load(self) -> tuple[int, dict[str, dict[str, Any]]] | None:
        """The last finished epoch and its states, or None when there is no checkpoint."""
        if not self.path.is_file():
            return None
        if self._read is not None:
            return self._read
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
            self._read = int(payload["epoch"]), dict(payload["states"])
            return self._read
        except Exception as exc:  # a damaged file raises many types from torch.load; all mean the same
            # torch's own text runs over many lines and suggests loading with weights_only=False:
            # keep it on the chained exception, out of the message shown to users
            raise ValueError(
                f"{self.path}: damaged or unreadable checkpoint; delete it to start over"
            ) from exc

    def other_setup(self, difference: str) -> ValueError:
        """The one-line error for a checkpoint this run cannot continue: written with other settings,
        or by another kind of model left in the same folder."""
        return ValueError(
            f"{self.path} was written by a different training setup ({difference}); delete it to start over"
        )

    def remove(self) -> None:
        """Delete the checkpoint once training has completed and the model directory is written."""
        self.path.unlink(missing_ok=True)
        self._read = None


def setup_difference(written: object, wanted: dict[str, Any]) -> str:
    """What differs between the settings a checkpoint records and this run's, e.g.
    `checkpoint: epochs 2; now: epochs 3`; a checkpoint without such settings is another model's."""
    if not isinstance(written, dict):
        return "it holds another kind of model"
    then, now = _flat(written), _flat(wanted)
    names = [name for name in {**then, **now} if then.get(name) != now.get(name)]
    before = ", ".join(f"{name} {then.get(name, 'unset')}" for name in names)
    after = ", ".join(f"{name} {now.get(name, 'unset')}" for name in names)
    return f"checkpoint: {before}; now: {after}"


def _flat(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level of dotted names (`architecture.widths`)."""
    flat: dict[str, Any] = {}
    for name, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def state_mismatch(exc: BaseException) -> str:
    """Why the states of a checkpoint did not load, in one line: a missing entry by name, otherwise
    the headline of the error (load_state_dict lists every mismatched tensor on lines of its own)."""
    if isinstance(exc, KeyError):
        return f"it holds no {exc.args[0]!r} state" if exc.args else "a state is missing"
    return next(iter(str(exc).splitlines()), "").rstrip(":") or type(exc).__name__

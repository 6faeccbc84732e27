"""Resumable-training checkpoints: state dicts in, the same state dicts out."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cli_helpers import damage_checkpoint

from models.checkpoint import Checkpoint, setup_difference, state_mismatch


def test_load_without_checkpoint_is_none(tmp_path: Path) -> None:
    """A fresh output folder has nothing to resume."""
    assert Checkpoint.in_folder(tmp_path).load() is None


def test_save_load_round_trip(tmp_path: Path) -> None:
    """Module and optimiser states and plain numbers come back as saved, with the epoch."""
    module = torch.nn.Linear(3, 2)
    optimiser = torch.optim.Adam(module.parameters())
    module(torch.ones(1, 3)).sum().backward()
    optimiser.step()
    checkpoint = Checkpoint.in_folder(tmp_path / "out")
    checkpoint.save(
        4, {"module": module.state_dict(), "optimiser": optimiser.state_dict(), "extra": {"best": 0.5}}
    )
    epoch, states = checkpoint.load() or (0, {})
    assert epoch == 4 and states["extra"] == {"best": 0.5}
    assert torch.equal(states["module"]["weight"], module.weight.detach())
    torch.optim.Adam(module.parameters()).load_state_dict(states["optimiser"])


def test_remove_then_nothing_to_resume(tmp_path: Path) -> None:
    """After training completes the checkpoint is removed."""
    checkpoint = Checkpoint.in_folder(tmp_path)
    checkpoint.save(1, {"extra": {}})
    checkpoint.remove()
    assert checkpoint.load() is None


def test_corrupt_checkpoint_says_how_to_recover(tmp_path: Path) -> None:
    """A truncated file is a ValueError telling the user to delete it."""
    checkpoint = Checkpoint.in_folder(tmp_path)
    checkpoint.path.write_bytes(b"truncated")
    with pytest.raises(ValueError, match="delete it to start over"):
        checkpoint.load()


def test_a_checkpoint_torch_refuses_is_one_line_without_torch_advice(tmp_path: Path) -> None:
    """torch's many-line refusal (which suggests weights_only=False) stays on the cause, out of the message."""
    damage_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="damaged or unreadable checkpoint; delete it") as raised:
        Checkpoint.in_folder(tmp_path).load()
    assert "\n" not in str(raised.value) and "weights_only" not in str(raised.value)


def test_setup_difference_names_only_what_changed() -> None:
    """Nested settings are compared by dotted name; a checkpoint without settings is another model's."""
    written = {"epochs": 2, "width": 8, "architecture": {"widths": [8, 16], "latent": 4}}
    wanted = {"epochs": 3, "width": 8, "architecture": {"widths": [8, 8], "latent": 4}}
    assert setup_difference(written, wanted) == (
        "checkpoint: epochs 2, architecture.widths [8, 16]; now: epochs 3, architecture.widths [8, 8]"
    )
    assert setup_difference(None, wanted) == "it holds another kind of model"


def test_a_state_that_does_not_load_is_one_line() -> None:
    """A missing state is named; load_state_dict's list of tensors is cut to its headline."""
    assert state_mismatch(KeyError("optimiser")) == "it holds no 'optimiser' state"
    many = RuntimeError("Error(s) in loading state_dict for UNet:\n\tsize mismatch for head.weight")
    assert state_mismatch(many) == "Error(s) in loading state_dict for UNet"


def test_a_checkpoint_is_read_once_until_it_is_saved_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's early check and the trainer's resume share one read; a save forgets it."""
    checkpoint = Checkpoint.in_folder(tmp_path)
    checkpoint.save(1, {"model": {"w": torch.zeros(2)}})
    reads: list[Path] = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda path, **kw: reads.append(path) or load(path, **kw))
    assert checkpoint.load() is not None and checkpoint.load() is not None
    assert len(reads) == 1
    checkpoint.save(2, {"model": {"w": torch.ones(2)}})
    resumed = checkpoint.load()
    assert resumed is not None and resumed[0] == 2 and len(reads) == 2

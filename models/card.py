"""A model directory: weights (`weights.pt`, a plain state_dict), named numpy arrays (`<name>.npy`)
and `card.json` describing both, with the sha256 of every file.

Why this shape: `torch.load(weights_only=True)` and `np.load(allow_pickle=False)` never execute
code from the file, and the hashes catch a weights file copied from another version or truncated
on the way, before it scores anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

CARD_FILE = "card.json"
WEIGHTS_FILE = "weights.pt"


class ModelCardError(ValueError):
    """A model directory that cannot be used as it is; the message says which file and why."""


def check_version(directory: Path, weights_version: str, card: dict[str, Any]) -> None:
    """Refuse a directory whose weights are not the version its card names (a swapped file)."""
    if weights_version != card.get("version"):
        raise ModelCardError(
            f"{directory}: weights are version {weights_version}, card says {card.get('version')}"
        )


@dataclass(slots=True)
class ModelFiles:
    """What a model directory holds once its hashes have been checked."""

    card: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model_dir(directory: Path, files: ModelFiles) -> dict[str, Any]:
    """Write weights, arrays and the card (with their hashes) into `directory`; return the card."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(files.state_dict, directory / WEIGHTS_FILE)
    hashes = {WEIGHTS_FILE: sha256_file(directory / WEIGHTS_FILE)}
    for name, array in files.arrays.items():
        path = directory / f"{name}.npy"
        np.save(path, array, allow_pickle=False)
        hashes[path.name] = sha256_file(path)
    card = {**files.card, "files": hashes, "weights_sha256": hashes[WEIGHTS_FILE]}
    (directory / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


def load_model_dir(directory: Path, kind: str) -> ModelFiles:
    """Read a model directory of the given kind, checking every file against the card's sha256."""
    card_path = directory / CARD_FILE
    if not card_path.is_file():
        raise ModelCardError(f"{directory}: not a model directory (no {CARD_FILE})")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelCardError(f"{card_path}: not valid JSON: {exc}") from exc
    if card.get("kind") != kind:
        raise ModelCardError(f"{directory}: holds a {card.get('kind')!r} model, not {kind!r}")
    hashes: dict[str, str] = card.get("files", {})
    if WEIGHTS_FILE not in hashes:
        raise ModelCardError(f"{card_path}: lists no sha256 for {WEIGHTS_FILE}")
    for name, expected in hashes.items():
        path = directory / name
        if not path.is_file():
            raise ModelCardError(f"{path}: missing (listed in {CARD_FILE})")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelCardError(
                f"{path}: sha256 {actual[:12]}… does not match the card's {expected[:12]}… "
                "(file changed or copied from another model version)"
            )
    state_dict = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    arrays = {
        Path(name).stem: np.load(directory / name, allow_pickle=False)
        for name in hashes
        if name.endswith(".npy")
    }
    return ModelFiles(card=card, state_dict=state_dict, arrays=arrays)

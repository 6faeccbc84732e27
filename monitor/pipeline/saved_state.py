"""What the workers keep across a clean restart, one JSON file each in `worker.state_dir`.

Written at a clean stop (after the drain), read once at the next start and deleted then, so a
file never outlives the run that could use it; an unreadable file is a warning, not a failed start.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def save_state(path: Path, state: dict[str, Any]) -> Path:
    """Write `state` to `path` atomically (a crash mid-write leaves the previous file or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)
    return path


def take_state(path: Path) -> dict[str, Any]:
    """The state saved at `path` (empty when there is none or it is unreadable), deleting the file."""
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning(
            "saved state unreadable; starting without it", extra={"path": str(path), "error": str(exc)}
        )
        return {}
    path.unlink()
    return state if isinstance(state, dict) else {}

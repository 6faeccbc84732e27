"""Plumbing shared by the evaluation scripts: run the user-facing CLI quietly, stage image folders,
and write the script's own `## ` section of docs/evaluation.md."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from monitor.bench.report import write_doc_section
from monitor.cli.main import main as monitor_main

DOC = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"


def run_cli(argv: list[str]) -> None:
    """Run `monitor …` in-process, keeping its progress lines out of the report."""
    with contextlib.redirect_stdout(io.StringIO()):
        code = monitor_main(argv)
    if code != 0:
        raise RuntimeError(f"monitor {' '.join(argv)} exited with {code}")


def link_all(paths: list[Path], folder: Path) -> Path:
    """A folder of symbolic links to `paths`: a split handed to the CLI without copying the data."""
    folder.mkdir(parents=True)
    for path in paths:
        (folder / path.name).symlink_to(path)
    return folder


def write_section(heading: str, text: str, doc: Path = DOC) -> None:
    write_doc_section(doc, heading, text, title="# Evaluation")

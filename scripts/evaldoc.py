"""docs/evaluation.md holds one `## ` section per evaluation script; each script replaces only its own."""

from __future__ import annotations

from pathlib import Path

from monitor.bench.report import write_doc_section

DOC = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"


def write_section(heading: str, text: str, doc: Path = DOC) -> None:
    write_doc_section(doc, heading, text, title="# Evaluation")

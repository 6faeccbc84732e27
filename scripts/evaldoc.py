"""docs/evaluation.md holds one `## ` section per evaluation script; each script replaces only its own."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"


def write_section(heading: str, text: str, doc: Path = DOC) -> None:
    """Replace the section that starts with `heading` (up to the next `## `), or append it."""
    content = doc.read_text() if doc.is_file() else ""
    start = content.find(f"{heading}\n")
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = content.find("\n## ", start + len(heading))
        content = content[:start] + text.rstrip("\n") + ("\n" + content[end:] if end >= 0 else "\n")
    doc.write_text(content)

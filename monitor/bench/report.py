"""Report documents (docs/benchmarks.md, docs/evaluation.md) hold one `## ` section per tool; each
tool replaces only its own section, so re-running one benchmark keeps the others' latest tables."""

from __future__ import annotations

from pathlib import Path


def write_doc_section(path: Path, heading: str, section: str, title: str) -> None:
    """Replace the section starting with `heading` (up to the next `## `), or append it.

    A missing file starts with `title`.
    """
    content = path.read_text() if path.is_file() else f"{title}\n"
    start = content.find(f"{heading}\n")
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = content.find("\n## ", start + len(heading))
        content = content[:start] + section.rstrip("\n") + ("\n" + content[end:] if end >= 0 else "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)

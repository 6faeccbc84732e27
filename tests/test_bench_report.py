"""Report documents: each tool rewrites only its own `## ` section."""

from __future__ import annotations

from pathlib import Path

from monitor.bench.report import write_doc_section


def test_section_is_replaced_and_the_others_kept(tmp_path: Path) -> None:
    """Re-running one benchmark replaces its table and leaves the sections before and after it."""
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Sensor\n\nold sensor\n\n## Vision\n\nkept vision\n")
    write_doc_section(doc, "## Sensor", "## Sensor\n\nnew sensor\n", title="# Benchmarks")
    assert doc.read_text() == "# Benchmarks\n\n## Sensor\n\nnew sensor\n\n## Vision\n\nkept vision\n"


def test_missing_section_is_appended_and_missing_file_gets_its_title(tmp_path: Path) -> None:
    """A first run creates the document; a new tool's section goes at the end."""
    doc = tmp_path / "docs" / "evaluation.md"
    write_doc_section(doc, "## A", "## A\n\na\n", title="# Evaluation")
    write_doc_section(doc, "## B", "## B\n\nb\n", title="# Evaluation")
    assert doc.read_text() == "# Evaluation\n\n## A\n\na\n\n## B\n\nb\n"


def test_heading_prefix_of_another_heading_is_not_confused(tmp_path: Path) -> None:
    """`## Vision` does not match `## Vision extras`: headings are matched as whole lines."""
    doc = tmp_path / "b.md"
    doc.write_text("# B\n\n## Vision extras\n\nx\n")
    write_doc_section(doc, "## Vision", "## Vision\n\nv\n", title="# B")
    assert doc.read_text() == "# B\n\n## Vision extras\n\nx\n\n## Vision\n\nv\n"

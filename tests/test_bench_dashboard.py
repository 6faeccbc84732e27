"""scripts/bench_dashboard.py on a small load: it fills a schema, times the page and writes its section."""

from __future__ import annotations

from pathlib import Path

import bench_dashboard
import sqlalchemy as sa


def bench_schemas(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_dashboard_%'")
        )
        found = set(names.scalars())
    engine.dispose()
    return found


def test_small_run_writes_its_section_and_drops_its_schema(postgres_url: str, tmp_path: Path) -> None:
    """The table has both page rows and the plan walks an alerts index; no schema is left."""
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    base = (
        sa.engine.make_url(postgres_url)
        .difference_update_query(["options"])
        .render_as_string(hide_password=False)
    )

    before = bench_schemas(base)

    code = bench_dashboard.main(
        ["--url", base, "--alerts", "300", "--scores", "1900", "--runs", "2", "--out", str(doc)]
    )

    text = doc.read_text()
    assert code == 0
    assert "## Other\n\nkept" in text
    assert "| alerts page, default filters | 2 |" in text
    assert "Index Scan Backward using ix_alerts_" in text
    assert bench_schemas(base) == before

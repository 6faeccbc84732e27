"""Retention benchmark: the hourly search for old inspection artifacts, with and without the
partial index of the rows that still name files (migration 0004).

    python scripts/bench_retention.py [--url URL] [--rows N] [--with-files N] [--runs N]

Into a fresh database (SQLite in a temporary folder by default; with --url a PostgreSQL schema
that is dropped afterwards): `monitor db upgrade`, N inspections of one camera spread over 60
days, the newest --with-files of them naming files, as retention leaves a table whose older
artifacts are gone; ANALYZE. Then retention's first chunk query (monitor/store/retention.py), with
a cutoff that makes a tenth of the files due, is timed --runs times through the index, and again
after dropping it (the (camera, ts) index and the primary key are all it has then, as before the
migration).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from monitor.store import migrate
from monitor.store.db import create_engine_for
from monitor.store.tables import Asset, Inspection

CHUNK = 5_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--with-files", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            schema = f"bench_retention_{uuid.uuid4().hex[:8]}"
            admin = create_engine_for(args.url)
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            url = sa.make_url(args.url).update_query_dict({"options": f"-csearch_path={schema}"})
            url_text = url.render_as_string(hide_password=False)
        else:
            url_text = f"sqlite:///{Path(tmp) / 'bench.db'}"
        try:
            run(url_text, args.rows, args.with_files, args.runs)
        finally:
            if args.url:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                admin.dispose()


def run(url: str, rows: int, with_files: int, runs: int) -> None:
    migrate.upgrade(url)
    engine = create_engine_for(url)
    now = datetime.now(UTC)
    start = now - timedelta(days=60)
    step = timedelta(days=60) / rows
    print(f"{engine.dialect.name}: inserting {rows:,} inspections ({with_files} with files) ...", flush=True)
    with engine.begin() as conn:
        conn.execute(sa.insert(Asset).values(name="cam1", kind="camera", channels=[], created_at=start))
        for first in range(0, rows, 100_000):
            conn.execute(
                sa.insert(Inspection),
                [
                    {
                        "camera": "cam1",
                        "ts": start + i * step,
                        "frame_key": f"f{i}",
                        "score": 0.1,
                        "threshold": 0.5,
                        "anomaly": False,
                        "image_path": f"/artifacts/cam1/f{i}_image.png" if i >= rows - with_files else None,
                    }
                    for i in range(first, min(first + 100_000, rows))
                ],
            )
        conn.exec_driver_sql("ANALYZE")
    paths = [Inspection.image_path, Inspection.heatmap_path, Inspection.mask_path]
    # The cutoff falls inside the rows with files, so a tenth of them are due, as when retention
    # runs an hour after the last: the files older than that are gone already.
    cutoff = start + (rows - with_files + with_files // 10) * step
    expired = sa.and_(sa.or_(*(column.is_not(None) for column in paths)), Inspection.ts < cutoff)
    query = (
        sa.select(Inspection.id, Inspection.ts, *paths).where(expired).order_by(Inspection.ts, Inspection.id)
    )
    query = query.limit(CHUNK)
    timings = {}
    with engine.connect() as conn:
        for label in ("partial index (now)", "without it (before)"):
            if label.startswith("without"):
                conn.exec_driver_sql("DROP INDEX ix_inspections_with_files_ts")
                conn.commit()
            found = len(conn.execute(query).all())
            best = min(_timed(conn, query) for _ in range(runs))
            timings[label] = (found, best)
    engine.dispose()
    print(f"| search for old artifacts, {rows:,} inspections | rows found | best of {runs}, ms |")
    print("| --- | --- | --- |")
    for label, (found, seconds) in timings.items():
        print(f"| {engine.dialect.name}, {label} | {found} | {seconds * 1000:.1f} |")


def _timed(conn: sa.Connection, query: sa.Select[*tuple[Any, ...]]) -> float:
    started = time.perf_counter()
    conn.execute(query).all()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()

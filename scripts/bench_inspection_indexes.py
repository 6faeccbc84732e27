"""The two partial indexes of `inspections`, timed with and without them.

    python scripts/bench_inspection_indexes.py [--url URL] [--rows N] [--with-files N] [--runs N]

Into a fresh database (SQLite in a temporary folder by default; with --url a PostgreSQL schema
that is dropped afterwards): `monitor db upgrade`, N inspections of two cameras spread over 60
days, the newest --with-files of them naming files (as retention leaves a table whose older
artifacts are gone) and one in 20,000 anomalous; ANALYZE. Then, --runs times each:
- retention's first chunk query for old artifacts (monitor/store/retention.py), with a cutoff that
  makes a tenth of the files due, through `ix_inspections_with_files_ts` (migration 0004);
- the Camera page's latest 50 anomalous frames (dashboard/queries/inspections.py `latest`),
  through `ix_inspections_anomalous_camera_ts` (migration 0006);
and again after dropping that index (as before its migration).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from dashboard.queries.inspections import latest
from monitor.store import migrate
from monitor.store.db import create_engine_for
from monitor.store.tables import Asset, Inspection

CHUNK = 5_000
CAMERAS = ("cam1", "cam2")
ANOMALY_EVERY = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--with-files", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            schema = f"bench_indexes_{uuid.uuid4().hex[:8]}"
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
        for camera in CAMERAS:
            conn.execute(sa.insert(Asset).values(name=camera, kind="camera", channels=[], created_at=start))
        for first in range(0, rows, 100_000):
            conn.execute(
                sa.insert(Inspection),
                [
                    {
                        "camera": CAMERAS[i % 2],
                        "ts": start + i * step,
                        "frame_key": f"f{i}",
                        "score": 0.1,
                        "threshold": 0.5,
                        "anomaly": i % ANOMALY_EVERY == 0,
                        "image_path": f"/artifacts/f{i}_image.png" if i >= rows - with_files else None,
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
    artifacts = (
        sa.select(Inspection.id, Inspection.ts, *paths).where(expired).order_by(Inspection.ts, Inspection.id)
    )
    cases: list[tuple[str, str, Callable[[sa.Connection], int]]] = [
        (
            "retention: old artifacts (migration 0004)",
            "ix_inspections_with_files_ts",
            lambda conn: len(conn.execute(artifacts.limit(CHUNK)).all()),
        ),
        (
            "Camera page: latest 50 anomalous (migration 0006)",
            "ix_inspections_anomalous_camera_ts",
            lambda conn: len(latest(conn, CAMERAS[0], 50, anomalous=True)),
        ),
    ]
    print(f"| query, {rows:,} inspections | rows found | partial index (now) | without it (before) |")
    print("| --- | --- | --- | --- |")
    with engine.connect() as conn:
        for name, index, query in cases:
            found = query(conn)
            now_ms = min(_timed(conn, query) for _ in range(runs)) * 1000
            conn.exec_driver_sql(f"DROP INDEX {index}")
            conn.commit()
            before_ms = min(_timed(conn, query) for _ in range(runs)) * 1000
            print(f"| {engine.dialect.name}: {name} | {found} | {now_ms:.1f} ms | {before_ms:.1f} ms |")
    engine.dispose()


def _timed(conn: sa.Connection, query: Callable[[sa.Connection], int]) -> float:
    started = time.perf_counter()
    query(conn)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()

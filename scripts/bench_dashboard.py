"""Dashboard benchmark: the alerts page on 100,000 alerts and 10 million score rows in PostgreSQL.

    python scripts/bench_dashboard.py [--url URL] [--alerts N] [--scores N] [--assets N] [--runs N]
                                      [--out docs/benchmarks.md]

Into a fresh schema (dropped afterwards): `monitor db upgrade`, then COPY of assets, alerts (a year
of them; the last week's mostly open or acknowledged, older ones almost all resolved), their audit
trail and outbox rows, and the scores (evenly spaced per sensor asset, up to now); ANALYZE. Then the
alerts page is run through Streamlit's AppTest as a logged-in operator `--runs` times (the server
side of a page load: the script, its queries and the serialised page; not the browser's drawing),
with its default filters and with one alert's details open, and the queries behind it are timed
alone. Target: the page in under a second.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import numpy as np
import sqlalchemy as sa
import yaml

from monitor.bench.report import write_doc_section
from monitor.bench.sensor import hardware
from monitor.store import migrate
from monitor.store.db import create_engine_for

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Dashboard: alerts page (`scripts/bench_dashboard.py`)"
TARGET_S = 1.0
DEFAULT_URL = os.environ.get("MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCORE_STEP = timedelta(seconds=30)
CAMERAS = 10  # of the assets; they get alerts but no score rows


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A URL whose connections live in a new schema, dropped on the way out."""
    base = sa.engine.make_url(url)
    schema = f"bench_dashboard_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def copy_into(
    engine: sa.Engine, table: str, columns: list[str], items: Iterable[tuple[Any, ...] | str]
) -> None:
    """COPY into a table through psycopg: tuples row by row, strings as pre-formatted text lines
    (tab-separated; the fast path for millions of rows)."""
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        with driver.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for item in items:
                if isinstance(item, str):
                    copy.write(item)
                else:
                    copy.write_row(item)
        raw.commit()
    finally:
        raw.close()


def load(
    engine: sa.Engine, n_assets: int, n_alerts: int, n_scores: int, now: datetime, seed: int = 0
) -> dict[str, float]:
    """Fill the schema; seconds per table."""
    rng = np.random.default_rng(seed)
    seconds: dict[str, float] = {}
    sensors = [f"pump-{i:03d}" for i in range(n_assets - CAMERAS)]
    cameras = [f"cam-{i:02d}" for i in range(CAMERAS)]
    assets = sensors + cameras

    began = time.perf_counter()
    copy_into(
        engine,
        "assets",
        ["name", "site", "kind", "channels", "created_at"],
        [
            (
                a,
                "plant",
                "camera" if a.startswith("cam") else "sensor",
                '["flow", "pressure", "vibration"]',
                now - timedelta(days=400),
            )
            for a in assets
        ],
    )

    # Alerts: a year, newest week mostly unresolved, the rest almost all resolved.
    opened = np.sort(now.timestamp() - rng.uniform(0, 365 * 86400, n_alerts))
    recent = opened > now.timestamp() - 7 * 86400
    draw = rng.uniform(size=n_alerts)
    states = np.where(
        recent,
        np.select([draw < 0.3, draw < 0.5], ["open", "acknowledged"], "resolved"),
        np.select([draw < 0.0025, draw < 0.005], ["open", "acknowledged"], "resolved"),
    )
    severities = rng.choice(["warning", "major", "critical"], size=n_alerts, p=[0.6, 0.3, 0.1])
    owners = rng.integers(0, len(assets), n_alerts)
    alerts: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    for i in range(n_alerts):
        at = datetime.fromtimestamp(float(opened[i]), UTC)
        asset, state, severity = assets[owners[i]], str(states[i]), str(severities[i])
        alert_id = f"{asset}:score:{i}"
        acked = (
            at + timedelta(minutes=20) if state == "acknowledged" or (state == "resolved" and i % 2) else None
        )
        resolved = at + timedelta(hours=2) if state == "resolved" else None
        score = 1.0 + float(draw[i]) * 3
        alerts.append(
            (alert_id, asset, "score", state, severity, score, score * 1.2, 1.0,
             '[{"name": "vibration", "value": 0.8}, {"name": "flow", "value": 0.3}]',
             at, resolved or acked or at, resolved, acked, "ann" if acked else None,
             "checked on site" if acked else None, "ann" if resolved else None, False)
        )  # fmt: skip
        events.append((alert_id, "opened", "monitor", None, at))
        if acked:
            events.append((alert_id, "acknowledged", "ann", "checked on site", acked))
        if resolved:
            events.append((alert_id, "resolved", "ann", None, resolved))
        for channel, target in (("mqtt", f"plant/plant/{asset}/alerts"), ("webhook", "maintenance")):
            outbox.append((alert_id, channel, target, "pumps", "{}", "delivered", 1, at, at, at))
    seconds["assets"] = time.perf_counter() - began

    began = time.perf_counter()
    copy_into(
        engine,
        "alerts",
        ["id", "asset", "condition", "state", "severity", "score", "peak_score", "threshold", "top_channels",
         "opened_at", "updated_at", "resolved_at", "acknowledged_at", "acknowledged_by", "ack_comment",
         "resolved_by", "in_maintenance"],
        alerts,
    )  # fmt: skip
    seconds["alerts"] = time.perf_counter() - began
    began = time.perf_counter()
    copy_into(engine, "alert_events", ["alert_id", "action", "actor", "comment", "at"], events)
    seconds["alert_events"] = time.perf_counter() - began
    began = time.perf_counter()
    copy_into(
        engine,
        "outbox",
        [
            "alert_id",
            "channel",
            "target",
            "route",
            "payload",
            "state",
            "attempts",
            "created_at",
            "next_attempt_at",
            "delivered_at",
        ],
        outbox,
    )
    seconds["outbox"] = time.perf_counter() - began

    began = time.perf_counter()
    per_asset = n_scores // len(sensors)
    first = now - SCORE_STEP * per_asset
    stamps = [(first + SCORE_STEP * k).isoformat() for k in range(1, per_asset + 1)]
    pool = rng.gamma(4.0, 0.15, 4096)
    values = [(f"{v:.4f}", "t" if v > 1.0 else "f") for v in pool]
    contributions = '{"flow": 0.21, "pressure": 0.12, "vibration": 0.27}'

    def chunks() -> Iterator[str]:
        for a, asset in enumerate(sensors):
            buffer = io.StringIO()
            for k, ts in enumerate(stamps):
                score, anomaly = values[(k * 7 + a) % len(values)]
                buffer.write(f"{asset}\t{ts}\t{score}\t1.0\t{anomaly}\tv1\t{contributions}\n")
            yield buffer.getvalue()

    copy_into(
        engine,
        "scores",
        ["asset", "ts", "score", "threshold", "anomaly", "model_version", "contributions"],
        chunks(),
    )
    seconds["scores"] = time.perf_counter() - began
    began = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    seconds["vacuum analyze"] = time.perf_counter() - began
    return seconds


def timed(call: Callable[[], Any], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return times


def query_times(
    engine: sa.Engine, now: datetime, runs: int, page_rows: int, alert_id: str
) -> dict[str, list[float]]:
    """The page's reads alone, for several filters (seconds per call)."""
    from dashboard.queries import alerts as q
    from dashboard.queries import overview
    from dashboard.queries.assets import asset_names

    week = q.AlertFilter(since=now - timedelta(days=7), until=now)
    year = q.AlertFilter(
        since=now - timedelta(days=365), until=now, states=("open", "acknowledged", "resolved")
    )
    cases: dict[str, Callable[[sa.Connection], Any]] = {
        "list: open + acknowledged, 7 d (default)": lambda c: q.list_alerts(c, week, page_rows),
        "list: resolved, 30 d": lambda c: q.list_alerts(
            c, q.AlertFilter(since=now - timedelta(days=30), until=now, states=("resolved",)), page_rows
        ),
        "list: every state, 1 y": lambda c: q.list_alerts(c, year, page_rows),
        "list: every state, 1 y, critical": lambda c: q.list_alerts(
            c, q.AlertFilter(year.since, year.until, year.states, severities=("critical",)), page_rows
        ),
        "list: every state, 1 y, one asset": lambda c: q.list_alerts(
            c, q.AlertFilter(year.since, year.until, year.states, asset="pump-007"), page_rows
        ),
        "details: alert + audit trail + outbox": lambda c: q.alert_details(c, alert_id, page_rows),
        "asset names (filter box)": lambda c: asset_names(c, None, page_rows),
        "overview tiles (latest score of 190 assets)": lambda c: overview.tiles(c, now, page_rows),
    }
    result = {}
    with engine.connect() as conn:
        for name, query in cases.items():
            result[name] = timed(lambda query=query: query(conn), runs)  # type: ignore[misc]
    return result


def list_plan(engine: sa.Engine, now: datetime, page_rows: int) -> list[str]:
    """The indexes PostgreSQL uses for the default list (EXPLAIN), to show it walks one."""
    from dashboard.queries import alerts as q

    query = q.list_query(q.AlertFilter(since=now - timedelta(days=7), until=now), page_rows)
    compiled = query.compile(dialect=engine.dialect)
    with engine.connect() as conn:
        plan = [
            str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.construct_params())
        ]
    return [line.strip(" ->") for line in plan if " using " in line]


def page_times(config: Path, runs: int, alert_id: str | None) -> list[float]:
    """Seconds per run of the alerts page through app.py, as a logged-in operator."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import context
    from dashboard.auth import SESSION_KEY, User

    previous = os.environ.get(context.CONFIG_ENV)
    os.environ[context.CONFIG_ENV] = str(config)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
        at.session_state[SESSION_KEY] = User("bench", "operator")
        at.run()
        times = []
        for _ in range(runs):
            at.switch_page("views/alerts.py")
            at.query_params.clear()
            if alert_id is not None:
                at.query_params["alert"] = alert_id
            began = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - began)
            if at.exception or not len(at.dataframe[0].value):
                raise RuntimeError(f"the alerts page failed: {[e.value for e in at.exception]}")
            if alert_id is not None and not at.button:
                raise RuntimeError("the alert's details (with its action buttons) did not show")
        context.engine().dispose()
    finally:
        st.cache_resource.clear()
        if previous is None:
            os.environ.pop(context.CONFIG_ENV, None)
        else:
            os.environ[context.CONFIG_ENV] = previous
    return times


def p95(times: list[float]) -> float:
    return float(np.percentile(times, 95))


def report(
    command: str, args: argparse.Namespace, loaded: dict[str, float], pages: dict[str, list[float]],
    queries: dict[str, list[float]], plan: list[str], now: datetime,
) -> str:  # fmt: skip
    lines = [
        HEADING,
        "",
        f"Measured {now:%Y-%m-%d %H:%M} UTC with",
        "",
        "```",
        command,
        "```",
        "",
        f"PostgreSQL, fresh schema: {args.alerts:,} alerts over {args.assets} assets ({CAMERAS} cameras) "
        f"spread over a year, {2 * args.alerts:,} outbox rows and their audit trail, {args.scores:,} score "
        "rows (30 s apart per sensor asset, up to now); loaded with COPY, then VACUUM ANALYZE "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in loaded.items())}). A page load is one run of "
        "`dashboard/app.py` on the alerts page through Streamlit's AppTest, logged in as an operator: the "
        "script, its queries and the serialised page (the browser's drawing is not included), "
        f"{args.runs} runs one after the other, dashboard.page_rows = {args.page_rows}.",
        "",
        "| page load | runs | median | p95 | max | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, times in pages.items():
        met = "yes" if p95(times) < TARGET_S else "no"
        lines.append(
            f"| {name} | {len(times)} | {statistics.median(times):.3f} s | {p95(times):.3f} s | "
            f"{max(times):.3f} s | < {TARGET_S:g} s | {met} |"
        )
    lines += ["", "The queries behind it, alone (same data, median and p95 of the runs):", ""]
    lines += ["| query | median | p95 |", "| --- | --- | --- |"]
    lines += [
        f"| {name} | {statistics.median(t) * 1000:.1f} ms | {p95(t) * 1000:.1f} ms |"
        for name, t in queries.items()
    ]
    lines += [
        "",
        "Default list, PostgreSQL's plan (EXPLAIN) walks the index per state:",
        "",
        "```",
        *plan,
        "```",
    ]
    hw = hardware()
    lines += ["", "Hardware: " + ", ".join(f"{k} {v}" for k, v in hw.items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL URL (a schema is created and dropped)")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--scores", type=int, default=10_000_000)
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20, help="page loads (and query runs) per case")
    parser.add_argument("--page-rows", type=int, default=200, help="dashboard.page_rows")
    parser.add_argument("--out", type=Path, help="write the section into this Markdown file")
    args = parser.parse_args(argv)
    if args.assets <= CAMERAS or min(args.alerts, args.scores, args.runs) < 1:
        parser.error(f"--assets must exceed {CAMERAS} and --alerts/--scores/--runs be positive")
    command = "python scripts/bench_dashboard.py " + " ".join(argv if argv is not None else sys.argv[1:])
    now = datetime.now(UTC).replace(microsecond=0)
    with fresh_schema(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        migrate.upgrade(url)
        engine = create_engine_for(url)
        try:
            print(f"loading {args.alerts:,} alerts and {args.scores:,} scores ...", flush=True)
            loaded = load(engine, args.assets, args.alerts, args.scores, now)
            print("loaded: " + ", ".join(f"{k} {v:.1f} s" for k, v in loaded.items()), flush=True)
            with engine.connect() as conn:
                alert_id = conn.execute(
                    sa.text("SELECT id FROM alerts WHERE state = 'open' ORDER BY opened_at DESC LIMIT 1")
                ).scalar_one()
            config = Path(tmp) / "monitor.yaml"
            password_hash = bcrypt.hashpw(b"bench", bcrypt.gensalt(rounds=4)).decode()
            dashboard = {
                "page_rows": args.page_rows,
                "users": {"bench": {"password_hash": password_hash, "role": "operator"}},
            }
            config.write_text(yaml.safe_dump({"database": {"url": url}, "dashboard": dashboard}))
            pages = {
                "alerts page, default filters": page_times(config, args.runs, None),
                "alerts page, one alert's details open (`?alert=<id>`)": page_times(
                    config, args.runs, alert_id
                ),
            }
            queries = query_times(engine, now, args.runs, args.page_rows, alert_id)
            plan = list_plan(engine, now, args.page_rows)
        finally:
            engine.dispose()
    text = report(command, args, loaded, pages, queries, plan, now)
    print(text)
    if args.out is not None:
        write_doc_section(args.out, HEADING, text, title="# Benchmarks")
    return 0 if all(p95(t) < TARGET_S for t in pages.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

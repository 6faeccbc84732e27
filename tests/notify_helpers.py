"""Shared helpers for notification tests: stored assets and alerts, outbox and event reads, a webhook server."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.store.tables import Alert, AlertEvent, Asset, Outbox

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def seed_asset(engine: Engine, name: str = "pump-3", site: str = "north") -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(Asset).values(name=name, site=site, kind="sensor", channels=[], created_at=T0))


def seed_alert(engine: Engine, alert_id: str = "a1", asset: str = "pump-3", **values: Any) -> str:
    """A stored open critical alert of `asset` (which must exist), opened at T0."""
    row = {
        "id": alert_id,
        "asset": asset,
        "condition": "sensor_score",
        "state": "open",
        "severity": "critical",
        "score": 9.5,
        "peak_score": 9.5,
        "threshold": 2.0,
        "top_channels": [{"name": "vibration", "value": 6.1}, {"name": "temp", "value": 2.2}],
        "opened_at": T0,
        "updated_at": T0,
        "in_maintenance": False,
    } | values
    with engine.begin() as conn:
        conn.execute(sa.insert(Alert).values(**row))
    return alert_id


def seed_told(engine: Engine, alert_id: str, channel: str, target: str, route: str = "oncall") -> None:
    """A delivered notification of the alert to `target`: it was told of the alert when it opened."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Outbox).values(
                alert_id=alert_id,
                channel=channel,
                target=target,
                route=route,
                payload="{}",
                state="delivered",
                attempts=1,
                created_at=T0,
                next_attempt_at=T0,
                delivered_at=T0,
            )
        )


def outbox_rows(engine: Engine) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(
                    Outbox.alert_id, Outbox.channel, Outbox.target, Outbox.route, Outbox.payload, Outbox.state
                ).order_by(Outbox.id)
            ).all()
        )


def events(engine: Engine) -> list[tuple[str, str, str | None]]:
    """(action, actor, comment) of every alert event, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AlertEvent.action, AlertEvent.actor, AlertEvent.comment).order_by(AlertEvent.id)
        ).all()
    return [(a, b, c) for a, b, c in rows]


def alert_row(engine: Engine, alert_id: str = "a1") -> sa.Row[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.select(Alert.__table__).where(Alert.id == alert_id)).one()


class HookServer:
    """An HTTP endpoint answering POSTs with the given statuses in turn (the last one repeats)."""

    def __init__(self, statuses: list[int], port: int = 0, delay_s: float = 0.0) -> None:
        self.statuses = statuses
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((time.monotonic(), dict(self.headers), body))
                time.sleep(delay_s)
                status = hook.statuses[min(len(hook.requests), len(hook.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""Shared helpers for dashboard tests: a config with one user per role, a logged-in AppTest, seeded rows.

The fixtures `dashboard` (SQLite and PostgreSQL) and `pg_dashboard` (PostgreSQL only) are registered
for every test module by conftest.py. Each writes a config YAML in tmp_path pointing at the test's
freshly migrated database, sets MONITOR_CONFIG (how `monitor dashboard` hands the config to
Streamlit) and clears Streamlit's resource cache, so the cached settings and engine are this test's.

    def test_x(dashboard: DashboardEnv) -> None:
        add_asset(dashboard.engine, "pump-1")
        at = dashboard.app("viewer", page="views/alerts.py", query={"alert": alert_id})
        assert "pump-1" in page_text(at)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bcrypt
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from monitor.settings import Settings, load_settings
from monitor.store import tables
from monitor.store.db import create_engine_for
from monitor.store.migrate import upgrade

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
ROLES = ("viewer", "operator", "admin")
# One user per role, named after it; the password is the name with "-pw".
PASSWORDS = {role: f"{role}-pw" for role in ROLES}
# Cost 4: a login in a test takes a millisecond instead of a quarter second.
_HASHES = {
    role: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode() for role, pw in PASSWORDS.items()
}


def write_config(path: Path, database_url: str, **sections: Mapping[str, Any]) -> Path:
    """A config YAML with the database, users viewer/operator/admin and any extra section values."""
    config: dict[str, Any] = {
        "database": {"url": database_url},
        "dashboard": {"users": {role: {"password_hash": _HASHES[role], "role": role} for role in ROLES}},
        "logging": {"json_format": False},
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class DashboardEnv:
    """One test's dashboard: its migrated database, config file and loaded settings."""

    engine: Engine
    config_path: Path
    settings: Settings

    def app(
        self,
        role: str | None = "operator",
        page: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> AppTest:
        """dashboard/app.py run once, logged in as the user named `role` (None: not logged in), on `page`.

        `page` is relative to dashboard/ ("views/alerts.py"); `query` sets the URL query parameters.
        """
        from streamlit.testing.v1 import AppTest

        from dashboard.auth import SESSION_KEY, User

        at = AppTest.from_file(str(APP), default_timeout=30)
        if role is not None:
            at.session_state[SESSION_KEY] = User(role, role)  # type: ignore[arg-type]
        at.query_params.update(query or {})
        if page is not None:
            at.switch_page(page)  # app.py runs first all the same: its gate, then this page
        return at.run()


@contextmanager
def open_dashboard(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sections: Mapping[str, Any]
) -> Iterator[DashboardEnv]:
    """Migrate the database, write the config, point MONITOR_CONFIG at it; clean caches on both ends."""
    import streamlit as st

    from dashboard import context

    upgrade(database_url)
    path = write_config(tmp_path / "monitor.yaml", database_url, **sections)
    monkeypatch.setenv(context.CONFIG_ENV, str(path))
    st.cache_resource.clear()
    engine = create_engine_for(database_url)
    try:
        yield DashboardEnv(engine, path, load_settings(path))
    finally:
        context.engine().dispose()
        st.cache_resource.clear()
        engine.dispose()


@pytest.fixture
def dashboard(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DashboardEnv]:
    """A dashboard on a fresh database, SQLite and PostgreSQL in turn."""
    with open_dashboard(database_url, tmp_path, monkeypatch) as env:
        yield env


@pytest.fixture
def pg_dashboard(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DashboardEnv]:
    """A dashboard on a fresh PostgreSQL schema (for what only PostgreSQL does, or to save time)."""
    with open_dashboard(postgres_url, tmp_path, monkeypatch) as env:
        yield env


def log_in(at: AppTest, name: str, password: str) -> AppTest:
    """Fill in the login form and submit it, as a person would."""
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def page_text(at: AppTest) -> str:
    """Everything written on the page (titles, text, captions, metrics, alerts boxes), one string."""
    parts: list[str] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "text",
        "error",
        "warning",
        "info",
        "success",
    ):
        parts.extend(str(element.value) for element in getattr(at, kind))
    parts.extend(f"{m.label} {m.value}" for m in at.metric)
    return "\n".join(parts)


# --- seeding -------------------------------------------------------------------------------------


def add_rows(engine: Engine, table: type[tables.Base], rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert rows into any table (outbox, dead_letters, inspections, maintenance_windows ...)."""
    rows = list(rows)
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(table), rows)


def add_asset(
    engine: Engine, name: str, kind: str = "sensor", channels: Iterable[str] = ("flow", "pressure")
) -> None:
    add_rows(
        engine,
        tables.Asset,
        [{"name": name, "kind": kind, "channels": list(channels), "created_at": datetime.now(UTC)}],
    )


def add_scores(
    engine: Engine,
    asset: str,
    times: Iterable[datetime],
    score: float = 0.5,
    threshold: float = 1.0,
    contributions: Mapping[str, float] | None = None,
) -> None:
    """Score rows at `times`, all with the same score and threshold (anomaly when score > threshold)."""
    add_rows(
        engine,
        tables.Score,
        (
            {
                "asset": asset,
                "ts": ts,
                "score": score,
                "threshold": threshold,
                "anomaly": score > threshold,
                "model_version": "v1",
                "contributions": dict(contributions or {"flow": score}),
            }
            for ts in times
        ),
    )


_alert_count = 0


def add_alert(
    engine: Engine,
    asset: str,
    *,
    state: str = "open",
    severity: str = "warning",
    opened_at: datetime | None = None,
    score: float = 2.0,
    threshold: float = 1.0,
    top_channels: list[dict[str, Any]] | None = None,
    **columns: Any,
) -> str:
    """An alert row (defaults: open warning, opened now); returns its id. `columns` sets any other column."""
    global _alert_count
    _alert_count += 1
    opened_at = opened_at or datetime.now(UTC)
    alert_id = columns.pop("id", f"{asset}:score:{_alert_count}")
    add_rows(
        engine,
        tables.Alert,
        [
            {
                "id": alert_id,
                "asset": asset,
                "condition": "score",
                "state": state,
                "severity": severity,
                "score": score,
                "peak_score": score,
                "threshold": threshold,
                "top_channels": top_channels
                if top_channels is not None
                else [{"name": "flow", "value": score}],
                "opened_at": opened_at,
                "updated_at": opened_at,
                **columns,
            }
        ],
    )
    return str(alert_id)


def add_alert_event(
    engine: Engine,
    alert_id: str,
    action: str,
    actor: str = "monitor",
    at: datetime | None = None,
    comment: str | None = None,
) -> None:
    add_rows(
        engine,
        tables.AlertEvent,
        [
            {
                "alert_id": alert_id,
                "action": action,
                "actor": actor,
                "comment": comment,
                "at": at or datetime.now(UTC),
            }
        ],
    )


def add_heartbeat(
    engine: Engine, instance: str = "monitor", at: datetime | None = None, **stats: Any
) -> None:
    """A heartbeats row as the daemon's heartbeat job writes it (stats: received, queue_depth, ...)."""
    add_rows(
        engine, tables.Heartbeat, [{"instance": instance, "at": at or datetime.now(UTC), "stats": stats}]
    )

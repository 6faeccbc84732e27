"""Shared fixtures: real services, isolated per test.

Every test gets its own topic prefix, client ids and database schema (PostgreSQL) or file (SQLite),
so tests and parallel runs never see each other's messages or rows. Under CI=true a missing service
fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

POSTGRES_URL = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MQTT_HOST = os.environ.get("MONITOR_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("MONITOR_TEST_MQTT_PORT", "1883"))
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The dashboard fixtures (`dashboard`, `pg_dashboard`) live beside their helpers.
pytest_plugins = ["dashboard_helpers"]


def require(condition: bool, reason: str) -> None:
    """Skip a test whose service or data is missing, except on CI where that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def mqtt_broker() -> tuple[str, int]:
    """The real local broker (Mosquitto on 127.0.0.1:1883)."""
    require(_reachable(MQTT_HOST, MQTT_PORT), f"no MQTT broker on {MQTT_HOST}:{MQTT_PORT}")
    return MQTT_HOST, MQTT_PORT


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test or run uses."""
    return unique_name("t")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections live in a fresh schema, dropped afterwards."""
    url = sa.engine.make_url(POSTGRES_URL)
    require(_reachable(url.host or "127.0.0.1", url.port or 5432), f"no PostgreSQL at {url.host}:{url.port}")
    schema = unique_name("test")
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database-backed test runs against both SQLite and PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a freshly migrated database (each backend in turn)."""
    from monitor.store import migrate
    from monitor.store.db import create_engine_for

    migrate.upgrade(database_url)
    engine = create_engine_for(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def skab_dir() -> Path:
    path = SHARED_DATA / "skab-dev"
    require(path.is_dir(), f"{path} is absent (the shared data beside the repository)")
    return path


@pytest.fixture
def magnetic_tile_dir() -> Path:
    """The magnetic-tile development slice (free/, blowhole/images, blowhole/masks) beside the repo."""
    path = SHARED_DATA / "magnetic-tile"
    require(path.is_dir(), f"{path} is absent (the shared data beside the repository)")
    return path

"""Alembic environment: the schema is `monitor.store.tables`, the URL comes from the caller.

`monitor.store.migrate` passes the URL (or an open connection) in `config.attributes`; the plain
`alembic` command falls back to the monitor settings (config file and MONITOR_DATABASE__URL). On
PostgreSQL everything, `alembic_version` included, lands in the connection's current schema, so a
`search_path` in the URL selects the schema. Batch mode lets later migrations alter SQLite tables
(with foreign keys off meanwhile, so rebuilding a table cascades nothing).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from monitor.store.db import create_engine_for
from monitor.store.tables import Base

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("url")
    if url:
        return str(url)
    from monitor.settings import load_settings

    return load_settings().database.url


def _run(connection: Connection) -> None:
    # SQLite: a batch migration copies a table into a new one and drops the old; with foreign keys
    # on, that drop cascades (ON DELETE CASCADE) to every row pointing at it. The pragma only
    # takes effect outside a transaction, hence the commit before it starts.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine_for(_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()

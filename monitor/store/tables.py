"""The SQL schema as SQLAlchemy 2 typed models; Alembic migrations are checked against it.

Table names are fixed (operators query them directly). Assets are referred to by name everywhere,
so an operator's query needs no join. Timestamps are timezone-aware UTC on every backend: SQLite
stores naive UTC text, :class:`UtcDateTime` puts the UTC zone back when reading.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ASSET_KINDS = ("sensor", "camera")
ALERT_STATES = ("open", "acknowledged", "resolved")
OUTBOX_STATES = ("pending", "delivered", "failed")
NAME_LEN = 64


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused, not guessed."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# Score contributions are written ~15,000 times a second and only read back whole: plain `json` on
# PostgreSQL stores the text as is, skipping JSONB's parse-and-rebuild on every insert.
JsonText = sa.JSON()
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _asset_fk() -> sa.ForeignKey:
    return sa.ForeignKey("assets.name", ondelete="CASCADE")


class Base(DeclarativeBase):
    """Declarative base; constraint names are deterministic so migrations can refer to them."""

    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UtcDateTime()}


class Asset(Base):
    """A monitored machine (sensor streams) or camera; created on first sight."""

    __tablename__ = "assets"
    __table_args__ = (sa.CheckConstraint(f"kind IN {ASSET_KINDS}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_LEN), unique=True)
    site: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    kind: Mapped[str] = mapped_column(sa.String(16), server_default="sensor")
    channels: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    created_at: Mapped[datetime]


class ModelVersion(Base):
    """One trained model directory; exactly one active version per (asset, kind)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        sa.UniqueConstraint("asset", "kind", "version"),
        sa.Index(
            "uq_model_versions_one_active",
            "asset",
            "kind",
            unique=True,
            postgresql_where=sa.text("active"),
            sqlite_where=sa.text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset: Mapped[str] = mapped_column(sa.String(NAME_LEN), _asset_fk())
    kind: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[str] = mapped_column(sa.String(NAME_LEN))
    path: Mapped[str] = mapped_column(sa.Text)
    card: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    active: Mapped[bool] = mapped_column(server_default=sa.false())
    # Bumped on every change of the row; the sum over the table is the registry's generation.
    change_count: Mapped[int] = mapped_column(server_default="1")
    created_at: Mapped[datetime]


class Score(Base):
    """One scored window; the primary key (asset, ts) makes redelivery idempotent and serves range reads."""

    __tablename__ = "scores"

    asset: Mapped[str] = mapped_column(sa.String(NAME_LEN), _asset_fk(), primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    score: Mapped[float] = mapped_column(sa.Float)
    threshold: Mapped[float] = mapped_column(sa.Float)
    anomaly: Mapped[bool]
    model_version: Mapped[str] = mapped_column(sa.String(NAME_LEN))
    contributions: Mapped[dict[str, float]] = mapped_column(JsonText)


class ScoreRollup(Base):
    """Per-asset, per-minute aggregate of scores; outlives the raw rows removed by retention."""

    __tablename__ = "score_rollups"

    asset: Mapped[str] = mapped_column(sa.String(NAME_LEN), _asset_fk(), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int]
    mean_score: Mapped[float] = mapped_column(sa.Float)
    max_score: Mapped[float] = mapped_column(sa.Float)
    anomalies: Mapped[int]


INSPECTION_HAS_FILES = "image_path IS NOT NULL OR heatmap_path IS NOT NULL OR mask_path IS NOT NULL"


class Inspection(Base):
    """One scored camera frame; `frame_key` as `monitor.ingest.frames` makes it (id@time, id, time or digest)."""

    __tablename__ = "inspections"
    __table_args__ = (
        sa.UniqueConstraint("camera", "frame_key"),
        sa.Index("ix_inspections_camera_ts", "camera", "ts"),
        # Only the anomalous rows: the Camera page's latest anomalous frames.
        sa.Index(
            "ix_inspections_anomalous_camera_ts",
            "camera",
            "ts",
            postgresql_where=sa.text("anomaly"),
            sqlite_where=sa.text("anomaly = 1"),  # as SQLAlchemy writes `WHERE anomaly` there
        ),
        # Only the rows that still name files: retention's hourly search for old artifacts.
        sa.Index(
            "ix_inspections_with_files_ts",
            "ts",
            postgresql_where=sa.text(INSPECTION_HAS_FILES),
            sqlite_where=sa.text(INSPECTION_HAS_FILES),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    camera: Mapped[str] = mapped_column(sa.String(NAME_LEN), _asset_fk())
    ts: Mapped[datetime]
    frame_key: Mapped[str] = mapped_column(sa.String(192))
    score: Mapped[float] = mapped_column(sa.Float)
    threshold: Mapped[float] = mapped_column(sa.Float)
    anomaly: Mapped[bool]
    defect_area: Mapped[float | None] = mapped_column(sa.Float)
    defect_count: Mapped[int | None]
    ae_model_version: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    unet_model_version: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    sr_model_version: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    image_path: Mapped[str | None] = mapped_column(sa.Text)
    heatmap_path: Mapped[str | None] = mapped_column(sa.Text)
    mask_path: Mapped[str | None] = mapped_column(sa.Text)


class Threshold(Base):
    """Threshold history: every value with the method and parameters that produced it."""

    __tablename__ = "thresholds"
    __table_args__ = (sa.Index("ix_thresholds_asset_computed_at", "asset", "computed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    asset: Mapped[str] = mapped_column(sa.String(NAME_LEN), _asset_fk())
    value: Mapped[float] = mapped_column(sa.Float)
    method: Mapped[str] = mapped_column(sa.String(32))
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    computed_at: Mapped[datetime]


class Alert(Base):
    """One alert's current state, upserted by the pipeline's id; acknowledgement is the operator's."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.CheckConstraint(f"state IN {ALERT_STATES}", name="state"),
        sa.Index("ix_alerts_asset_state", "asset", "state"),
        sa.Index("ix_alerts_opened_at", "opened_at"),
        sa.Index("ix_alerts_state_opened_at", "state", "opened_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(NAME_LEN * 2), primary_key=True)
    asset: Mapped[str] = mapped_column(sa.String(NAME_LEN), _asset_fk())
    condition: Mapped[str] = mapped_column(sa.String(NAME_LEN))
    state: Mapped[str] = mapped_column(sa.String(16))
    severity: Mapped[str] = mapped_column(sa.String(16))
    score: Mapped[float] = mapped_column(sa.Float)
    peak_score: Mapped[float] = mapped_column(sa.Float)
    threshold: Mapped[float] = mapped_column(sa.Float)
    top_channels: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(128))
    ack_comment: Mapped[str | None] = mapped_column(sa.Text)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(128))
    escalated_at: Mapped[datetime | None]
    in_maintenance: Mapped[bool] = mapped_column(server_default=sa.false())
    # When the daemon first stored it (opened_at is the machine's time); null before revision 0005.
    stored_at: Mapped[datetime | None]


class AlertEvent(Base):
    """Who did what to an alert and when (opened, acknowledged, resolved, escalated): the audit trail."""

    __tablename__ = "alert_events"
    __table_args__ = (sa.Index("ix_alert_events_alert_id_at", "alert_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[str] = mapped_column(
        sa.String(NAME_LEN * 2), sa.ForeignKey("alerts.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(128))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime]


class AlertReading(Base):
    """A raw sensor reading around an alert: the context before it opened and the readings while it
    was open (capped), so people can see what the machine did; raw readings are not kept otherwise."""

    __tablename__ = "alert_readings"

    alert_id: Mapped[str] = mapped_column(
        sa.String(NAME_LEN * 2), sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    values: Mapped[dict[str, float]] = mapped_column(JsonDoc)


class MaintenanceWindow(Base):
    """A planned stop: alerts of the asset (all assets when NULL) are suppressed and marked."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (sa.Index("ix_maintenance_windows_asset_ends", "asset", "ends"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset: Mapped[str | None] = mapped_column(sa.String(NAME_LEN), _asset_fk())
    starts: Mapped[datetime]
    ends: Mapped[datetime]
    reason: Mapped[str] = mapped_column(sa.Text, server_default="")
    created_by: Mapped[str | None] = mapped_column(sa.String(128))


class Outbox(Base):
    """A notification to deliver, written in the same transaction as the alert change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint(f"state IN {OUTBOX_STATES}", name="state"),
        sa.Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_outbox_alert_id_created_at", "alert_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[str | None] = mapped_column(
        sa.String(NAME_LEN * 2), sa.ForeignKey("alerts.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str] = mapped_column(sa.Text)
    route: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    payload: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class DeadLetter(Base):
    """An invalid message: its topic, why it was refused and its first bytes."""

    __tablename__ = "dead_letters"
    __table_args__ = (sa.Index("ix_dead_letters_received_at", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)
    payload_head: Mapped[bytes] = mapped_column(sa.LargeBinary)
    payload_size: Mapped[int]
    extra: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    received_at: Mapped[datetime]


class Heartbeat(Base):
    """The latest sign of life of each daemon instance, updated in place."""

    __tablename__ = "heartbeats"

    instance: Mapped[str] = mapped_column(sa.String(NAME_LEN), primary_key=True)
    at: Mapped[datetime]
    stats: Mapped[dict[str, Any]] = mapped_column(JsonDoc)

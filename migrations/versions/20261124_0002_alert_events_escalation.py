"""alert audit trail, escalation and notification routes

Issue 4: who acknowledged or resolved an alert and when (`alert_events`, `alerts.resolved_by`), the
raw readings around each alert (`alert_readings`),
when an unacknowledged alert was escalated (`alerts.escalated_at`), which routing rule queued a
notification (`outbox.route`); indexes for the dashboard's alert list (state + time) and for the
notification rate limit (an alert's recent outbox rows).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("alert_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_events_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert_id_at", "alert_events", ["alert_id", "at"])
    op.create_table(
        "alert_readings",
        sa.Column("alert_id", sa.String(length=128), nullable=False),
        sa.Column("ts", UTC_TIME, nullable=False),
        sa.Column("values", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_readings_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("alert_id", "ts", name=op.f("pk_alert_readings")),
    )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("resolved_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("escalated_at", UTC_TIME, nullable=True))
    op.create_index("ix_alerts_state_opened_at", "alerts", ["state", "opened_at"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("route", sa.String(length=64), nullable=True))
    op.create_index("ix_outbox_alert_id_created_at", "outbox", ["alert_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_alert_id_created_at", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("route")
    op.drop_index("ix_alerts_state_opened_at", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("escalated_at")
        batch.drop_column("resolved_by")
    op.drop_table("alert_readings")
    op.drop_index("ix_alert_events_alert_id_at", table_name="alert_events")
    op.drop_table("alert_events")

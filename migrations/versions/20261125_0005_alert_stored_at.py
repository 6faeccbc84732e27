"""alerts.stored_at: when the daemon first stored the alert, for escalation

`opened_at` is the time of the reading that opened the alert, the machine's time. A backlog
replayed after an outage, or a gateway whose clock runs hours behind, opens alerts whose
`opened_at` is already hours old: escalation counted from it re-sent them at once, before anyone
could acknowledge. Escalation now waits `after_s` from the later of the two. Rows from before this
revision have none; their `opened_at` stands in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("stored_at")

"""a partial index on the anomalous inspections of each camera

The Camera page lists a camera's latest anomalous frames. Through the (camera, ts) index that walks
every inspection of the camera back to the 50th anomalous one, and PostgreSQL chose a scan of the
whole table at 3 million rows; an index of the anomalous rows only keeps it to those 50.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_inspections_anomalous_camera_ts",
        "inspections",
        ["camera", "ts"],
        postgresql_where=sa.text("anomaly"),
        sqlite_where=sa.text("anomaly = 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_inspections_anomalous_camera_ts", table_name="inspections")

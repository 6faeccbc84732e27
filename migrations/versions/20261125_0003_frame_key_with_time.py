"""inspections.frame_key holds the frame id with the publisher's time

A camera that restarts its frame counter repeats frame ids; with the publisher's `ts` in the key
(`<frame_id>@<ts>`) those frames are new rows instead of being skipped as redeliveries, while a
real redelivery (same id, same ts) still is. The id may be 128 characters, so the column widens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 00:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inspections") as batch:
        batch.alter_column("frame_key", type_=sa.String(length=192), existing_type=sa.String(length=128))


def downgrade() -> None:
    with op.batch_alter_table("inspections") as batch:
        batch.alter_column("frame_key", type_=sa.String(length=128), existing_type=sa.String(length=192))

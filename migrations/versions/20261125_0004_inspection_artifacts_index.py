"""a partial index on the inspections that still name artifact files

Retention looks for old inspections with files every hour. Only a few frames get artifacts, and
once removed their paths are cleared, so an index of just those rows keeps each run to the files
due, instead of a walk over every inspection ever stored.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_FILES = sa.text("image_path IS NOT NULL OR heatmap_path IS NOT NULL OR mask_path IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_inspections_with_files_ts",
        "inspections",
        ["ts"],
        postgresql_where=HAS_FILES,
        sqlite_where=HAS_FILES,
    )


def downgrade() -> None:
    op.drop_index("ix_inspections_with_files_ts", table_name="inspections")

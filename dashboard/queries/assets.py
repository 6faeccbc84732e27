"""Which assets and cameras a page can show."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store.tables import Asset

# Name lists (selectors) are not table pages: every asset of a plant must be reachable, and a
# selector of a few thousand short names filters as one types.
NAMES_SHOWN = 5_000


def asset_names(conn: Connection, kind: str | None, limit: int = NAMES_SHOWN) -> list[str]:
    """Names of the assets of `kind` ("sensor" or "camera"; None: both), alphabetical."""
    query = sa.select(Asset.name).order_by(Asset.name).limit(limit)
    if kind is not None:
        query = query.where(Asset.kind == kind)
    return list(conn.execute(query).scalars())

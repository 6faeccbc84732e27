"""The Models page's data: which assets have model versions, each version's metrics and threshold
calibration (from its card), and the threshold now in force (latest `thresholds` row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.queries.assets import NAMES_SHOWN
from monitor.registry import ModelVersionInfo
from monitor.store.tables import ModelVersion, Threshold

SHOWN_METRICS = 4


def model_assets(conn: Connection, limit: int = NAMES_SHOWN) -> list[str]:
    """Assets and cameras that have at least one registered model version, alphabetical."""
    query = sa.select(ModelVersion.asset).distinct().order_by(ModelVersion.asset).limit(limit)
    return list(conn.execute(query).scalars())


def threshold_in_force(conn: Connection, asset: str) -> sa.Row[float, str, datetime] | None:
    """The latest threshold of `asset` (value, method, computed_at), or None before the first."""
    return conn.execute(
        sa.select(Threshold.value, Threshold.method, Threshold.computed_at)
        .where(Threshold.asset == asset)
        .order_by(Threshold.computed_at.desc())
        .limit(1)
    ).first()


def version_table(versions: list[ModelVersionInfo]) -> pd.DataFrame:
    """One row per version, newest first: what an engineer compares before activating one."""
    rows = [
        {
            "version": v.version,
            "active": v.active,
            "created (UTC)": v.created_at.strftime("%Y-%m-%d %H:%M"),
            "metrics": format_metrics(v.metrics),
            "threshold calibration": format_calibration(v.card.get("threshold_calibration")),
            "path": str(v.path),
        }
        for v in sorted(versions, key=lambda v: v.created_at, reverse=True)
    ]
    return pd.DataFrame(
        rows, columns=["version", "active", "created (UTC)", "metrics", "threshold calibration", "path"]
    )


def format_metrics(metrics: dict[str, Any]) -> str:
    """The first few metrics of a card as `name=value` (floats to 4 significant digits)."""
    return " ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in list(metrics.items())[:SHOWN_METRICS]
    )


def format_calibration(calibration: Any) -> str:
    """A card's `threshold_calibration` as "method value" ("-" for models without a threshold)."""
    if not isinstance(calibration, dict) or "value" not in calibration:
        return "-"
    return f"{calibration.get('method', '?')} {float(calibration['value']):.4g}"

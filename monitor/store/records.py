"""Plain records passed between the pipeline and the SQL writer.

The pipeline (daemon worker, backtest) produces them without touching SQL; the writer turns them
into rows. Keeping them free of SQLAlchemy lets the backtest run with no database at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(slots=True)
class ScoreRecord:
    asset: str
    ts: datetime
    score: float
    threshold: float
    anomaly: bool
    model_version: str
    contributions: dict[str, float]


@dataclass(slots=True)
class InspectionRecord:
    """One scored camera frame; unique per (camera, frame_key), so a redelivered frame is one row."""

    camera: str
    ts: datetime
    frame_key: str
    score: float
    threshold: float
    anomaly: bool
    defect_area: float | None = None  # percent of the image
    defect_count: int | None = None
    ae_model_version: str | None = None
    unet_model_version: str | None = None
    sr_model_version: str | None = None
    image_path: str | None = None
    heatmap_path: str | None = None
    mask_path: str | None = None


@dataclass(slots=True)
class ThresholdRecord:
    asset: str
    value: float
    method: str
    parameters: dict[str, Any]
    computed_at: datetime


@dataclass(slots=True)
class AlertRecord:
    """The current state of one alert; written as an upsert by id, published on the alerts topic."""

    id: str
    asset: str
    condition: str
    state: AlertState
    severity: Severity
    score: float
    peak_score: float
    threshold: float
    top_channels: list[dict[str, float | str]]
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    in_maintenance: bool = False

    @property
    def just_opened(self) -> bool:
        """This record is the alert's opening (not a later update of an open alert)."""
        return self.state == AlertState.OPEN and self.opened_at == self.updated_at


@dataclass(slots=True)
class AlertReadingsRecord:
    """Raw readings kept beside an alert: the context before it opened, then the readings while open."""

    alert_id: str
    readings: list[tuple[datetime, dict[str, float]]]


@dataclass(slots=True)
class DeadLetterRecord:
    topic: str
    reason: str
    payload_head: bytes
    payload_size: int
    received_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AssetRecord:
    """What the pipeline knows of an asset (site from the topic, channels from its model).

    Scores create a bare asset row on first sight; this record fills in or updates the details.
    """

    name: str
    site: str | None = None
    kind: str = "sensor"
    channels: list[str] = field(default_factory=list)


@dataclass(slots=True)
class HeartbeatRecord:
    """A daemon instance's sign of life; written through the writer, so it also proves the writer works."""

    instance: str
    at: datetime
    stats: dict[str, Any] = field(default_factory=dict)

"""The camera view: latest and anomalous inspections, the three artifact images, the score history."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dashboard_helpers import DashboardEnv, add_alert, add_asset, add_rows, page_text
from PIL import Image
from sqlalchemy.engine import Engine

from dashboard.charts import score_figure
from dashboard.queries.inspections import artifact, history, latest
from monitor.artifacts import write_artifacts
from monitor.store import tables

PAGE = "views/camera.py"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NO_THRESHOLDS = pd.DataFrame(columns=["computed_at", "value", "method"])


def _frames(start: datetime, seconds: Iterable[int], alert_s: range) -> list[dict[str, Any]]:
    """Inspections at `start` + each of `seconds`, anomalous (0.9 over a threshold of 0.5) in `alert_s`."""
    return [
        _inspection(
            "cam",
            start + timedelta(seconds=s),
            0.9 if s in alert_s else 0.2,
            threshold=0.5,
            anomaly=s in alert_s,
        )
        for s in seconds
    ]


def _inspection(camera: str, ts: datetime, score: float, **columns: Any) -> dict[str, Any]:
    return {
        "camera": camera,
        "ts": ts,
        "frame_key": ts.isoformat(),
        "score": score,
        "threshold": 1.0,
        "anomaly": score > 1.0,
        "defect_area": None,
        "defect_count": None,
        "image_path": None,
        "heatmap_path": None,
        "mask_path": None,
        **columns,
    }


def test_latest_and_anomalous_inspections_newest_first(engine: Engine) -> None:
    """Both lists are newest first and bounded; `before` picks the inspection at a linked time."""
    add_asset(engine, "cam", kind="camera")
    add_rows(
        engine,
        tables.Inspection,
        [_inspection("cam", T0 + timedelta(minutes=i), 2.0 if i % 3 == 0 else 0.5) for i in range(9)],
    )
    with engine.connect() as conn:
        newest = latest(conn, "cam", 4)
        flagged = latest(conn, "cam", 10, anomalous=True)
        linked = latest(conn, "cam", 1, before=T0 + timedelta(minutes=4, seconds=30))
    assert list(newest["ts"]) == [T0 + timedelta(minutes=m) for m in (8, 7, 6, 5)]
    assert list(flagged["ts"]) == [T0 + timedelta(minutes=m) for m in (6, 3, 0)]
    assert list(linked["ts"]) == [T0 + timedelta(minutes=4)]


def test_history_of_a_quiet_range_is_every_inspection(engine: Engine) -> None:
    """A range with no more inspections than points plots each one with its own threshold."""
    add_asset(engine, "cam", kind="camera")
    add_rows(engine, tables.Inspection, _frames(T0, range(5), alert_s=range(2, 3)))
    with engine.connect() as conn:
        series = history(conn, "cam", T0, T0 + timedelta(hours=1), points=5)
    assert series.bucket_s == 0
    assert list(series.frame["ts"]) == [T0 + timedelta(seconds=s) for s in range(5)]
    assert list(series.frame["anomalies"]) == [0, 0, 1, 0, 0] and set(series.frame["threshold"]) == {0.5}
    assert series.caption().startswith("Every inspection of the range (5)")


def test_history_of_a_busy_range_is_bucketed_over_the_whole_range(engine: Engine) -> None:
    """More inspections than points: buckets aggregated in SQL span the range, not its newest rows."""
    add_asset(engine, "cam", kind="camera")
    add_rows(engine, tables.Inspection, _frames(T0, range(0, 3600, 10), alert_s=range(600, 630)))
    with engine.connect() as conn:
        series = history(conn, "cam", T0, T0 + timedelta(hours=1), points=30)
    frame = series.frame.set_index("ts")
    assert series.bucket_s == 120 and len(frame) == 30
    assert frame.index[0] == T0 and frame.index[-1] == T0 + timedelta(minutes=58)
    assert frame["count"].sum() == 360 and frame["anomalies"].sum() == 3
    alert = frame.loc[T0 + timedelta(minutes=10)]
    assert alert["max_score"] == 0.9 and alert["score"] == pytest.approx(0.375) and alert["anomalies"] == 3
    assert set(frame["threshold"]) == {0.5}
    assert "per 2 min (360 inspections in 30 buckets)" in series.caption()


def test_score_figure_marks_anomalous_frames(engine: Engine) -> None:
    """The camera chart draws score, bucket maximum, threshold and a dot on each anomalous bucket."""
    add_asset(engine, "cam", kind="camera")
    add_rows(engine, tables.Inspection, _frames(T0, range(0, 3600, 10), alert_s=range(600, 630)))
    with engine.connect() as conn:
        series = history(conn, "cam", T0, T0 + timedelta(hours=1), points=30)
    figure = score_figure(series.frame, NO_THRESHOLDS, [], T0, T0 + timedelta(hours=1), anomalies=True)
    traces = {trace.name: trace for trace in figure.data}
    assert set(traces) == {"score", "max score", "threshold", "anomalous"}
    assert list(pd.to_datetime(traces["anomalous"].x, utc=True)) == [T0 + timedelta(minutes=10)]
    assert list(traces["anomalous"].y) == [0.9] and list(traces["anomalous"].customdata) == [3]


def test_artifact_is_none_once_retention_removed_the_file(tmp_path: Path) -> None:
    """A path whose file is gone (or no path) gives None, so the page shows a caption instead."""
    present = tmp_path / "a.png"
    present.write_bytes(b"png")
    assert artifact(str(present)) == present
    assert artifact(str(tmp_path / "gone.png")) is None and artifact(None) is None


def test_camera_page_shows_the_three_images_of_a_linked_inspection(
    dashboard: DashboardEnv, tmp_path: Path
) -> None:
    """?camera=&at= selects the inspection at that time and shows image | heatmap | mask overlay."""
    now = datetime.now(UTC).replace(microsecond=0)
    add_asset(dashboard.engine, "cam", kind="camera")
    image = np.zeros((16, 16), dtype=np.float32)
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:8, 4:8] = True
    paths = write_artifacts(tmp_path, "cam", "f1", now, image, np.ones((16, 16)), mask, [(4, 4, 8, 8)])
    add_rows(
        dashboard.engine,
        tables.Inspection,
        [
            _inspection(
                "cam",
                now - timedelta(minutes=10),
                1.8,
                image_path=paths.image,
                heatmap_path=paths.heatmap,
                mask_path=paths.mask,
                defect_area=6.25,
                defect_count=1,
            ),
            _inspection("cam", now - timedelta(minutes=1), 1.5),  # newer anomalous, not linked
        ],
    )
    add_alert(dashboard.engine, "cam", opened_at=now - timedelta(minutes=10))
    at = dashboard.app(
        "viewer", page=PAGE, query={"camera": "cam", "at": (now - timedelta(minutes=10)).isoformat()}
    )
    assert not at.exception
    assert at.selectbox(key="camera-name").value == "cam"
    assert [image.captions[0] for image in at.image] == [
        "Analysed image",
        "Anomaly heatmap",
        "Defect mask and boxes",
    ]
    assert "1 defect(s) over 6.25 % of the image" in page_text(at)
    assert len(at.dataframe) == 2
    assert len(at.get("plotly_chart")) == 1


def test_camera_page_says_when_artifacts_are_gone(dashboard: DashboardEnv, tmp_path: Path) -> None:
    """Files removed by retention (or never written) show a caption, not an error."""
    add_asset(dashboard.engine, "cam", kind="camera")
    Image.new("L", (8, 8)).save(tmp_path / "only.png")
    add_rows(
        dashboard.engine,
        tables.Inspection,
        [
            _inspection(
                "cam",
                datetime.now(UTC) - timedelta(minutes=2),
                0.3,
                image_path=str(tmp_path / "only.png"),
                heatmap_path=str(tmp_path / "removed.png"),
            )
        ],
    )
    at = dashboard.app("viewer", page=PAGE)
    assert not at.exception and not at.error
    text = page_text(at)
    assert "Anomaly heatmap: no file" in text and "Defect mask and boxes: no file" in text
    assert [tab.label for tab in at.tabs] == ["Latest (1)", "Anomalous (0)"] and "None so far." in text


def test_camera_page_survives_unreadable_artifact_files(dashboard: DashboardEnv, tmp_path: Path) -> None:
    """A truncated or empty image file reads as "no file", as a missing one does, not a traceback."""
    add_asset(dashboard.engine, "cam", kind="camera")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # cut short by a full disk
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    Image.new("L", (8, 8)).save(tmp_path / "good.png")
    add_rows(
        dashboard.engine,
        tables.Inspection,
        [
            _inspection(
                "cam",
                datetime.now(UTC) - timedelta(minutes=1),
                0.3,
                image_path=str(truncated),
                heatmap_path=str(tmp_path / "good.png"),
                mask_path=str(empty),
            )
        ],
    )
    at = dashboard.app("viewer", page=PAGE)
    assert not at.exception
    text = page_text(at)
    assert "Analysed image: no file" in text and "Defect mask and boxes: no file" in text
    assert [image.captions[0] for image in at.image] == ["Anomaly heatmap"]


def test_camera_page_linked_to_an_alert_draws_its_frames_in_a_busy_range(dashboard: DashboardEnv) -> None:
    """At a frame a second, the hour around a linked alert is drawn whole, the alert's frames marked."""
    alert_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    add_asset(dashboard.engine, "cam", kind="camera")
    add_rows(dashboard.engine, tables.Inspection, _frames(alert_at, range(-1800, 1800), alert_s=range(0, 30)))
    add_alert(dashboard.engine, "cam", opened_at=alert_at)
    at = dashboard.app("viewer", page=PAGE, query={"camera": "cam", "at": alert_at.isoformat()})
    assert not at.exception
    assert "per 1 min (3,600 inspections in" in page_text(at)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    traces = {trace.get("name"): trace for trace in chart["data"]}
    assert {"score", "max score", "threshold", "anomalous"} <= set(traces)
    flagged = pd.to_datetime(traces["anomalous"]["x"], utc=True)
    assert all(alert_at - timedelta(minutes=1) < t < alert_at + timedelta(minutes=1) for t in flagged)
    drawn = pd.to_datetime(traces["score"]["x"], utc=True)
    assert drawn.min() <= alert_at - timedelta(minutes=29) and drawn.max() >= alert_at + timedelta(minutes=29)

"""The camera view: latest and anomalous inspections, the three artifact images, the score history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from dashboard_helpers import DashboardEnv, add_alert, add_asset, add_rows, page_text
from PIL import Image
from sqlalchemy.engine import Engine

from dashboard.queries.inspections import artifact, history, latest
from monitor.artifacts import write_artifacts
from monitor.store import tables

PAGE = "views/camera.py"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


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
        scores, cut = history(conn, "cam", T0, T0 + timedelta(hours=1), limit=5)
    assert list(newest["ts"]) == [T0 + timedelta(minutes=m) for m in (8, 7, 6, 5)]
    assert list(flagged["ts"]) == [T0 + timedelta(minutes=m) for m in (6, 3, 0)]
    assert list(linked["ts"]) == [T0 + timedelta(minutes=4)]
    assert cut and list(scores["ts"]) == [T0 + timedelta(minutes=m) for m in range(4, 9)]


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

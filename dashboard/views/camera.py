"""Camera view: a camera's latest and anomalous inspections, one of them in detail (analysed image,
anomaly heatmap, defect mask with boxes, as written by monitor/artifacts.py), and its score history over the
whole range. `?camera=<name>&at=<iso>` preselects the camera and the inspection at that time."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import charts, context
from dashboard.queries import inspections, timeline
from dashboard.subject import pick_subject

config = context.settings().dashboard
engine = context.engine()
now = datetime.now(UTC)

st.title("Camera")
subject = pick_subject(
    engine,
    now,
    kind="camera",
    param="camera",
    label="Camera",
    noun="camera",
    empty="No cameras yet: a camera appears with its first analysed frame.",
)
camera, at, start, end, choose = subject.name, subject.at, subject.start, subject.end, subject.beside


def show_artifact(title: str, path: str | None) -> None:
    """One artifact image, or a caption saying there is none: one unreadable file (truncated by a full
    disk, or removed by retention since `artifact` looked) must not take the page down."""
    file = inspections.artifact(path)
    if file is not None:
        try:
            st.image(str(file), caption=title, width="stretch")
            return
        except (OSError, ValueError):
            pass
    st.caption(f"{title}: no file (not written for this frame, removed by retention, or unreadable).")


rows = min(config.page_rows, 50)  # a 768-px screen shows a dozen; the selectbox reaches the rest
with engine.connect() as conn:
    newest = inspections.latest(conn, camera, rows)
    anomalous = inspections.latest(conn, camera, rows, anomalous=True)
    at_time = inspections.latest(conn, camera, 1, before=at) if at is not None else newest.iloc[:0]
    series = inspections.history(conn, camera, start, end)
    steps = timeline.threshold_steps(conn, camera, start, end, config.page_rows)
    periods = timeline.alert_periods(conn, camera, start, end, now, config.page_rows)
if newest.empty:
    st.info(f"{camera} has no inspections yet.")
    st.stop()

# The inspection at the linked time first, else the newest anomalous one, else the newest.
candidates = pd.concat([at_time, anomalous, newest]).drop_duplicates("id").set_index("id")
choice = choose.selectbox(
    "Inspection",
    list(candidates.index),
    format_func=lambda i: (
        f"{candidates.at[i, 'ts']:%Y-%m-%d %H:%M:%S} · score {candidates.at[i, 'score']:.4g}"
        + (" · anomalous" if candidates.at[i, "anomaly"] else "")
    ),
    key=f"camera-inspection-{camera}",
)
chosen = candidates.loc[choice]
for column, (title, path) in zip(
    st.columns(3),
    [
        ("Analysed image", chosen["image_path"]),
        ("Anomaly heatmap", chosen["heatmap_path"]),
        ("Defect mask and boxes", chosen["mask_path"]),
    ],
    strict=True,
):
    with column:
        show_artifact(title, path)
defects = (
    f"{int(chosen['defect_count'])} defect(s) over {chosen['defect_area']:.2f} % of the image"
    if pd.notna(chosen["defect_area"])
    else "no defect mask"
)
st.caption(
    "The analysed image is the frame the models saw (upscaled when the camera has an upscaler); "
    f"segmentation: {defects}."
)

tables, history = st.columns(2)
shown = ["ts", "score", "threshold", "defect_area", "defect_count"]
settings = {
    "ts": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "defect_area": st.column_config.NumberColumn("defect area %", format="%.2f"),
    "defect_count": st.column_config.NumberColumn("defects"),
}
with tables:
    latest_tab, anomalous_tab = st.tabs([f"Latest ({len(newest)})", f"Anomalous ({len(anomalous)})"])
    latest_tab.dataframe(newest[shown], column_config=settings, height=300, hide_index=True)
    if anomalous.empty:
        anomalous_tab.caption("None so far.")
    else:
        anomalous_tab.dataframe(anomalous[shown], column_config=settings, height=300, hide_index=True)
with history:
    figure = charts.score_figure(series.frame, steps, periods, start, end, height=300, anomalies=True)
    st.plotly_chart(figure, key="camera-score")
    st.caption(series.caption() + "; red dots: anomalous frames; shaded: alert periods.")

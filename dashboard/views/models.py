"""Models: the versions registered for each asset and camera, with their metrics and threshold
calibration; operators activate one (an older one rolls back) through `monitor.registry.activate`.
The daemon notices the change at its next registry poll and hot-reloads the model."""

from __future__ import annotations

import streamlit as st

from dashboard import auth, context
from dashboard.queries import models
from monitor import registry

engine = context.engine()
user = auth.page_user()

st.title("Models")
with engine.connect() as conn:
    names = models.model_assets(conn)
if not names:
    st.info("No model versions registered yet (`monitor train …`, commissioning or `monitor demo`).")
    st.stop()
wanted = st.query_params.get("asset") or st.query_params.get("camera")
pick, current = st.columns([1, 2])
asset = pick.selectbox(
    "Asset or camera", names, index=names.index(wanted) if wanted in names else 0, key="models-asset"
)
with engine.connect() as conn:
    threshold = models.threshold_in_force(conn, asset)
current.metric(
    "Threshold in force",
    f"{threshold.value:.4g}" if threshold else "-",
    help="Latest value in the `thresholds` history (recalibrated by the daemon).",
)
if threshold:
    current.caption(f"{threshold.method}, computed {threshold.computed_at:%Y-%m-%d %H:%M} UTC")

may_activate = auth.require_role(user, "operator", "activate or roll back a model version")
versions = registry.list_versions(engine, asset)
for kind in sorted({v.kind for v in versions}):
    of_kind = [v for v in versions if v.kind == kind]
    st.subheader(f"{kind} models")
    if may_activate:
        inactive = [v.version for v in reversed(of_kind) if not v.active]
        if inactive:
            choose, press = st.columns([2, 1], vertical_alignment="bottom")
            version = choose.selectbox(f"Version to activate ({kind})", inactive, key=f"models-pick-{kind}")
            if press.button("Activate", key=f"models-activate-{kind}"):
                try:
                    info = registry.activate(engine, asset, version, kind=kind)
                except registry.RegistryError as exc:
                    st.error(str(exc))
                else:
                    st.success(
                        f"{asset}: {kind} {info.version} is active; the daemon loads it at its next poll."
                    )
                    of_kind = [v for v in registry.list_versions(engine, asset) if v.kind == kind]
    st.dataframe(models.version_table(of_kind), hide_index=True)

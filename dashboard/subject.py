"""The head of a history page (asset or camera view): which asset it shows and over which range.

The name comes from the page's query parameter (links from alerts and overview tiles) or the
selectbox; a choice the user makes is written back into the URL so it can be shared, and drops the
`at` that belonged to the previous name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import streamlit as st
from sqlalchemy.engine import Engine
from streamlit.delta_generator import DeltaGenerator

from dashboard import timerange
from dashboard.queries import assets


@dataclass(frozen=True)
class Subject:
    name: str
    at: datetime | None  # the linked moment, when a link brought the user here
    start: datetime
    end: datetime
    beside: DeltaGenerator  # the third header column, for the page's own selector


def pick_subject(
    engine: Engine, now: datetime, *, kind: str, param: str, label: str, noun: str, empty: str
) -> Subject:
    """Name selector, time range and a free column in one row; stops the page when none exist."""
    with engine.connect() as conn:
        names = assets.asset_names(conn, kind)
    if not names:
        st.info(empty)
        st.stop()
    wanted = st.query_params.get(param)
    at = timerange.at_param()
    if wanted and wanted not in names:
        st.warning(f"No {noun} named {wanted!r}.")
    pick, span, beside = st.columns([2, 3, 4])
    name = pick.selectbox(
        label, names, index=names.index(wanted) if wanted in names else 0, key=f"{param}-name"
    )
    if name != wanted:
        st.query_params[param] = name
        st.query_params.pop("at", None)
        at = None
    with span:
        start, end = timerange.pick_range(param, at, now)
    return Subject(name, at, start, end, beside)

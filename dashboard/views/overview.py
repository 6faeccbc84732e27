"""Overview: every asset and camera as a tile with its state, open alerts by severity, daemon health.

The filters sit outside the auto-refreshing fragment: a refresh redraws the live part only, so it
never resets them, and they keep their values across page switches (persist_state="session").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import context
from dashboard.formatting import age, number
from dashboard.queries import overview as q

STATE_COLOURS = {
    "in maintenance": "blue",
    "alarm": "red",
    "warning": "orange",
    "no data": "gray",
    "normal": "green",
}
KINDS = {"All": None, "Sensors": "sensor", "Cameras": "camera"}
TILE_WIDTH = 210  # four tiles a row on a 1366 px screen beside the sidebar

settings = context.settings()
config = settings.dashboard

st.title("Overview")
left, middle, right = st.columns([2, 4, 2])
kind = left.segmented_control(
    "Show", list(KINDS), default="All", required=True, key="overview_kind", persist_state="session"
)
states = middle.multiselect(
    "States", q.STATES, placeholder="every state", key="overview_states", persist_state="session"
)
search = right.text_input("Name contains", key="overview_search", persist_state="session")


def show_daemon(statuses: Sequence[q.DaemonStatus], dead_letters: int, now: datetime) -> None:
    """One line per daemon instance from its latest heartbeat; rates need two heartbeats ("…" before)."""
    if not statuses:
        st.warning("No daemon heartbeat yet: is `monitor run` running against this database?")
    history = st.session_state.setdefault("overview_heartbeats", q.HeartbeatHistory())
    silent_after = timedelta(seconds=3 * settings.scheduler.heartbeat_s)
    for status in statuses:
        earlier = history.earlier(status)
        state = ":red-badge[silent]" if now - status.at > silent_after else ":green-badge[running]"
        parts = [
            f"{state} **Daemon {status.instance}**",
            f"heartbeat {age(now - status.at)} ago",
            f"{_rate(q.rate(earlier, status, 'received'))} messages/s",
            f"{_rate(q.rate(earlier, status, 'stored_scores'))} scores stored/s",
            f"queue depth {status.stats.get('queue_depth', 0):,}",
            f"writer backlog {status.stats.get('writer_backlog', 0):,}",
        ]
        if "frame_backlog" in status.stats:
            parts.append(f"frame backlog {status.stats['frame_backlog']:,}")
        st.markdown(" · ".join(parts))
    capped = "+" if dead_letters >= q.DEAD_LETTER_CAP else ""
    st.caption(f"Dead letters in the last hour: **{dead_letters:,}{capped}**")


def _rate(value: float | None) -> str:
    return "…" if value is None else f"{value:,.1f}"


def show_alerts(by_severity: dict[str, int]) -> None:
    cells = st.columns(len(by_severity) + 1)
    for cell, (severity, count) in zip(cells, by_severity.items(), strict=False):
        cell.metric(f"Open {severity}", count)
    cells[-1].page_link("views/alerts.py", label="All alerts", icon=":material/notifications:")


def show_tile(tile: q.Tile, now: datetime) -> None:
    with st.container(border=True, width=TILE_WIDTH, gap="small"):
        st.markdown(f"**{tile.name}** :{STATE_COLOURS[tile.state]}-badge[{tile.state}]")
        seen = "never seen" if tile.last_seen is None else f"{age(now - tile.last_seen)} ago"
        facts = [tile.kind, f"score {number(tile.score)} / {number(tile.threshold)}", seen]
        facts += [f"{n} {severity}" for severity, n in tile.alerts.items()]
        st.caption(" · ".join(facts))
        page, params = tile.view
        st.page_link(page, label="Open", icon=":material/open_in_new:", query_params=params)


def show_tiles(tiles: Sequence[q.Tile], now: datetime) -> None:
    wanted = [
        t
        for t in tiles
        if (KINDS[kind] in (None, t.kind))
        and (not states or t.state in states)
        and search.strip().lower() in t.name.lower()
    ]
    if not tiles:
        st.info("No assets or cameras yet: they appear with their first readings or frames.")
    elif not wanted:
        st.info("No asset or camera matches the filters.")
    with st.container(horizontal=True, wrap=True):
        for tile in wanted:
            show_tile(tile, now)
    if len(tiles) >= config.page_rows:
        st.caption(f"The first {config.page_rows} assets by name (dashboard.page_rows).")


@st.fragment(run_every=config.refresh_s or None)
def live() -> None:
    now = datetime.now(UTC)
    with context.engine().connect() as conn:
        statuses = q.daemon_statuses(conn, config.page_rows)
        dead_letters = q.dead_letters_since(conn, now - timedelta(hours=1))
        by_severity = q.alerts_by_severity(conn)
        tiles = q.tiles(conn, now, config.page_rows)
    show_daemon(statuses, dead_letters, now)
    show_alerts(by_severity)
    show_tiles(tiles, now)


live()

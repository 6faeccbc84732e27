"""Maintenance windows: planning, ending, and which assets and times they cover."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notify_helpers import T0, seed_asset
from sqlalchemy.engine import Engine

from monitor.maintenance import active_windows, end_window, in_maintenance, plan_window

HOUR = timedelta(hours=1)


def test_window_covers_its_asset_only_between_start_and_end(engine: Engine) -> None:
    """An asset's window covers that asset from starts (inclusive) to ends (exclusive), no other."""
    seed_asset(engine, "pump-3")
    seed_asset(engine, "pump-4")
    plan_window(engine, "pump-3", T0, T0 + HOUR, "bearing swap", "olga")
    with engine.connect() as conn:
        assert in_maintenance(conn, "pump-3", T0)
        assert in_maintenance(conn, "pump-3", T0 + HOUR / 2)
        assert not in_maintenance(conn, "pump-3", T0 + HOUR)
        assert not in_maintenance(conn, "pump-3", T0 - timedelta(seconds=1))
        assert not in_maintenance(conn, "pump-4", T0 + HOUR / 2)


def test_window_without_asset_covers_every_asset(engine: Engine) -> None:
    """A plant-wide window (asset None) puts every asset in maintenance."""
    seed_asset(engine, "pump-3")
    window = plan_window(engine, None, T0, T0 + HOUR, "plant shutdown", "olga")
    with engine.connect() as conn:
        assert in_maintenance(conn, "pump-3", T0 + HOUR / 2)
        assert in_maintenance(conn, "any-camera", T0 + HOUR / 2)
        [active] = active_windows(conn, T0 + HOUR / 2)
    assert (active.id, active.asset, active.reason, active.created_by) == (
        window,
        None,
        "plant shutdown",
        "olga",
    )


def test_bad_windows_are_refused_with_a_clear_message(engine: Engine) -> None:
    """An empty or reversed window, or one for an unknown asset, raises ValueError and stores nothing."""
    seed_asset(engine, "pump-3")
    with pytest.raises(ValueError, match="before it starts"):
        plan_window(engine, "pump-3", T0, T0, "", "olga")
    with pytest.raises(ValueError, match="unknown asset or camera 'pump-9'"):
        plan_window(engine, "pump-9", T0, T0 + HOUR, "", "olga")
    with engine.connect() as conn:
        assert active_windows(conn, T0) == []


def test_ending_a_window_stops_it_now(engine: Engine) -> None:
    """end_window ends an active window at `now`; ending it again or an unknown id is an error."""
    seed_asset(engine, "pump-3")
    window = plan_window(engine, "pump-3", T0, T0 + HOUR, "", "olga")
    end_window(engine, window, "olga", now=T0 + timedelta(minutes=10))
    with engine.connect() as conn:
        assert in_maintenance(conn, "pump-3", T0 + timedelta(minutes=5))
        assert not in_maintenance(conn, "pump-3", T0 + timedelta(minutes=10))
        assert active_windows(conn, T0 + timedelta(minutes=20)) == []
    with pytest.raises(ValueError, match=f"maintenance window {window} has already ended"):
        end_window(engine, window, "olga", now=T0 + timedelta(minutes=20))
    with pytest.raises(ValueError, match="no maintenance window 999"):
        end_window(engine, 999, "olga", now=T0)


def test_ending_a_planned_window_cancels_it(engine: Engine) -> None:
    """A window ended before it starts covers no time at all."""
    seed_asset(engine, "pump-3")
    window = plan_window(engine, "pump-3", T0 + HOUR, T0 + 2 * HOUR, "", "olga")
    end_window(engine, window, "olga", now=T0)
    with engine.connect() as conn:
        assert not in_maintenance(conn, "pump-3", T0 + HOUR + timedelta(minutes=1))
        assert active_windows(conn, T0 + HOUR + timedelta(minutes=1)) == []

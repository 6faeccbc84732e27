"""Operator actions: acknowledge and resolve change the alert, its audit trail and its notifications at once."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from notify_helpers import T0, alert_row, events, outbox_rows, seed_alert, seed_asset, seed_told
from sqlalchemy.engine import Engine

from monitor import alert_actions
from monitor.alert_actions import ActionError, acknowledge, resolve
from monitor.settings import Settings

LATER = T0 + timedelta(minutes=3)


def settings() -> Settings:
    return Settings(
        notify={
            "webhooks": {"ops": {"url": "http://127.0.0.1:9/hook"}},
            "routes": [{"name": "oncall", "webhooks": ["ops"]}],
        }
    )


def test_acknowledge_records_who_why_and_announces_it(engine: Engine) -> None:
    """The alert becomes acknowledged by the user with the comment, logged and queued on the alerts
    topic and to the webhook that was told of the alert."""
    seed_asset(engine)
    seed_alert(engine)
    seed_told(engine, "a1", "webhook", "ops")
    acknowledge(engine, settings(), "a1", "olga", " checking the bearing ", now=LATER)
    row = alert_row(engine)
    assert (row.state, row.acknowledged_by, row.ack_comment, row.acknowledged_at) == (
        "acknowledged",
        "olga",
        "checking the bearing",
        LATER,
    )
    assert events(engine) == [("acknowledged", "olga", "checking the bearing")]
    [_, mqtt, hook] = outbox_rows(engine)
    assert (mqtt.channel, mqtt.target, json.loads(mqtt.payload)["state"]) == (
        "mqtt",
        "plant/north/pump-3/alerts",
        "acknowledged",
    )
    assert (hook.channel, hook.target, hook.route) == ("webhook", "ops", "oncall")


def test_acknowledge_needs_a_comment_and_an_open_alert(engine: Engine) -> None:
    """No comment, an unknown or an already resolved alert: ActionError and nothing is written."""
    seed_asset(engine)
    seed_alert(engine)
    seed_alert(engine, "a2", state="resolved", resolved_at=T0)
    with pytest.raises(ActionError, match="a comment is required"):
        acknowledge(engine, settings(), "a1", "olga", "  ")
    with pytest.raises(ActionError, match="no alert nope"):
        acknowledge(engine, settings(), "nope", "olga", "x")
    with pytest.raises(ActionError, match="alert a2 is already resolved"):
        acknowledge(engine, settings(), "a2", "olga", "x")
    assert alert_row(engine).state == "open"
    assert events(engine) == []
    assert outbox_rows(engine) == []


def test_resolve_an_acknowledged_alert(engine: Engine) -> None:
    """Resolve records the user and time; resolving twice is refused."""
    seed_asset(engine)
    seed_alert(engine)
    seed_told(engine, "a1", "webhook", "ops")
    acknowledge(engine, settings(), "a1", "olga", "on it", now=LATER)
    resolve(engine, settings(), "a1", "piet", "bearing replaced", now=LATER + timedelta(minutes=1))
    row = alert_row(engine)
    assert (row.state, row.resolved_by, row.resolved_at) == ("resolved", "piet", LATER + timedelta(minutes=1))
    assert events(engine) == [("acknowledged", "olga", "on it"), ("resolved", "piet", "bearing replaced")]
    assert [json.loads(r.payload)["state"] for r in outbox_rows(engine)[1:] if r.channel == "webhook"] == [
        "acknowledged",
        "resolved",
    ]
    with pytest.raises(ActionError, match="already resolved"):
        resolve(engine, settings(), "a1", "piet")


def test_two_operators_acknowledging_at_once_make_one_change(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two acknowledgements racing (SQLite ignores FOR UPDATE): one wins, the other is told to look
    again; one audit line, one comment, one notification on the alerts topic."""
    seed_asset(engine)
    seed_alert(engine)
    slow_check = alert_actions.in_maintenance

    def slowly(*args: Any) -> bool:
        time.sleep(0.3)  # inside the first action's transaction, after its update
        return slow_check(*args)

    monkeypatch.setattr(alert_actions, "in_maintenance", slowly)
    outcomes: list[str] = []

    def act(user: str) -> None:
        try:
            acknowledge(engine, settings(), "a1", user, f"comment by {user}")
            outcomes.append("ok")
        except ActionError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=act, args=(user,)) for user in ("ann", "bob")]
    threads[0].start()
    time.sleep(0.1)
    threads[1].start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[1] == "ok" and "a1" in sorted(outcomes)[0]
    assert [actor for _, actor, _ in events(engine)] == ["ann"]
    assert alert_row(engine).ack_comment == "comment by ann"
    assert len(outbox_rows(engine)) == 1

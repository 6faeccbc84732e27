"""`monitor demo`: everything local, scores stored and an alert raised for an injected fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import unique_name

from dashboard import launch
from dashboard.auth import User, authenticate
from monitor import demo, simulate
from monitor.cli.main import main
from monitor.settings import Settings, load_settings

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_demo_schedule_faults_every_asset_soon_after_warmup() -> None:
    """Each pump gets a different fault within seconds of the warm-up, repeating every period."""
    assets = simulate.asset_names(4)
    faults = demo.demo_schedule(assets, START, warmup_s=8, horizon_s=200)
    first = faults[:4]
    assert {f.asset for f in first} == set(assets)
    assert len({f.kind for f in first}) == 4
    assert all(START + timedelta(seconds=8) <= f.start <= START + timedelta(seconds=20) for f in first)
    assert len(faults) == 4 * 3  # cycles starting at 8, 98 and 188 s


def test_demo_rejects_a_nonsense_duration(capsys: pytest.CaptureFixture[str]) -> None:
    """Bad arguments are one-line errors, before anything starts."""
    assert main(["demo", "--duration", "0"]) == 2
    assert "--duration must be positive" in capsys.readouterr().err


def test_demo_dashboard_serves_the_demo_database_with_the_printed_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard answers while the demo runs, its operator password is the one printed; it stops after."""
    settings = Settings(
        database={"url": f"sqlite:///{tmp_path / 'demo.db'}"}, models={"store": str(tmp_path / "m")}
    )
    lines: list[str] = []
    with demo.demo_dashboard(settings, demo.DemoOptions(), lines.append) as served:
        assert served is not None
        assert launch.wait_healthy(served.url, timeout_s=60)
    assert lines == [
        f"dashboard: {served.url}  (log in as operator / {served.password}; server log {tmp_path / 'demo-dashboard.log'})"
    ]
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    seen_by_dashboard = load_settings(None)
    assert seen_by_dashboard.database.url == settings.database.url
    assert authenticate(seen_by_dashboard.dashboard, "operator", served.password) == User(
        "operator", "operator"
    )
    assert not launch.wait_healthy(served.url, timeout_s=1)


@pytest.mark.slow
def test_demo_on_the_embedded_broker_scores_and_raises_an_alert(tmp_path: Path) -> None:
    """A 30 s demo on amqtt stores scores and opens at least one alert for the injected faults."""
    settings = Settings(
        instance="demo-test",
        mqtt={"topic_prefix": unique_name("demo"), "client_id": unique_name("demo-daemon")},
        database={"url": f"sqlite:///{tmp_path / 'demo.db'}"},
        models={"store": str(tmp_path / "models")},
        metrics={"enabled": False},
        worker={"state_dir": str(tmp_path / "state")},
    )
    options = demo.DemoOptions(duration_s=30, broker="embedded", status_every_s=5)
    lines: list[str] = []
    status = demo.run_demo(settings, options, say=lines.append)
    assert any("embedded amqtt" in line for line in lines)
    assert any(line.startswith("dashboard: http://") for line in lines)
    assert status.published >= 4 * 5 * 29
    assert status.scored >= status.published - 4 * 31 - 40
    assert status.alerts_total >= 1

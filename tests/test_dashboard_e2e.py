"""End to end in a real browser: the daemon raises an alert, an operator acknowledges it on the dashboard.

Debian's Chromium (`/usr/bin/chromium`, installed by `.ci/run`) driven by Playwright; no browser is
downloaded. The screenshot of the acknowledged alert is kept under var/test-output/ for people to
look at.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import require
from daemon_helpers import (
    Publisher,
    count,
    daemon_settings,
    install_model,
    query,
    reading,
    running,
    tiny_model,
    wait_for,
)
from dashboard_helpers import PASSWORDS, write_config
from playwright.sync_api import Page, expect, sync_playwright

from dashboard import launch
from monitor.bench.brokers import free_port

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# Headless on a machine without outside network: no background fetches, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(__file__).resolve().parents[1] / "var" / "test-output"
PLANT_SCREEN = {"width": 1366, "height": 768}


@contextmanager
def dashboard_server(config: Path) -> Iterator[str]:
    """`monitor dashboard` on a free port for the block; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "dashboard", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = launch.url("127.0.0.1", port)
        assert launch.wait_healthy(base, timeout_s=60), "the dashboard did not come up"
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def recent(i: int, values: list[float] | None = None) -> dict[str, Any]:
    """Reading number i of the last minute, so the alert falls in the page's default time range."""
    start = datetime.now(UTC) - timedelta(seconds=60)
    return {**reading(i, values), "ts": (start + timedelta(seconds=i)).isoformat()}


def log_in(page: Page, base: str, name: str, password: str) -> None:
    page.goto(base)
    page.get_by_label("User").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"{name} · operator")).to_be_visible(timeout=30_000)


def test_operator_acknowledges_a_daemon_alert_in_the_browser(
    tmp_path: Path, postgres_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """Published fault -> alert row -> seen and acknowledged in Chromium -> acknowledgement in SQL."""
    require(CHROMIUM.exists(), f"no browser at {CHROMIUM} (.ci/run installs Debian's chromium)")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    settings = daemon_settings(tmp_path, postgres_url, mqtt_broker, topic_prefix, alerts={"k": 2, "n": 3})
    install_model(settings, ["pump1"], tiny_model())
    config = write_config(tmp_path / "monitor.yaml", postgres_url)
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings), dashboard_server(config) as base:
            topic = f"{topic_prefix}/site1/pump1/sensors"
            publisher.publish_many(topic, [recent(i) for i in range(40)])
            publisher.publish_many(topic, [recent(i, [50.0, -50.0, 80.0]) for i in range(40, 50)])
            assert wait_for(lambda: count(postgres_url, "alerts", "state = 'open'") == 1)

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=PLANT_SCREEN)
                try:
                    log_in(page, base, "operator", PASSWORDS["operator"])
                    page.get_by_role("link", name="Alerts", exact=True).click()
                    expect(page.get_by_role("heading", name="Alerts")).to_be_visible(timeout=30_000)
                    page.get_by_role("combobox", name="Details of").click()
                    page.get_by_role("option").filter(has_text="pump1").first.click()
                    expect(page.get_by_role("heading", name="pump1")).to_contain_text("open", timeout=30_000)
                    page.get_by_label("Comment").fill("bearing noise, greased")
                    page.get_by_role("button", name="Acknowledge", exact=True).click()
                    expect(page.get_by_text("acknowledged by operator").first).to_be_visible(timeout=30_000)
                    page.screenshot(path=OUTPUT / "dashboard-alert-acknowledged.png", full_page=True)
                except Exception:
                    page.screenshot(path=OUTPUT / "dashboard-e2e-failure.png", full_page=True)
                    raise
                finally:
                    browser.close()
    finally:
        publisher.close()

    state, by, comment = query(postgres_url, "SELECT state, acknowledged_by, ack_comment FROM alerts")[0]
    assert (state, by, comment) == ("acknowledged", "operator", "bearing noise, greased")
    events = query(postgres_url, "SELECT action, actor, comment FROM alert_events ORDER BY at, id")
    assert ("acknowledged", "operator", "bearing noise, greased") in [tuple(e) for e in events]
    assert (OUTPUT / "dashboard-alert-acknowledged.png").stat().st_size > 10_000

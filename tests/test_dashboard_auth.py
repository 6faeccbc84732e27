"""Login and roles: users and bcrypt hashes from the config; viewers change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_helpers import (
    APP,
    PASSWORDS,
    DashboardEnv,
    add_alert,
    add_asset,
    log_in,
    open_dashboard,
    page_text,
)
from streamlit.testing.v1 import AppTest

from dashboard.auth import User, authenticate, hash_password
from monitor.settings import DashboardSettings


def test_login_with_the_right_password_opens_the_overview(pg_dashboard: DashboardEnv) -> None:
    """The login form, then the overview as that user."""
    at = pg_dashboard.app(None)
    assert [t.label for t in at.text_input] == ["User", "Password"]
    assert "Overview" not in page_text(at)

    log_in(at, "operator", PASSWORDS["operator"])

    assert not at.exception
    assert "Overview" in page_text(at)
    assert "Password" not in [t.label for t in at.text_input]


def test_a_page_link_in_a_new_session_asks_for_the_login_then_opens_that_page(
    pg_dashboard: DashboardEnv,
) -> None:
    """An e-mail's /alerts?alert=<id> in a fresh browser: the login form, no data; then that alert."""
    add_asset(pg_dashboard.engine, "pump-1")
    alert_id = add_alert(pg_dashboard.engine, "pump-1")
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.query_params["alert"] = alert_id
    at.switch_page("views/alerts.py").run()
    assert [t.label for t in at.text_input] == ["User", "Password"]
    assert "pump-1" not in page_text(at)

    log_in(at, "viewer", PASSWORDS["viewer"])

    assert "pump-1 · warning · open" in page_text(at)


@pytest.mark.parametrize(("name", "password"), [("operator", "wrong"), ("nobody", "operator-pw"), ("", "")])
def test_a_wrong_password_or_unknown_user_is_refused(
    pg_dashboard: DashboardEnv, name: str, password: str
) -> None:
    """One message that does not say which of the two was wrong; the form stays."""
    at = log_in(pg_dashboard.app(None), name, password)
    assert [e.value for e in at.error] == ["Unknown user or wrong password."]
    assert [t.label for t in at.text_input] == ["User", "Password"]


def test_without_users_everyone_reads_and_nobody_acts(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No users configured: no login form, pages show data, no action buttons."""
    with open_dashboard(postgres_url, tmp_path, monkeypatch, dashboard={"users": {}}) as env:
        add_asset(env.engine, "pump-1")
        alert_id = add_alert(env.engine, "pump-1")
        at = env.app(None, page="views/alerts.py", query={"alert": alert_id})
        assert not at.text_input
        assert "pump-1 · warning · open" in page_text(at)
        assert not at.button


def test_roles_rank_viewer_operator_admin() -> None:
    """Each role may do what the roles below it may."""
    allowed = {
        role: [other for other in ("viewer", "operator", "admin") if User("u", role).can(other)]
        for role in ("viewer", "operator", "admin")
    }  # type: ignore[arg-type]
    assert allowed == {
        "viewer": ["viewer"],
        "operator": ["viewer", "operator"],
        "admin": ["viewer", "operator", "admin"],
    }


def test_hash_password_makes_a_hash_the_login_accepts() -> None:
    """What `hash_password` prints is what goes into the config, and only that password matches it."""
    config = DashboardSettings(users={"ann": {"password_hash": hash_password("s3cret!"), "role": "admin"}})
    assert authenticate(config, "ann", "s3cret!") == User("ann", "admin")
    assert authenticate(config, "ann", "s3cret") is None


def test_an_over_long_password_is_a_failed_login() -> None:
    """bcrypt refuses passwords over 72 bytes with an error: the login page answers a refusal,
    not a traceback to whoever is at the door (for a known user and an unknown one)."""
    config = DashboardSettings(users={"ann": {"password_hash": hash_password("s3cret!"), "role": "admin"}})
    assert authenticate(config, "ann", "x" * 100) is None
    assert authenticate(config, "nobody", "x" * 100) is None

"""The e-mail channel against a real local SMTP server (aiosmtpd) with STARTTLS and AUTH LOGIN."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from notify_helpers import T0, outbox_rows, seed_asset
from sqlalchemy import text
from sqlalchemy.engine import Engine

from monitor.notify.email import email_sender
from monitor.notify.outbox import OutboxNotifier
from monitor.settings import NotifySettings
from monitor.store.db import create_engine_for
from monitor.store.migrate import upgrade
from monitor.store.records import AlertRecord, AlertState, Severity
from monitor.store.writer import StoreWriter

PUBLIC_URL = "http://dashboard.plant.example:8501/"


class Mailbox:
    """What the SMTP server accepted, and with which login mechanism."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.logins: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((mechanism, data.login))
        return AuthResult(success=(data.login, data.password) == (b"alerts", b"mail-pw"), handled=False)


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context and a client context trusting it."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


@pytest.fixture
def smtp_server(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[tuple[Mailbox, int]]:
    """aiosmtpd refusing mail before STARTTLS and login, offering only AUTH LOGIN."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls[0],
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        auth_exclude_mechanism=["PLAIN"],
        authenticator=mailbox.authenticate,
    )
    controller.start()
    yield mailbox, port
    controller.stop()


def queued_alert(database_url: str, notify: NotifySettings) -> Engine:
    """A critical alert of pump-3 stored by the writer, routed to one e-mail address."""
    upgrade(database_url)
    engine = create_engine_for(database_url)
    seed_asset(engine, "pump-3", "north")
    writer = StoreWriter(engine, interval_s=0.01, notify=notify)
    writer.put(
        AlertRecord(
            id="a1",
            asset="pump-3",
            condition="sensor_score",
            state=AlertState.OPEN,
            severity=Severity.CRITICAL,
            score=9.5,
            peak_score=11.25,
            threshold=2.0,
            top_channels=[{"name": "vibration", "value": 6.125}, {"name": "bearing_temp", "value": 2.5}],
            opened_at=T0,
            updated_at=T0 + timedelta(seconds=30),
        )
    )
    assert writer.close(timeout=10)
    return engine


def settings_for(port: int, password: str = "mail-pw") -> NotifySettings:
    return NotifySettings(
        smtp={"host": "127.0.0.1", "port": port, "username": "alerts", "password": password,
              "sender": "monitor@plant.example", "timeout_s": 5},
        routes=[{"name": "maintenance", "emails": ["tech@plant.example"]}],
    )  # fmt: skip


def test_alert_mail_is_sent_over_starttls_with_login_and_reads_well(
    sqlite_url: str, smtp_server: tuple[Mailbox, int], tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """The message names asset, severity, state, score vs threshold, top channels, opened time and a link."""
    mailbox, port = smtp_server
    notify = settings_for(port)
    engine = queued_alert(sqlite_url, notify)
    assert notify.smtp is not None
    notifier = OutboxNotifier(engine, {"email": email_sender(notify.smtp, PUBLIC_URL, tls=tls[1])})
    assert notifier.deliver_due() == 1
    assert [r.state for r in outbox_rows(engine) if r.channel == "email"] == ["delivered"]
    assert mailbox.logins == [("LOGIN", b"alerts")]
    [(sender, recipients, message)] = mailbox.messages
    assert (sender, recipients) == ("monitor@plant.example", ["tech@plant.example"])
    assert message["Subject"] == "[CRITICAL] pump-3 alert open"
    assert message["To"] == "tech@plant.example"
    body = message.get_payload()
    assert isinstance(body, str)
    for line in (
        "pump-3: critical alert, open.",
        "Score:       9.5 against threshold 2 (4.8x)",
        "Peak score:  11.25",
        "  vibration: 6.125",
        "  bearing_temp: 2.5",
        "Opened:      2026-03-02 08:00:00 UTC",
        "Route:       maintenance",
        "Open in the dashboard: http://dashboard.plant.example:8501/alerts?alert=a1",
    ):
        assert line in body.splitlines()
    engine.dispose()


def test_refused_login_keeps_the_mail_pending_with_the_reason(
    sqlite_url: str, smtp_server: tuple[Mailbox, int], tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """A wrong password is a failed attempt with the SMTP error as last_error; nothing is delivered."""
    mailbox, port = smtp_server
    notify = settings_for(port, password="wrong")
    engine = queued_alert(sqlite_url, notify)
    assert notify.smtp is not None
    notifier = OutboxNotifier(engine, {"email": email_sender(notify.smtp, PUBLIC_URL, tls=tls[1])})
    assert notifier.deliver_due() == 1
    assert mailbox.messages == []
    with engine.connect() as conn:
        state, error = conn.execute(
            text("SELECT state, last_error FROM outbox WHERE channel = 'email'")
        ).one()
    assert state == "pending"
    assert error.startswith("DeliveryError: smtp 127.0.0.1:") and "SMTPAuthenticationError" in error
    engine.dispose()


def test_untrusted_server_certificate_is_refused(sqlite_url: str, smtp_server: tuple[Mailbox, int]) -> None:
    """With the system's CAs the self-signed server is not trusted: no mail goes out in clear or at all."""
    mailbox, port = smtp_server
    notify = settings_for(port)
    engine = queued_alert(sqlite_url, notify)
    assert notify.smtp is not None
    notifier = OutboxNotifier(engine, {"email": email_sender(notify.smtp, PUBLIC_URL)})
    assert notifier.deliver_due() == 1
    assert mailbox.messages == [] and mailbox.logins == []
    with engine.connect() as conn:
        error = conn.execute(text("SELECT last_error FROM outbox WHERE channel = 'email'")).scalar_one()
    assert "SSLCertVerificationError" in error
    engine.dispose()

"""The e-mail channel: a plain-text message a maintenance technician can read on a phone.

The outbox target is the recipient's address and the payload the alert's JSON; the message is
composed at sending time, with a link to the alert in the dashboard (`dashboard.public_url`).
Connects per message (alerts are rare; no idle connection to lose), STARTTLS and login as configured.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote

from monitor.notify.outbox import DeliveryError, Sender
from monitor.settings import SmtpSettings


def alert_link(public_url: str, alert_id: str) -> str:
    return f"{public_url.rstrip('/')}/alerts?alert={quote(alert_id)}"


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S UTC")


def compose(alert: dict[str, Any], sender: str, recipient: str, public_url: str) -> EmailMessage:
    """Subject like `[CRITICAL] pump-3 alert open`; the body says what, how bad, which channels, where."""
    severity, asset, state = str(alert["severity"]).upper(), alert["asset"], alert["state"]
    escalated = bool(alert.get("escalated"))
    subject = f"[{severity}] {asset} alert {state}" + (" - escalated, not acknowledged" if escalated else "")
    score, threshold = float(alert["score"]), float(alert["threshold"])
    ratio = f" ({score / threshold:.1f}x)" if threshold > 0 else ""
    lines = [
        f"{asset}: {alert['severity']} alert, {state}.",
        *(["Escalated: still open and not acknowledged by anyone."] if escalated else []),
        "",
        f"Score:       {score:.4g} against threshold {threshold:.4g}{ratio}",
        f"Peak score:  {float(alert['peak_score']):.4g}",
        "Top channels:",
        *(f"  {channel['name']}: {float(channel['value']):.4g}" for channel in alert["top_channels"]),
        f"Opened:      {_when(alert['opened_at'])}",
        f"Updated:     {_when(alert['updated_at'])}",
        *([f"Resolved:    {_when(alert['resolved_at'])}"] if alert.get("resolved_at") else []),
        *([f"Route:       {alert['route']}"] if alert.get("route") else []),
        "",
        f"Open in the dashboard: {alert_link(public_url, alert['id'])}",
        f"Alert id: {alert['id']}",
    ]
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content("\n".join(lines) + "\n")
    return message


def email_sender(smtp: SmtpSettings, public_url: str, tls: ssl.SSLContext | None = None) -> Sender:
    """Send one message per row; `tls` verifies the server for STARTTLS (default: system CAs)."""
    context = tls or ssl.create_default_context()

    def send(target: str, payload: str) -> None:
        message = compose(json.loads(payload), smtp.sender, target, public_url)
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
                if smtp.starttls:
                    client.starttls(context=context)
                if smtp.username:
                    password = smtp.password.get_secret_value() if smtp.password else ""
                    client.login(smtp.username, password)
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            # The server refusing the address for good (5xx to RCPT TO) is final; anything else
            # (server down, full, authentication being fixed) is worth another try.
            refused = isinstance(exc, smtplib.SMTPRecipientsRefused) and all(
                code >= 500 for code, _ in exc.recipients.values()
            )
            detail = f"smtp {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}"[:300]
            raise DeliveryError(detail, permanent=refused) from exc

    return send

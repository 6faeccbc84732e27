"""The webhook channel: each notification is POSTed as JSON, signed with the webhook's secret.

The outbox target is the webhook's name; its URL, secret and timeout come from `notify.webhooks`,
so secrets stay in the configuration and never in the database. Receivers check
`X-Monitor-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with the shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import requests

from monitor.notify.outbox import DeliveryError, Sender
from monitor.settings import WebhookSettings

SIGNATURE_HEADER = "X-Monitor-Signature"


def signature(secret: str, body: bytes) -> str:
    """The header value for `body`: sha256=<hex digest>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


RETRIED_CLIENT_ERRORS = (408, 425, 429)  # request timeout, too early, too many requests


def webhook_sender(webhooks: Mapping[str, WebhookSettings]) -> Sender:
    """POST the payload to the named webhook; anything but a 2xx answer is a failed attempt."""
    session = requests.Session()  # keeps connections to the same endpoint open between alerts

    def send(target: str, payload: str) -> None:
        hook = webhooks.get(target)
        if hook is None:
            raise DeliveryError(f"webhook {target!r} is not configured (notify.webhooks)", permanent=True)
        body = payload.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "plant-monitor"}
        if hook.secret is not None:
            headers[SIGNATURE_HEADER] = signature(hook.secret.get_secret_value(), body)
        # Errors name the webhook, not its URL: URLs often carry tokens, and last_error is shown.
        try:
            response = session.post(hook.url, data=body, headers=headers, timeout=hook.timeout_s)
        except requests.RequestException as exc:
            raise DeliveryError(f"webhook {target}: {type(exc).__name__}") from exc
        status = response.status_code
        if not 200 <= status < 300:
            # A 4xx refuses this very request (bad payload, no such hook): retrying sends it again.
            # Timeouts, rate limits and server errors pass.
            refused = 400 <= status < 500 and status not in RETRIED_CLIENT_ERRORS
            raise DeliveryError(f"webhook {target}: HTTP {status}", permanent=refused)

    return send

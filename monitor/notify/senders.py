"""The channels the daemon delivers on, built from the configuration."""

from __future__ import annotations

from monitor.comms.mqtt import MqttConnection
from monitor.notify.email import email_sender
from monitor.notify.enqueue import MQTT
from monitor.notify.outbox import Sender, mqtt_sender
from monitor.notify.routing import EMAIL, WEBHOOK
from monitor.notify.webhook import webhook_sender
from monitor.settings import Settings


def build_senders(settings: Settings, publisher: MqttConnection) -> dict[str, Sender]:
    """MQTT always; webhook and e-mail when configured (rows of a channel with no sender wait)."""
    notify = settings.notify
    senders = {MQTT: mqtt_sender(publisher)}
    if notify.webhooks:
        senders[WEBHOOK] = webhook_sender(notify.webhooks)
    if notify.smtp is not None:
        senders[EMAIL] = email_sender(notify.smtp, settings.dashboard.public_url)
    return senders

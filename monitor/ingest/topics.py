"""The MQTT topic grammar (fixed contract): sensors and camera frames in, alerts out, service status.

`<prefix>/<site>/<asset>/sensors`, `<prefix>/<site>/<camera>/frames`, `<prefix>/<site>/<asset>/alerts`,
`<prefix>/monitor/<instance>/status`.
Parsing lives here so the receiver, the notifier and the tests agree on one spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
FRAMES_SUFFIX = "/frames"


@dataclass(frozen=True, slots=True)
class SensorTopic:
    site: str
    asset: str


class TopicError(ValueError):
    """A topic that does not follow the grammar; its message is the dead-letter reason."""


def sensor_subscription(prefix: str) -> str:
    """The wildcard subscription that receives every site's sensor readings."""
    return f"{prefix}/+/+/sensors"


def sensor_topic(prefix: str, site: str, asset: str) -> str:
    return f"{prefix}/{site}/{asset}/sensors"


def frames_subscription(prefix: str) -> str:
    """The wildcard subscription that receives every site's camera frames."""
    return f"{prefix}/+/+/frames"


def frames_topic(prefix: str, site: str, camera: str) -> str:
    return f"{prefix}/{site}/{camera}/frames"


def is_frames_topic(topic: str) -> bool:
    """The receive callback's cheap test that routes a message to the camera path."""
    return topic.endswith(FRAMES_SUFFIX)


def alerts_topic(prefix: str, site: str, asset: str) -> str:
    return f"{prefix}/{site}/{asset}/alerts"


def status_topic(prefix: str, instance: str) -> str:
    return f"{prefix}/monitor/{instance}/status"


def parse_sensor_topic(prefix: str, topic: str) -> SensorTopic:
    """Split a sensor topic into site and asset, checking both names against the grammar."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != prefix or parts[3] != "sensors":
        raise TopicError("bad_topic")
    site, asset = parts[1], parts[2]
    if not NAME_RE.fullmatch(site):
        raise TopicError("bad_site_name")
    if not NAME_RE.fullmatch(asset):
        raise TopicError("bad_asset_name")
    return SensorTopic(site, asset)


def parse_frames_topic(prefix: str, topic: str) -> SensorTopic:
    """Split a camera topic into site and camera (same name rules as sensor assets)."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != prefix or parts[3] != "frames":
        raise TopicError("bad_topic")
    site, camera = parts[1], parts[2]
    if not NAME_RE.fullmatch(site):
        raise TopicError("bad_site_name")
    if not NAME_RE.fullmatch(camera):
        raise TopicError("bad_asset_name")
    return SensorTopic(site, camera)

"""Who hears about an alert: the routes of `notify` matched against the alert's asset and severity.

Groups name assets with shell patterns (`pump-*`), so a new pump joins its group without a config
change. The MQTT alerts topic is not a route: it carries every alert change (fixed contract).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from monitor.settings import NotifySettings, RouteSettings

WEBHOOK = "webhook"
EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Target:
    """One delivery: the outbox channel, its target (webhook name or e-mail address) and the route."""

    channel: str
    target: str
    route: str


def in_group(notify: NotifySettings, group: str, asset: str) -> bool:
    return any(fnmatchcase(asset, pattern) for pattern in notify.groups.get(group, []))


def route_matches(notify: NotifySettings, route: RouteSettings, asset: str, severity: str) -> bool:
    """A route with no groups takes every asset; severities always filter."""
    if severity not in route.severities:
        return False
    return not route.groups or any(in_group(notify, group, asset) for group in route.groups)


def route_targets(route: RouteSettings) -> list[Target]:
    return [Target(WEBHOOK, name, route.name) for name in route.webhooks] + [
        Target(EMAIL, address, route.name) for address in route.emails
    ]


def targets_for(notify: NotifySettings, asset: str, severity: str) -> list[Target]:
    """Every (channel, target) the alert goes to, once each; the first matching route names it."""
    seen: dict[tuple[str, str], Target] = {}
    for route in notify.routes:
        if route_matches(notify, route, asset, severity):
            for target in route_targets(route):
                seen.setdefault((target.channel, target.target), target)
    return list(seen.values())


def escalation_targets(notify: NotifySettings) -> list[Target]:
    """The escalation route's targets (its groups and severities do not apply); none without one."""
    route = notify.escalation.route
    return route_targets(route) if route is not None else []

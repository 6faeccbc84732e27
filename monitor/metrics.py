"""Prometheus metrics of one daemon: what operators watch (rates, invalid inputs, latency, backlog).

Each daemon owns its registry, so several daemons in one process (tests, the benchmark) never
collide. Hot paths update them once per batch (`inc(n)`, one latency observation), never per message.
"""

from __future__ import annotations

from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from monitor.settings import MetricsSettings

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The daemon's counters, gauges and histograms, plus the HTTP endpoint serving them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("monitor_messages_received", "MQTT messages received.", registry=r)
        self.invalid = Counter(
            "monitor_messages_invalid", "Messages sent to dead letters, by reason.", ["reason"], registry=r
        )
        self.readings = Counter("monitor_readings_decoded", "Valid sensor readings decoded.", registry=r)
        self.scored = Counter("monitor_readings_scored", "Readings scored (one score row each).", registry=r)
        self.repeated = Counter(
            "monitor_readings_repeated",
            "Readings received again (QoS 1 redelivery after a reconnect) and dropped: already taken.",
            registry=r,
        )
        self.skipped = Counter(
            "monitor_readings_not_ours",
            "Readings of assets another worker owns (hash partition).",
            registry=r,
        )
        self.alerts_opened = Counter("monitor_alerts_opened", "Alerts opened.", registry=r)
        self.scoring_latency = Histogram(
            "monitor_scoring_seconds",
            "Model time per batch (score_windows).",
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.ingest_latency = Histogram(
            "monitor_receive_to_scored_seconds",
            "From MQTT receive to score handed to the writer.",
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.stored_lag = Histogram(
            "monitor_stored_lag_seconds",
            "From a reading's timestamp to its score row committed (publish-to-stored when publishers stamp ts).",
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.queue_depth = Gauge(
            "monitor_queue_depth", "Messages waiting for the scoring worker.", registry=r
        )
        self.writer_backlog = Gauge(
            "monitor_writer_backlog", "Records waiting for the SQL writer.", registry=r
        )
        self.worker_restarts = Counter(
            "monitor_worker_restarts", "Worker threads restarted by the watchdog.", registry=r
        )
        self._server: WSGIServer | None = None

    def track(self, queue_depth: Callable[[], float], writer_backlog: Callable[[], float]) -> None:
        """Read backlogs when scraped instead of updating gauges on the hot path."""
        self.queue_depth.set_function(queue_depth)
        self.writer_backlog.set_function(writer_backlog)

    def serve(self, settings: MetricsSettings) -> int | None:
        """Serve /metrics when enabled; returns the bound port (port 0 picks a free one)."""
        if not settings.enabled:
            return None
        self._server, _ = start_http_server(settings.port, settings.host, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

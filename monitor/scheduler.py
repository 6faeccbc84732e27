"""The daemon's periodic jobs (APScheduler BackgroundScheduler).

- recalibration: asks the scoring worker and the camera worker to refit every detector's threshold
  (each does it between batches, it owns its detectors); the new values go to the `thresholds`
  history;
- retention: roll up and delete old rows, remove old inspection artifacts (`apply_retention`);
- heartbeat: a `heartbeats` row (written through the writer, so it also proves the writer works) and
  a log line with the counters;
- registry poll: hot reload of newly activated model versions; and alerts an operator resolved
  while their detector still held them open are released, so a condition that persists opens a new
  alert instead of updating the resolved one;
- escalation (when `notify.escalation.route` is set): re-send unacknowledged alerts
  (monitor/notify/escalation.py), then wake the notifier;
- held back (when routes are set): tell the routes of open alerts the repeat limit or a
  maintenance window kept from them, once that is over (monitor/notify/held_back.py).
Each job runs alone (max_instances=1) and coalesces missed runs: a slow job never piles up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from monitor.alert_actions import resolved_among
from monitor.notify import held_back
from monitor.notify.escalation import check_interval_s, escalate_due
from monitor.notify.routing import escalation_targets
from monitor.pipeline.camera_worker import CameraWorker
from monitor.pipeline.worker import ScoringWorker
from monitor.settings import Settings
from monitor.store.records import HeartbeatRecord
from monitor.store.retention import apply_retention
from monitor.store.writer import StoreWriter

log = logging.getLogger(__name__)


class MonitorScheduler:
    """Owns the BackgroundScheduler and the job functions; `start()` / `stop()` from the daemon."""

    def __init__(
        self,
        settings: Settings,
        worker: ScoringWorker,
        writer: StoreWriter,
        engine: Engine,
        reload_models: Callable[[], int],
        cameras: CameraWorker | None = None,
        wake_notifier: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker
        self.writer = writer
        self.engine = engine
        self.reload_models = reload_models
        self.cameras = cameras
        self.wake_notifier = wake_notifier
        self._scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )

    def start(self) -> None:
        s = self.settings
        add = self._scheduler.add_job
        add(self.recalibrate, "interval", seconds=s.thresholds.recalibrate_every_s, id="recalibrate")
        if self.cameras is not None:
            add(
                self.cameras.request_recalibration,
                "interval",
                seconds=s.image_thresholds.recalibrate_every_s,
                id="recalibrate-cameras",
            )
        add(self.retention, "interval", seconds=s.scheduler.retention_every_s, id="retention")
        add(
            self.heartbeat,
            "interval",
            seconds=s.scheduler.heartbeat_s,
            id="heartbeat",
            next_run_time=datetime.now(UTC),
        )
        add(self.poll_registry, "interval", seconds=s.scheduler.registry_poll_s, id="registry")
        if escalation_targets(s.notify):
            add(self.escalate, "interval", seconds=check_interval_s(s.notify), id="escalation")
        if s.notify.routes:
            add(self.tell_held_back, "interval", seconds=held_back.CHECK_EVERY_S, id="held-back")
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def recalibrate(self) -> None:
        self.worker.request_recalibration()

    def retention(self) -> None:
        roots = [camera.artifacts.directory for camera in self.settings.cameras.values()]
        result = apply_retention(self.engine, self.settings.retention, datetime.now(UTC), roots)
        log.info("retention done", extra={"result": repr(result)})

    def heartbeat(self) -> None:
        stats = self.stats()
        self.writer.put(HeartbeatRecord(instance=self.settings.instance, at=datetime.now(UTC), stats=stats))
        log.info("heartbeat", extra=stats)

    def poll_registry(self) -> None:
        changed = self.reload_models()
        if changed:
            log.info("registry changed; new models handed to the worker", extra={"models": changed})
        self.release_resolved_alerts()

    def release_resolved_alerts(self) -> None:
        workers = [w for w in (self.worker, self.cameras) if w is not None]
        held = set().union(*(w.open_alert_ids() for w in workers))
        resolved = resolved_among(self.engine, held) if held else set()
        if resolved:
            for w in workers:
                w.release_alerts(resolved)

    def tell_held_back(self) -> None:
        if held_back.tell_held_back(self.engine, self.settings.notify) and self.wake_notifier is not None:
            self.wake_notifier()

    def escalate(self) -> None:
        if escalate_due(self.engine, self.settings.notify) and self.wake_notifier is not None:
            self.wake_notifier()

    def stats(self) -> dict[str, Any]:
        """The counters a heartbeat carries: enough to see at a glance that data flows."""
        worker = self.worker
        return {
            "received": worker.inbox.accepted,
            "queue_depth": len(worker.inbox),
            "writer_backlog": self.writer.pending,
            "batches": worker.batches,
            "assets": len(worker.model_versions()),
            "rows": self.writer.counts(),
            **(
                {"frame_backlog": self.cameras.backlog(), "frames_dropped": self.cameras.dropped}
                if self.cameras is not None
                else {}
            ),
        }

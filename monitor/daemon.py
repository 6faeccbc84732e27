"""The daemon: start-up order, the stop event, signals, the watchdog, and the drain on SIGTERM.

`Daemon(settings).start()` / `.stop()` run it inside any process (tests, the benchmark);
`run_until_signal()` is what `monitor run` does in the main thread. Start-up refuses an out-of-date
schema (unless `database.auto_upgrade`), then starts the consumers before the producer: writer,
scoring worker, notifier, scheduler, metrics, and MQTT last, so no message arrives with nobody to
take it. Stopping runs the other way: stop reading MQTT, drain the inbox through the worker, commit
the writer, deliver due notifications, publish `stopped`, disconnect.

With `cameras` configured, frames from `<prefix>/+/+/frames` go to a camera worker (its own thread,
bounded drop-oldest backlogs) whose models are the active image-ae, unet and sr versions of each
camera in the registry, loaded and hot-reloaded like the sensor models.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType

import torch
from sqlalchemy.engine import Engine

from models.sensor_model import SensorModel
from monitor import registry
from monitor.alert_actions import unresolved_alerts
from monitor.commissioning import Commissioner
from monitor.comms.mqtt import MqttConnection
from monitor.comms.receiver import ProcessReceiver, Receiver, ThreadReceiver
from monitor.ingest.inbox import Inbox
from monitor.ingest.topics import frames_subscription, sensor_subscription, status_topic
from monitor.metrics import Metrics
from monitor.notify.outbox import OutboxNotifier
from monitor.notify.senders import build_senders
from monitor.pipeline.camera_worker import CameraWorker, model_kinds
from monitor.pipeline.worker import ScoringWorker, owns_asset
from monitor.scheduler import MonitorScheduler
from monitor.settings import Settings
from monitor.store.db import create_engine_for, safe_url
from monitor.store.migrate import SchemaOutOfDate, ensure_schema_current
from monitor.store.records import AlertRecord, ScoreRecord
from monitor.store.writer import Record, StoreWriter

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0
WATCHDOG_PERIOD_S = 1.0
CONNECT_WAIT_S = 10.0
DRAIN_RECEIVE_S = 4.0  # longest time the stop keeps receiving what the broker still holds for us
QUIET_S = 0.3  # no message for this long: the broker's backlog for us is drained


class StartupError(Exception):
    """The daemon cannot start; the message says why and what to do (printed as is)."""


class Daemon:
    """One monitor instance: every thread of the service, started and stopped in order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.metrics = Metrics()
        self.metrics_port: int | None = None
        self.engine: Engine | None = None
        self.writer: StoreWriter | None = None
        self.worker: ScoringWorker | None = None
        self.cameras: CameraWorker | None = None
        self.receiver: Receiver | None = None
        self.publisher: MqttConnection | None = None
        self.notifier: OutboxNotifier | None = None
        self.commissioner: Commissioner | None = None
        self.scheduler: MonitorScheduler | None = None
        self.inbox = Inbox(settings.sensors.queue_max)
        self._watchdog: threading.Thread | None = None
        self._loaded: dict[tuple[str, str], registry.LoadedModel] = {}  # by (directory, version)
        self._failed: dict[tuple[str, str], str] = {}  # active models that could not be loaded: why
        self._stopped = False
        self._generation = -1

    # -- start ----------------------------------------------------------------------------------
    def start(self, wait_connected: bool = True) -> None:
        """Start every part; with `wait_connected`, return once the sensor subscription is in place."""
        settings = self.settings
        url = settings.database.url
        try:
            ensure_schema_current(url, settings.database.auto_upgrade)
        except SchemaOutOfDate as exc:
            raise StartupError(f"{exc} (or set database.auto_upgrade: true)") from exc
        if torch.get_num_threads() > 1 and settings.models.device != "cuda":
            # Measured: one intra-op thread scores 25k windows/s, two only 14k while the receiver,
            # the writer and the broker want the other core (see docs/architecture.md).
            torch.set_num_threads(1)
        self.engine = engine = create_engine_for(url)
        self.writer = StoreWriter.from_settings(engine, settings, on_committed=self._on_committed)
        self.worker = ScoringWorker(settings, self.inbox, self.writer, self.metrics)
        self.commissioner = Commissioner(settings, engine, self.worker.assign_model)
        self.worker.on_unmodelled = self.commissioner.collect
        if settings.cameras:
            self.cameras = CameraWorker(settings, self.writer, self.metrics)
        restored = self.worker.restore_windows(settings.worker.state_dir, settings.instance)
        unresolved = unresolved_alerts(engine)
        self.worker.resume_alerts(unresolved)
        if self.cameras is not None:
            self.cameras.resume_alerts(unresolved)
            self.cameras.restore_thresholds(settings.worker.state_dir, settings.instance)
        loaded = self.reload_models()
        self.worker.start()
        if self.cameras is not None:
            self.cameras.start()
        self.metrics.track(lambda: len(self.inbox), lambda: self.writer.pending if self.writer else 0)

        prefix, client_id = settings.mqtt.topic_prefix, settings.mqtt.client_id
        self.publisher = MqttConnection(settings.mqtt, client_id=f"{client_id}-notify", persistent=False)
        self.publisher.start()
        senders = build_senders(settings, self.publisher)
        self.notifier = OutboxNotifier.from_settings(engine, settings.notify, senders)
        self.notifier.start()
        self.scheduler = MonitorScheduler(
            settings, self.worker, self.writer, engine, self.reload_models, self.cameras, self.notifier.wake
        )
        self.scheduler.start()
        try:
            self.metrics_port = self.metrics.serve(settings.metrics)
        except OSError as exc:
            raise StartupError(
                f"cannot serve metrics on {settings.metrics.host}:{settings.metrics.port}: {exc.strerror or exc}"
                " (set metrics.port, 0 picks a free one)"
            ) from exc

        receiver_class = ProcessReceiver if settings.mqtt.receiver == "process" else ThreadReceiver
        subscriptions = [sensor_subscription(prefix)]
        if self.cameras is not None:
            subscriptions.append(frames_subscription(prefix))
        self.receiver = receiver_class(
            settings.mqtt,
            self.inbox,
            client_id,
            subscriptions,
            status_topic(prefix, settings.instance),
            frames=self.cameras,
        )
        self.receiver.start()
        self._watchdog = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._watchdog.start()
        log.info(
            "daemon started",
            extra={
                "instance": settings.instance,
                "database": safe_url(url),
                "broker": settings.mqtt.url,
                "models": loaded,
                "windows_restored": restored,
                "metrics_port": self.metrics_port,
            },
        )
        if wait_connected and not self.receiver.wait_connected(CONNECT_WAIT_S):
            log.warning(
                "broker not reachable yet; reconnecting in the background",
                extra={"broker": settings.mqtt.url},
            )

    def reload_models(self) -> int:
        """Hand the workers every active model of their assets and cameras they are not using yet.

        Called at start-up and by the registry poll (hot reload): the workers swap models between
        batches, so no message is lost or scored twice during a swap. While an active model cannot
        be loaded (a share not mounted yet, a copy still running) every poll tries it again.
        """
        assert self.engine is not None and self.worker is not None
        generation = registry.generation(self.engine)
        if generation == self._generation:
            return 0
        worker_settings = self.settings.worker
        scoring = self.worker.model_versions()
        changed = 0
        entries = [entry for entry in registry.list_versions(self.engine) if entry.active]
        for entry in entries:
            if entry.kind != "sensor" or scoring.get(entry.asset) == entry.version:
                continue
            if not owns_asset(entry.asset, worker_settings.index, worker_settings.count):
                continue
            model = self._load(entry)
            if isinstance(model, SensorModel):
                self.worker.assign_model(entry.asset, model)
                changed += 1
        if self.cameras is not None:
            changed += self._reload_camera_models(entries)
        active = {(str(entry.path.resolve()), entry.version) for entry in entries}
        self._loaded = {key: model for key, model in self._loaded.items() if key in active}
        self._failed = {key: error for key, error in self._failed.items() if key in active}
        if not self._failed:
            self._generation = generation
        return changed

    def _reload_camera_models(self, active: list[registry.ModelVersionInfo]) -> int:
        """Hand the camera worker each of its cameras' active models of the kinds their config asks for."""
        assert self.cameras is not None
        using = self.cameras.model_versions()
        changed = 0
        for entry in active:
            config = self.settings.cameras.get(entry.asset)
            if config is None or entry.kind not in model_kinds(config) or not self.cameras.owns(entry.asset):
                continue
            if using.get((entry.asset, entry.kind)) == entry.version:
                continue
            model = self._load(entry)
            if model is None or isinstance(model, SensorModel):
                continue
            try:
                self.cameras.assign_model(entry.asset, entry.kind, model)
            except ValueError as exc:  # e.g. a x4 generator for a camera configured to upscale x2
                log.error("cannot use camera model", extra={"camera": entry.asset, "error": str(exc)})
                continue
            changed += 1
        return changed

    def _load(self, entry: registry.ModelVersionInfo) -> registry.LoadedModel | None:
        """The model of a registry entry, loaded once per (directory, version) and shared by the
        assets using it; None (logged) when it cannot be loaded or its directory has since been
        overwritten with other weights (a retrain into the same --out)."""
        key = (str(entry.path.resolve()), entry.version)
        model = self._loaded.get(key)
        if model is None:
            try:
                model = registry.load_model(entry.kind, entry.path, self.settings.models.device)
                if model.version != entry.version:
                    raise registry.RegistryError(
                        f"the directory now holds version {model.version}, not {entry.version}: "
                        "it was overwritten; register the new one (and train into new folders)"
                    )
            except Exception as exc:
                if self._failed.get(key) != str(exc):  # once per cause, not at every poll
                    log.error(
                        "cannot load model",
                        extra={
                            "asset": entry.asset,
                            "kind": entry.kind,
                            "path": str(entry.path),
                            "error": str(exc),
                        },
                    )
                self._failed[key] = str(exc)
                return None
            if self._failed.pop(key, None) is not None:
                log.info("model loaded after all", extra={"asset": entry.asset, "path": str(entry.path)})
            self._loaded[key] = model
        return model

    # -- run in the foreground ------------------------------------------------------------------
    def run_until_signal(self) -> int:
        """`monitor run`: start, wait for SIGTERM/SIGINT in the main thread, stop; exit code 0."""

        def request_stop(signum: int, frame: FrameType | None) -> None:
            log.info("signal received; stopping", extra={"signal": signal.Signals(signum).name})
            self.stop_event.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        try:
            self.start(wait_connected=False)
        except BaseException:
            self.stop()  # whatever had started before the failure
            raise
        while not self.stop_event.wait(1.0):
            pass
        return 0 if self.stop() else 1

    # -- stop -----------------------------------------------------------------------------------
    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Drain and stop everything; True when all accepted messages were stored in time."""
        if self._stopped:
            return True
        self._stopped = True
        self.stop_event.set()
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(deadline - time.monotonic(), 0.1)

        clean = True
        if self.receiver is not None:
            self._await_quiet(min(left() * 0.4, DRAIN_RECEIVE_S))
        if self.receiver is not None and not self.receiver.pause(left() * 0.3):
            log.warning("mqtt receiver did not confirm the pause; draining what arrived")
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.worker is not None:
            clean &= self.worker.stop(left() * 0.6)
            if clean:
                self.worker.save_windows(self.settings.worker.state_dir, self.settings.instance)
        if self.cameras is not None:
            stopped = self.cameras.stop(left() * 0.5)
            if stopped:
                self.cameras.save_thresholds(self.settings.worker.state_dir, self.settings.instance)
            clean &= stopped
        if self.commissioner is not None:
            self.commissioner.close()
        if self.writer is not None:
            clean &= self.writer.close(left() * 0.7)
        if self.notifier is not None:
            self.notifier.stop(min(left() * 0.5, 3.0))
        if self.receiver is not None:
            self.receiver.close("stopped", min(left(), 3.0))
        if self.publisher is not None:
            self.publisher.close(timeout=min(left(), 1.0))
        self.metrics.close()
        if self.engine is not None:
            self.engine.dispose()
        log.info("daemon stopped", extra={"instance": self.settings.instance, "clean": clean})
        return clean

    # -- internals ------------------------------------------------------------------------------
    def _await_quiet(self, limit_s: float) -> None:
        """Keep receiving until the broker has sent nothing for QUIET_S (or `limit_s` passed).

        So what was published before the stop is taken and stored now, not left for the next start;
        under a never-ending stream the limit wins and the rest waits in the persistent session.
        """
        deadline = time.monotonic() + limit_s
        seen = self.inbox.accepted
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if self.inbox.accepted != seen:
                seen, quiet_since = self.inbox.accepted, time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_S:
                return

    def _watch(self) -> None:
        """Restart a dead worker, camera worker, receiver or notifier (a bug must not silently stop scoring)."""
        while not self.stop_event.wait(WATCHDOG_PERIOD_S):
            if self.worker is not None and not self.worker.alive() and not self.stop_event.is_set():
                log.error("scoring worker died; restarting it")
                self.metrics.worker_restarts.inc()
                self.worker.start()
            if self.cameras is not None and not self.cameras.alive() and not self.stop_event.is_set():
                log.error("camera worker died; restarting it")
                self.metrics.worker_restarts.inc()
                self.cameras.start()
            if self.receiver is not None and not self.receiver.alive() and not self.stop_event.is_set():
                log.error("mqtt receiver process died; restarting it")
                self.metrics.worker_restarts.inc()
                self.receiver.start()
            if self.notifier is not None and not self.notifier.alive() and not self.stop_event.is_set():
                log.error("notifier died; restarting it")
                self.metrics.worker_restarts.inc()
                self.notifier.start()

    def _on_committed(self, records: Sequence[Record]) -> None:
        """Writer callback: latency from the reading's timestamp to stored; wake the notifier."""
        now = time.time()
        newest = oldest = None
        alerts = False
        for record in records:
            if isinstance(record, ScoreRecord):
                if oldest is None:
                    oldest = record.ts
                newest = record.ts
            elif isinstance(record, AlertRecord):
                alerts = True
        if oldest is not None and newest is not None:
            self.metrics.stored_lag.observe(now - oldest.timestamp())
            self.metrics.stored_lag.observe(now - newest.timestamp())
        if alerts and self.notifier is not None:
            self.notifier.wake()

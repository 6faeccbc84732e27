"""The daemon's scoring worker: raw MQTT messages in, score/alert/threshold records out.

One thread owns every per-asset state (window buffer, model, detector), so none of it needs a lock:
other threads (scheduler, commissioning, hot reload) hand it requests that it applies between
batches. It takes what the inbox holds (up to `batch_max`, waiting at most `batch_wait_s`), decodes
and validates, windows each asset's readings (in time order, never across a gap), calls
`SensorModel.score_windows` once per model for the whole batch, feeds each asset's scores through
its `AssetDetector` in time order, and hands the records to the StoreWriter.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.sensor_model import SensorModel
from monitor.ingest.clock import ClockLimits
from monitor.ingest.inbox import Inbox
from monitor.ingest.schemas import InvalidMessage, SensorReading, check_asset, decode_sensor_payload
from monitor.ingest.topics import SensorTopic, TopicError, parse_sensor_topic
from monitor.metrics import Metrics
from monitor.pipeline.detector import AssetDetector
from monitor.pipeline.saved_state import save_state, take_state
from monitor.pipeline.windows import gapless_windows, segment_starts
from monitor.settings import Settings
from monitor.store.records import (
    AlertReadingsRecord,
    AlertRecord,
    AlertState,
    AssetRecord,
    DeadLetterRecord,
    ScoreRecord,
)
from monitor.store.writer import PAYLOAD_HEAD_BYTES, Record, StoreWriter

log = logging.getLogger(__name__)

_TOPIC_CACHE_MAX = 100_000
ALERT_CONTEXT_READINGS = 300  # raw readings kept from before an alert opened (1 min at 5 Hz)
ALERT_OPEN_READINGS = 1200  # at most this many more while it is open
_NOT_OURS = object()  # topic cache value: an asset another worker owns
Unmodelled = Callable[[list[SensorReading]], None]


def owns_asset(asset: str, index: int, count: int) -> bool:
    """The stable hash partition: each asset's window lives on exactly one of `count` workers."""
    return count == 1 or zlib.crc32(asset.encode()) % count == index


@dataclass(slots=True)
class AssetState:
    """Everything the worker keeps for one scored asset.

    `tail` holds the last readings [k, C] (model channel order, k < window) of the current stretch
    without gaps, and `tail_times` their times (epoch seconds): a batch's new rows are appended to
    it and cut into windows in one numpy call (`gapless_windows`), instead of one ring-buffer push
    per reading. It is also what a clean stop saves for the next start. `last_ts` is the newest
    reading accepted: readings at or before it are out of order (a gateway replaying its buffer
    beside live data) and go to dead letters, since windows must run forward in time.
    """

    model: SensorModel
    detector: AssetDetector
    needs: frozenset[str]
    tail: np.ndarray
    tail_times: np.ndarray
    last_ts: datetime | None = None
    rows: list[list[float]] = field(default_factory=list)  # this batch's readings, in order
    ts: list[datetime] = field(default_factory=list)
    # The last raw readings (model channel order), kept beside an alert when one opens.
    recent: deque[tuple[datetime, tuple[float, ...]]] = field(
        default_factory=lambda: deque(maxlen=ALERT_CONTEXT_READINGS)
    )
    alert_id: str | None = None  # the open alert whose readings are being kept
    alert_kept: int = 0

    def take_windows(
        self, gap_factor: float
    ) -> tuple[np.ndarray, list[tuple[datetime, tuple[float, ...]]], list[bool]]:
        """Windows ending at each of this batch's readings that has a full window without a gap,
        this batch's readings (time, raw values), and whether each ends a window."""
        window = self.model.window
        block = np.concatenate([self.tail, np.asarray(self.rows, dtype=np.float32)])
        times = np.concatenate([self.tail_times, [ts.timestamp() for ts in self.ts]])
        starts = segment_starts(times, gap_factor)
        windows, ends = gapless_windows(block, starts, window)
        # Tuples of floats and times: the garbage collector stops tracking them, so the readings
        # `recent` keeps alive do not make its full collections more frequent (measured: p99 latency).
        readings = [(ts, tuple(row)) for ts, row in zip(self.ts, self.rows, strict=True)]
        scored = np.zeros(len(readings), dtype=bool)
        scored[ends - len(self.tail)] = True
        keep = max(int(starts[-1]), len(block) - (window - 1))
        self.tail, self.tail_times = block[keep:].copy(), times[keep:]
        self.rows, self.ts = [], []
        return windows, readings, scored.tolist()

    def has_reading(self, ts: datetime) -> bool:
        """Whether a reading at `ts` was taken lately: a QoS 1 message the broker sent again after a
        reconnect, not a reading out of order."""
        return ts in self.ts or any(when == ts for when, _ in reversed(self.recent))

    def keep_for_alert(
        self, alert: AlertRecord | None, reading: tuple[datetime, tuple[float, ...]]
    ) -> tuple[str, list[tuple[datetime, tuple[float, ...]]]] | None:
        """The raw readings to store beside the open alert for this scored reading, and its id."""
        kept: tuple[str, list[tuple[datetime, tuple[float, ...]]]] | None = None
        if alert is not None and alert.just_opened:
            self.alert_id, self.alert_kept = alert.id, 0
            kept = (alert.id, list(self.recent))
        if self.alert_id is not None and self.alert_kept < ALERT_OPEN_READINGS:
            kept = kept or (self.alert_id, [])
            kept[1].append(reading)
            self.alert_kept += 1
        if alert is not None and alert.state == AlertState.RESOLVED:
            self.alert_id = None
        self.recent.append(reading)
        return kept


@dataclass(slots=True)
class _ModelBatch:
    model: SensorModel
    states: list[AssetState] = field(default_factory=list)
    windows: list[np.ndarray] = field(default_factory=list)
    readings: list[list[tuple[datetime, tuple[float, ...]]]] = field(default_factory=list)
    ends_window: list[list[bool]] = field(default_factory=list)  # per reading: has it a window?


class ScoringWorker:
    """Decode → window → score → detect → write, on one thread; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        inbox: Inbox,
        writer: StoreWriter,
        metrics: Metrics,
        on_unmodelled: Unmodelled | None = None,
    ) -> None:
        self.settings = settings
        self.inbox = inbox
        self.writer = writer
        self.metrics = metrics
        self.on_unmodelled = on_unmodelled
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.batches = 0
        self._assets: dict[str, AssetState] = {}
        self._sites: dict[str, str] = {}
        self._topics: dict[str, SensorTopic | InvalidMessage | object] = {}
        self._requests_lock = threading.Lock()
        self._model_requests: dict[str, SensorModel] = {}
        self._recalibrate = False
        self._released: set[str] = set()
        self._restore: dict[str, dict[str, Any]] = {}
        self._unresolved: dict[str, AlertRecord] = {}
        self._clock = ClockLimits(settings.mqtt.max_ts_ahead_s, settings.mqtt.max_ts_age_s)

    # -- requests from other threads, applied between batches -----------------------------------
    def assign_model(self, asset: str, model: SensorModel) -> None:
        """Score `asset` with `model` from the next batch on (start-up, commissioning, hot reload)."""
        with self._requests_lock:
            self._model_requests[asset] = model

    def request_recalibration(self) -> None:
        """Refit every detector's threshold from its recent normal scores (scheduler job)."""
        with self._requests_lock:
            self._recalibrate = True

    def model_versions(self) -> dict[str, str]:
        """The model version scoring each asset now (read by the registry poll)."""
        return {asset: state.model.version for asset, state in list(self._assets.items())}

    def open_alert_ids(self) -> set[str]:
        """The alerts the detectors hold open or will resume (read by the scheduler's resolution sync)."""
        held = {alert.id for state in list(self._assets.values()) if (alert := state.detector.rule.current)}
        return held | {alert.id for alert in list(self._unresolved.values())}

    def release_alerts(self, alert_ids: set[str]) -> None:
        """Alerts an operator resolved: their detectors let them go from the next batch on."""
        with self._requests_lock:
            self._released |= alert_ids

    # -- thread ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or, from the watchdog, restart) the worker thread."""
        self.thread = threading.Thread(target=self.run, name="scoring-worker", daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, timeout: float) -> bool:
        """Drain the inbox (the receiver must be stopped first), then end; False if time ran out."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.alive()

    def run(self) -> None:
        """The thread's loop; an unexpected error ends it (logged) and the daemon's watchdog restarts it.

        The batch being processed when that happens is lost (logged with its size); the asset states
        survive in this object, so the restarted thread goes on where this one stopped.
        """
        sensors = self.settings.sensors
        messages: list[tuple[str, bytes, float]] = []
        try:
            while True:
                self._apply_requests()
                messages = self.inbox.take(sensors.batch_max, sensors.batch_wait_s, self.stop_event)
                if not messages:
                    if self.stop_event.is_set():
                        return
                    continue
                self.process(messages)
        except Exception:
            log.exception("scoring worker failed", extra={"messages_lost": len(messages)})

    # -- one batch ------------------------------------------------------------------------------
    def process(self, messages: list[tuple[str, bytes, float]]) -> None:
        """Score one batch of raw messages and queue every resulting record for the writer."""
        records: list[Record] = []
        touched: dict[str, AssetState] = {}
        oldest = messages[0][2]
        decoded = 0
        for topic, payload, received in messages:
            readings = self._decode(topic, payload, received, records)
            if readings is None:
                continue
            decoded += len(readings)
            asset = readings[0].asset
            state = self._assets.get(asset)
            if state is None and self.on_unmodelled is not None:
                try:
                    self.on_unmodelled(readings)
                except InvalidMessage as exc:
                    self._dead(records, topic, payload, received, exc)
                    continue
            self._note_site(readings[0], state, records)
            if state is None:
                continue
            late = 0
            for reading in sorted(readings, key=lambda item: item.ts):
                if not reading.values.keys() >= state.needs:
                    missing = sorted(state.needs.difference(reading.values))
                    self._dead(
                        records,
                        topic,
                        payload,
                        received,
                        InvalidMessage("missing_channels", ",".join(missing)),
                    )
                    continue
                if state.last_ts is not None and reading.ts <= state.last_ts:
                    if state.has_reading(reading.ts):
                        self.metrics.repeated.inc()
                    else:
                        late += 1
                    continue
                values = reading.values
                state.rows.append([values[name] for name in state.model.channels])
                state.ts.append(reading.ts)
                state.last_ts = reading.ts
            if late:
                assert state.last_ts is not None
                latest = state.last_ts.isoformat()
                detail = f"{late} of {len(readings)} readings not after the asset's latest ({latest})"
                self._dead(records, topic, payload, received, InvalidMessage("out_of_order", detail))
            if state.rows:
                touched[asset] = state
        batches: dict[int, _ModelBatch] = {}
        gap_factor = self.settings.sensors.gap_factor
        for state in touched.values():
            windows, batch_readings, ends_window = state.take_windows(gap_factor)
            if not len(windows):
                state.recent.extend(batch_readings)
                continue
            batch = batches.get(id(state.model))
            if batch is None:
                batch = batches[id(state.model)] = _ModelBatch(state.model)
            batch.states.append(state)
            batch.windows.append(windows)
            batch.readings.append(batch_readings)
            batch.ends_window.append(ends_window)
        scored = 0
        for batch in batches.values():
            scored += self._score(batch, records)
        m = self.metrics
        m.received.inc(len(messages))
        m.readings.inc(decoded)
        if scored:
            m.scored.inc(scored)
        m.ingest_latency.observe(time.time() - oldest)
        self.batches += 1
        if records:
            self.writer.put_many(records)

    def _decode(
        self, topic: str, payload: bytes, received: float, records: list[Record]
    ) -> list[SensorReading] | None:
        """Readings of a message this worker owns; None (with a dead letter if invalid) otherwise."""
        route = self._topics.get(topic)
        if route is None:
            if len(self._topics) > _TOPIC_CACHE_MAX:
                self._topics.clear()
            route = self._topics[topic] = self._route(topic)
        if route is _NOT_OURS:
            self.metrics.skipped.inc()
            return None
        if isinstance(route, InvalidMessage):
            self._dead(records, topic, payload, received, route)
            return None
        assert isinstance(route, SensorTopic)
        received_at = datetime.fromtimestamp(received, UTC)
        try:
            readings = decode_sensor_payload(
                payload,
                received_at,
                self.settings.mqtt.max_payload_bytes,
                site=route.site,
                asset=route.asset,
                max_abs=self.settings.sensors.max_abs_value,
            )
            times = [item.ts for item in readings]
            self._clock.check(min(times), max(times), received_at)
        except InvalidMessage as exc:
            self._dead(records, topic, payload, received, exc)
            return None
        return readings

    def _note_site(self, reading: SensorReading, state: AssetState | None, records: list[Record]) -> None:
        """Store an accepted message's asset under its site the first time (and when it moves)."""
        if self._sites.get(reading.asset) != reading.site:
            self._sites[reading.asset] = reading.site
            channels = state.model.channels if state else []
            records.append(AssetRecord(name=reading.asset, site=reading.site, channels=list(channels)))

    def _route(self, topic: str) -> SensorTopic | InvalidMessage | object:
        """What to do with a topic's messages (cached per topic): decode, dead-letter, or skip."""
        mqtt, worker = self.settings.mqtt, self.settings.worker
        try:
            parsed = parse_sensor_topic(mqtt.topic_prefix, topic)
            if not owns_asset(parsed.asset, worker.index, worker.count):
                return _NOT_OURS
            check_asset(parsed.asset, mqtt.strict_assets, mqtt.assets)
        except TopicError as exc:
            return InvalidMessage(str(exc))
        except InvalidMessage as exc:
            return exc
        return parsed

    def _score(self, batch: _ModelBatch, records: list[Record]) -> int:
        """One model call for every window of the batch; then each asset's detector, in order."""
        model = batch.model
        started = time.perf_counter()
        scores, contributions = model.score_windows(np.concatenate(batch.windows))
        self.metrics.scoring_latency.observe(time.perf_counter() - started)
        channels = model.channels
        version = model.version
        score_list = scores.tolist()
        rows = contributions.tolist()
        opened = 0
        i = 0
        for state, readings, ends_window in zip(batch.states, batch.readings, batch.ends_window, strict=True):
            observe = state.detector.observe
            asset = state.detector.asset
            kept: dict[str, list[tuple[datetime, dict[str, float]]]] = {}
            for reading, has_window in zip(readings, ends_window, strict=True):
                if not has_window:  # filling the window after a gap
                    state.recent.append(reading)
                    continue
                ts = reading[0]
                score = score_list[i]
                observation = observe(ts, score, contributions[i])
                records.append(
                    ScoreRecord(
                        asset=asset,
                        ts=ts,
                        score=score,
                        threshold=observation.threshold,
                        anomaly=observation.anomaly,
                        model_version=version,
                        contributions=dict(zip(channels, rows[i], strict=True)),
                    )
                )
                alert = observation.alert
                if alert is not None:
                    records.append(alert)
                    if alert.just_opened:
                        opened += 1
                if (keep := state.keep_for_alert(alert, reading)) is not None:
                    kept.setdefault(keep[0], []).extend(
                        (when, dict(zip(channels, values, strict=True))) for when, values in keep[1]
                    )
                i += 1
            # After the alert records of this batch, so the alert row exists when they are written.
            records.extend(AlertReadingsRecord(alert_id, rows) for alert_id, rows in kept.items())
        if opened:
            self.metrics.alerts_opened.inc(opened)
        return i

    def _dead(
        self, records: list[Record], topic: str, payload: bytes, received: float, exc: InvalidMessage
    ) -> None:
        self.metrics.invalid.labels(exc.reason).inc()
        records.append(
            DeadLetterRecord(
                topic=topic,
                reason=str(exc),
                payload_head=payload[:PAYLOAD_HEAD_BYTES],
                payload_size=len(payload),
                received_at=datetime.fromtimestamp(received, UTC),
            )
        )

    # -- between batches ------------------------------------------------------------------------
    def _apply_requests(self) -> None:
        with self._requests_lock:
            models, self._model_requests = self._model_requests, {}
            recalibrate, self._recalibrate = self._recalibrate, False
            released, self._released = self._released, set()
        records: list[Record] = []
        now = datetime.now(UTC)
        if released:
            self._release(released)
        for asset, model in models.items():
            records.extend(self._install(asset, model, now))
        if recalibrate:
            for state in self._assets.values():
                change = state.detector.recalibrate(now)
                if change is not None:
                    records.append(change)
        if records:
            self.writer.put_many(records)

    def _release(self, alert_ids: set[str]) -> None:
        for asset, state in self._assets.items():
            if state.detector.rule.release(alert_ids):
                state.alert_id = None
                log.info("alert resolved by an operator", extra={"asset": asset})
        self._unresolved = {asset: a for asset, a in self._unresolved.items() if a.id not in alert_ids}

    def _install(self, asset: str, model: SensorModel, now: datetime) -> list[Record]:
        """Swap in a model: a fresh detector from its training scores; the window survives when it fits."""
        previous = self._assets.get(asset)
        if previous is not None and previous.model.version == model.version:
            return []
        same_shape = (
            previous is not None
            and previous.model.channels == model.channels
            and previous.model.window == model.window
        )
        tail = np.zeros((0, len(model.channels)), dtype=np.float32)
        tail_times = np.zeros(0)
        last_ts = previous.last_ts if previous is not None else None
        saved = self._restore.pop(asset, None)
        if previous is not None and same_shape:
            tail, tail_times = previous.tail, previous.tail_times
        elif saved is not None and saved["channels"] == model.channels and "times" in saved:
            tail = np.asarray(saved["tail"], dtype=np.float32).reshape(-1, len(model.channels))
            tail_times = np.asarray(saved["times"], dtype=np.float64)
        if saved is not None and saved.get("last_ts"):
            last_ts = datetime.fromisoformat(saved["last_ts"])
        detector = AssetDetector(
            asset,
            self.settings.thresholds,
            self.settings.alerts,
            model.training_scores,
            model.channels,
            open_alert=previous.detector.rule.current if previous else self._unresolved.pop(asset, None),
        )
        if saved is not None and saved.get("version") == model.version:
            detector.carry_on(saved.get("normal", []))
        keep = -(model.window - 1)
        state = self._assets[asset] = AssetState(
            model, detector, frozenset(model.channels), tail[keep:], tail_times[keep:], last_ts
        )
        if previous is not None:
            state.alert_id, state.alert_kept = previous.alert_id, previous.alert_kept
        log.info(
            "model in service",
            extra={
                "asset": asset,
                "version": model.version,
                "previous": previous.model.version if previous else None,
            },
        )
        return [
            AssetRecord(name=asset, site=self._sites.get(asset), channels=list(model.channels)),
            detector.threshold_record(now),
        ]

    # -- window buffers across restarts ---------------------------------------------------------
    def save_windows(self, directory: Path, instance: str) -> Path:
        """Write each asset's window tail (after the drain; the worker thread must be stopped)."""
        state = {
            asset: {
                "channels": s.model.channels,
                "tail": s.tail.tolist(),
                "times": s.tail_times.tolist(),
                "last_ts": s.last_ts.isoformat() if s.last_ts else None,
                "version": s.model.version,
                "normal": s.detector.normal_scores,
            }
            for asset, s in self._assets.items()
        }
        return save_state(directory / f"{instance}-windows.json", state)

    def resume_alerts(self, alerts: dict[str, AlertRecord]) -> None:
        """Alerts left open by the last run (before start): each asset's detector carries its own on."""
        self._unresolved = dict(alerts)

    def restore_windows(self, directory: Path, instance: str) -> int:
        """Load saved window tails (before start); each is used when its asset's model is installed."""
        self._restore = take_state(directory / f"{instance}-windows.json")
        return len(self._restore)

"""The daemon's camera worker: frame messages in, inspection/alert/threshold records out.

Frames arrive on the network thread (`put`), which only files the raw message under its camera:
decoding, upscaling and scoring happen on this worker's own thread. Each configured camera has a
bounded backlog (`cameras.<name>.backlog`); when frames arrive faster than they are scored the
oldest waiting frame is dropped and counted (the newest frame is the one worth looking at), so
memory stays bounded under any flood. Messages for cameras that are not configured share one small
bounded queue and end as dead letters. With several workers (`worker.count`), each camera belongs to
one of them by the same stable hash as sensor assets, so its threshold and alert rule live in one
place; the others drop its frames at once (counted as not theirs, not as losses).

Per batch of one camera: decode (undecodable or oversized -> dead letter), optional super-resolution
upscale, `ImageAnomalyModel.score_images` (score + heatmap) and, at the same time on a second
thread, `SegmentationModel.segment`; `describe_mask` (defect area, count, boxes), then the camera's
`AssetDetector` (the same adaptive threshold and alert rule as sensors), artifacts per the camera's
policy, and one `inspections` row per frame, anomalous when its score is above the threshold. A batch the models fail on is scored again frame by
frame, so one frame they cannot take ends as a `scoring_failed` dead letter and the others are
scored; a failed artifact write is logged and counted, and the inspection row is kept without paths.
Like the scoring worker, this thread owns every per-camera state; model swaps and recalibration are
requests applied between batches.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from models.defects import describe_mask
from monitor.alerts import IMAGE_CONDITION
from monitor.artifacts import ArtifactBudget, wanted, write_artifacts
from monitor.comms.mqtt import FrameMessage
from monitor.ingest.clock import ClockLimits
from monitor.ingest.frames import Frame, decode_frame
from monitor.ingest.schemas import InvalidMessage
from monitor.ingest.topics import TopicError, parse_frames_topic
from monitor.metrics import Metrics
from monitor.pipeline.detector import AssetDetector
from monitor.pipeline.saved_state import save_state, take_state
from monitor.pipeline.worker import owns_asset
from monitor.settings import CameraSettings, Settings
from monitor.store.records import AlertRecord, AssetRecord, DeadLetterRecord, InspectionRecord
from monitor.store.writer import PAYLOAD_HEAD_BYTES, Record, StoreWriter

if TYPE_CHECKING:
    from models.image_ae_model import ImageAnomalyModel
    from models.sr_model import SuperResolutionModel
    from models.unet_model import SegmentationModel

    CameraModel = ImageAnomalyModel | SegmentationModel | SuperResolutionModel

log = logging.getLogger(__name__)

# What an alert on a camera reports as its "top channels": the defect the U-Net found.
DEFECT_CHANNELS = ["defect_area_percent", "defect_count"]
STOP_SCORING_SHARE = 0.7  # of a stop's time spent scoring the backlog; the rest ends the batch
UNKNOWN_BACKLOG = 64  # frames of unconfigured cameras waiting to be dead-lettered
DETAIL_CHARS = 200  # of an exception's text, in a dead letter's reason
IDLE_WAIT_S = 0.1


@dataclass(slots=True)
class CameraState:
    """One camera's models, detector and frame counter (owned by the worker thread)."""

    name: str
    config: CameraSettings
    ae: ImageAnomalyModel | None = None
    unet: SegmentationModel | None = None
    sr: SuperResolutionModel | None = None
    detector: AssetDetector | None = None
    site: str | None = None
    frames: int = 0  # frames scored since start: the every-Nth artifact policy counts these
    artifact_error: str | None = None  # the last artifact write failure, logged once until it changes
    budget: ArtifactBudget = field(init=False)
    disk_full: bool = False  # artifacts held back for free space, logged once until it ends

    def __post_init__(self) -> None:
        self.budget = ArtifactBudget(self.config.artifacts)


def model_kinds(config: CameraSettings) -> list[str]:
    """The registry kinds a camera's config asks for: image-ae always, unet and sr when chosen."""
    return ["image-ae"] + (["unet"] if "unet" in config.models else []) + (["sr"] if config.upscale else [])


class CameraMetrics:
    """The camera counters, registered in the daemon's own metrics registry."""

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.received = Counter("monitor_frames_received", "Camera frames received.", registry=r)
        self.dropped = Counter(
            "monitor_frames_dropped", "Frames dropped (oldest first) because a backlog was full.", registry=r
        )
        self.scored = Counter("monitor_frames_scored", "Frames scored (one inspection row each).", registry=r)
        self.latency = Histogram(
            "monitor_frame_scoring_seconds",
            "Decode + upscale + models per camera batch.",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.backlog = Gauge("monitor_frame_backlog", "Frames waiting for the camera worker.", registry=r)
        self.not_ours = Counter(
            "monitor_frames_not_ours", "Frames of cameras another worker owns (worker.count > 1).", registry=r
        )
        self.artifact_errors = Counter(
            "monitor_artifact_write_errors", "Artifact files that could not be written.", registry=r
        )
        self.artifacts_skipped = Counter(
            "monitor_artifacts_skipped",
            "Frames that qualified for artifacts but got none: over artifacts.max_per_minute (rate) or "
            "below artifacts.min_free_mb (disk_full).",
            ["reason"],
            registry=r,
        )


class CameraWorker:
    """Bounded per-camera backlogs and the thread that scores them; see the module docstring."""

    def __init__(self, settings: Settings, writer: StoreWriter, metrics: Metrics) -> None:
        self.settings = settings
        self.writer = writer
        self.metrics = metrics
        self.camera_metrics = CameraMetrics(metrics)
        self.stop_event = threading.Event()
        self._stop_by = math.inf  # when a stop stops scoring the backlog (monotonic seconds)
        self.thread: threading.Thread | None = None
        self.dropped = 0  # frames dropped by full backlogs (here and in the receiver process)
        self.prefix = settings.mqtt.topic_prefix
        self._clock = ClockLimits(settings.mqtt.max_ts_ahead_s, settings.mqtt.max_ts_age_s)
        self._queues: dict[str, deque[FrameMessage]] = {
            name: deque(maxlen=config.backlog) for name, config in settings.cameras.items() if self.owns(name)
        }
        self._unknown: deque[FrameMessage] = deque(maxlen=UNKNOWN_BACKLOG)
        self._wake = threading.Event()
        self._cameras = {name: CameraState(name, settings.cameras[name]) for name in self._queues}
        self._requests_lock = threading.Lock()
        self._model_requests: list[tuple[str, str, CameraModel]] = []
        self._recalibrate = False
        self._released: set[str] = set()
        self._unresolved: dict[str, AlertRecord] = {}
        self._restore: dict[str, Any] = {}  # camera -> saved normal scores (restore_thresholds)
        self._segmenter = _segment_thread()
        self.camera_metrics.backlog.set_function(self.backlog)

    # -- network thread -------------------------------------------------------------------------
    def put(self, topic: str, payload: bytes, received_at: float, properties: dict[str, str]) -> None:
        """File a raw frame under its camera; never blocks, never decodes (paho's thread calls it)."""
        parts = topic.split("/")
        queue = self._queues.get(parts[2]) if len(parts) == 4 else None
        if queue is None:
            if len(parts) == 4 and (parts[2] in self.settings.cameras or not self.owns(parts[2])):
                self.camera_metrics.not_ours.inc()
                return
            queue, limit = self._unknown, PAYLOAD_HEAD_BYTES  # only ever a dead letter
        else:
            limit = self._cameras[parts[2]].config.max_frame_bytes
        if len(payload) > limit:
            payload = PayloadHead(payload)  # memory is bounded by bytes, not only by frames
        if len(queue) == queue.maxlen:
            self.count_dropped(1)
        queue.append((topic, payload, received_at, properties))
        self.camera_metrics.received.inc()
        self._wake.set()

    def owns(self, camera: str) -> bool:
        """Whether this worker scores (or dead-letters) the camera's frames."""
        return owns_asset(camera, self.settings.worker.index, self.settings.worker.count)

    def count_dropped(self, frames: int) -> None:
        """Frames lost to a full backlog (also called for the receiver process's own buffer)."""
        self.dropped += frames
        self.camera_metrics.dropped.inc(frames)

    def backlog(self, camera: str | None = None) -> int:
        """Frames waiting (of one camera, or all); never above the configured bounds."""
        if camera is not None:
            return len(self._queues[camera])
        return sum(map(len, self._queues.values())) + len(self._unknown)

    # -- requests from other threads, applied between batches -----------------------------------
    def assign_model(self, camera: str, kind: str, model: CameraModel) -> None:
        """Use `model` (kind image-ae, unet or sr) for `camera` from the next batch on."""
        if camera not in self._cameras:
            raise ValueError(
                f"camera {camera!r} is not one of this worker's (cameras: {', '.join(self._cameras)})"
            )
        config = self._cameras[camera].config
        kinds = model_kinds(config)
        if kind not in kinds:
            raise ValueError(f"camera {camera!r} is configured for {', '.join(kinds)} models, not {kind!r}")
        if kind == "sr" and getattr(model, "scale", None) != config.upscale:
            raise ValueError(
                f"camera {camera!r} upscales x{config.upscale}; sr model {model.version} is "
                f"x{getattr(model, 'scale', None)}"
            )
        with self._requests_lock:
            self._model_requests.append((camera, kind, model))

    def resume_alerts(self, alerts: dict[str, AlertRecord]) -> None:
        """Alerts left open by the last run (before start): each camera's detector carries its own on."""
        self._unresolved = dict(alerts)

    def save_thresholds(self, directory: Path, instance: str) -> Path:
        """Each camera's recent normal scores (after the stop), so that the same anomaly model
        starts the next run at the threshold its last recalibration reached."""
        state = {
            name: {"version": s.ae.version, "normal": s.detector.normal_scores}
            for name, s in self._cameras.items()
            if s.ae is not None and s.detector is not None
        }
        return save_state(directory / f"{instance}-cameras.json", state)

    def restore_thresholds(self, directory: Path, instance: str) -> int:
        """Load what `save_thresholds` wrote (before start); used as each anomaly model is installed."""
        self._restore = take_state(directory / f"{instance}-cameras.json")
        return len(self._restore)

    def request_recalibration(self) -> None:
        """Refit every camera's threshold from its recent normal scores (scheduler job)."""
        with self._requests_lock:
            self._recalibrate = True

    def model_versions(self) -> dict[tuple[str, str], str]:
        """(camera, kind) -> version being used, read by the registry poll."""
        versions = {}
        for name, state in list(self._cameras.items()):
            for kind, model in (("image-ae", state.ae), ("unet", state.unet), ("sr", state.sr)):
                if model is not None:
                    versions[(name, kind)] = model.version
        return versions

    def open_alert_ids(self) -> set[str]:
        """The alerts the detectors hold open or will resume (read by the scheduler's resolution sync)."""
        held = {
            alert.id
            for state in list(self._cameras.values())
            if state.detector is not None and (alert := state.detector.rule.current)
        }
        return held | {alert.id for alert in list(self._unresolved.values())}

    def release_alerts(self, alert_ids: set[str]) -> None:
        """Alerts an operator resolved: their detectors let them go from the next batch on."""
        with self._requests_lock:
            self._released |= alert_ids

    # -- thread ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or, from the watchdog, restart) the worker thread, with a fresh U-Net thread."""
        self.stop_event.clear()
        self._stop_by = math.inf
        self._segmenter.shutdown(wait=False)  # idle (the worker that fed it has ended): exits by itself
        self._segmenter = _segment_thread()
        self.thread = threading.Thread(target=self.run, name="camera-worker", daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, timeout: float) -> bool:
        """Score what is waiting (the receiver must be paused first), a frame at a time, for most
        of `timeout`; drop (and count) what is left then, and end; False if even that ran out of
        time (a batch begun before the stop still runs to its end)."""
        self._stop_by = time.monotonic() + STOP_SCORING_SHARE * timeout
        self.stop_event.set()
        self._wake.set()
        if self.thread is not None:
            self.thread.join(timeout)
        if self.alive():
            return False
        self._segmenter.shutdown()  # idle now: returns as soon as its thread has ended
        return True

    def _drop_backlog(self) -> None:
        """At a stop that ran out of time: the frames still waiting are dropped, counted and logged
        (a backlog drops frames anyway; the writer must not be closed under a running batch)."""
        left = sum(len(queue) for queue in self._queues.values()) + len(self._unknown)
        for queue in (*self._queues.values(), self._unknown):
            queue.clear()
        if left:
            self.count_dropped(left)
            log.warning("stopping: frames left unscored were dropped", extra={"frames": left})

    def run(self) -> None:
        """The loop: one batch per camera in turn; an unexpected error ends it (the watchdog restarts)."""
        try:
            while True:
                if self.stop_event.is_set() and time.monotonic() > self._stop_by:
                    self._drop_backlog()
                    return
                self._apply_requests()
                worked = self._dead_letter_unknown()
                stopping = self.stop_event.is_set()  # one frame a batch: the deadline is checked often
                for name, queue in self._queues.items():
                    batch = _take(queue, 1 if stopping else self._cameras[name].config.batch_max)
                    if batch:
                        self.process(name, batch)
                        worked = True
                if not worked:
                    if self.stop_event.is_set():
                        return
                    self._wake.wait(IDLE_WAIT_S)
                    self._wake.clear()
        except Exception:
            log.exception("camera worker failed")

    # -- one batch ------------------------------------------------------------------------------
    def process(self, camera: str, messages: list[FrameMessage]) -> int:
        """Decode, score and record one batch of a camera's frames; returns the frames scored."""
        state = self._cameras[camera]
        records: list[Record] = []
        started = time.perf_counter()
        decoded = [(m, f) for m in messages if (f := self._decode(state, m, records)) is not None]
        scored = 0
        if decoded:
            missing = self._missing_models(state)
            if missing:
                reason = InvalidMessage("no_model", f"{camera} has no active {missing} model")
                for message, _ in decoded:
                    self._dead(records, message, reason)
            else:
                scored = self._score(state, decoded, records)
        self.camera_metrics.latency.observe(time.perf_counter() - started)
        if scored:
            self.camera_metrics.scored.inc(scored)
        if records:
            self.writer.put_many(records)
        return scored

    def _decode(self, state: CameraState, message: FrameMessage, records: list[Record]) -> Frame | None:
        topic, payload, received, properties = message
        received_at = datetime.fromtimestamp(received, UTC)
        if isinstance(payload, PayloadHead):
            limit = state.config.max_frame_bytes
            self._dead(records, message, InvalidMessage("oversized", f"{payload.size} bytes > {limit}"))
            return None
        try:
            route = parse_frames_topic(self.prefix, topic)
            frame = decode_frame(
                payload,
                properties,
                received_at,
                state.config.max_frame_bytes,
                max_pixels=state.config.max_frame_pixels // (state.config.upscale or 1) ** 2,
                site=route.site,
                camera=route.asset,
            )
            self._clock.check(frame.ts, frame.ts, received_at)
        except TopicError as exc:
            self._dead(records, message, InvalidMessage(str(exc)))
            return None
        except InvalidMessage as exc:
            self._dead(records, message, exc)
            return None
        if state.site != frame.site:
            state.site = frame.site
            records.append(AssetRecord(name=state.name, site=frame.site, kind="camera"))
        return frame

    def _missing_models(self, state: CameraState) -> str | None:
        """The registry kind a configured camera still lacks (frames then go to dead letters)."""
        present = {"image-ae": state.ae, "unet": state.unet, "sr": state.sr}
        return next((kind for kind in model_kinds(state.config) if present[kind] is None), None)

    def _run_models(
        self, state: CameraState, frames: list[Frame]
    ) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], list[np.ndarray] | None]:
        """Upscale, score and segment: the analysed images, scores, heatmaps and masks (or None)."""
        assert state.ae is not None
        images = [frame.image for frame in frames]
        if state.sr is not None:
            images = state.sr.upscale(images)
        # The U-Net runs on a second thread while the anomaly model runs here: torch releases the GIL
        # in its kernels, so with one intra-op thread each the two models use both cores.
        segmenting = self._segmenter.submit(state.unet.segment, images) if state.unet is not None else None
        try:
            scores, heatmaps = state.ae.score_images(images)
        finally:
            masks = segmenting.result() if segmenting is not None else None
        return images, scores, heatmaps, masks

    def _score(
        self, state: CameraState, decoded: list[tuple[FrameMessage, Frame]], records: list[Record]
    ) -> int:
        """Run the models; then the detector, artifacts and one inspection row per frame.

        A batch the models fail on is retried frame by frame: only the frames that fail alone become
        `scoring_failed` dead letters, in their order, so the detector still sees time in order.
        """
        assert state.ae is not None and state.detector is not None
        frames = [frame for _, frame in decoded]
        try:
            images, scores, heatmaps, masks = self._run_models(state, frames)
        except Exception as exc:
            if len(decoded) > 1:
                return sum(self._score(state, [one], records) for one in decoded)
            log.warning(
                "frame could not be scored",
                extra={"camera": state.name, "frame": frames[0].key, "error": repr(exc)},
            )
            detail = f"{type(exc).__name__}: {exc}"[:DETAIL_CHARS]
            self._dead(records, decoded[0][0], InvalidMessage("scoring_failed", detail))
            return 0
        policy = state.config.artifacts
        opened = 0
        for i, frame in enumerate(frames):
            summary = describe_mask(masks[i]) if masks is not None else None
            defects = np.array(
                [summary.area_percent, summary.count] if summary is not None else [0.0, 0.0],
                dtype=np.float64,
            )
            observation = state.detector.observe(frame.ts, float(scores[i]), defects)
            # Each frame is a part: it is anomalous by its own score, as in `monitor score image-ae`;
            # the K-of-N rule decides alerts only, so a single bad part is flagged and kept on disk.
            anomalous = observation.score > observation.threshold
            state.frames += 1
            paths = None
            if wanted(policy, anomalous, state.frames) and self._may_write(state):
                try:
                    paths = write_artifacts(
                        policy.directory,
                        state.name,
                        frame.key,
                        frame.ts,
                        images[i],
                        heatmaps[i],
                        masks[i] if masks is not None else None,
                        summary.boxes if summary is not None else None,
                    )
                    state.artifact_error = None
                except OSError as exc:
                    self._artifact_failed(state, exc)
            records.append(
                InspectionRecord(
                    camera=state.name,
                    ts=frame.ts,
                    frame_key=frame.key,
                    score=float(scores[i]),
                    threshold=observation.threshold,
                    anomaly=anomalous,
                    defect_area=summary.area_percent if summary is not None else None,
                    defect_count=summary.count if summary is not None else None,
                    ae_model_version=state.ae.version,
                    unet_model_version=state.unet.version if state.unet is not None else None,
                    sr_model_version=state.sr.version if state.sr is not None else None,
                    image_path=paths.image if paths else None,
                    heatmap_path=paths.heatmap if paths else None,
                    mask_path=paths.mask if paths else None,
                )
            )
            alert = observation.alert
            if alert is not None:
                records.append(alert)
                if alert.just_opened:
                    opened += 1
        if opened:
            self.metrics.alerts_opened.inc(opened)
        return len(frames)

    def _may_write(self, state: CameraState) -> bool:
        """The camera's artifact budget allows this frame (skips are counted; a full disk is logged)."""
        refusal = state.budget.refusal()
        if refusal is not None:
            self.camera_metrics.artifacts_skipped.labels(refusal).inc()
        if refusal != "rate" and (refusal == "disk_full") != state.disk_full:
            state.disk_full = not state.disk_full
            log.log(
                logging.ERROR if state.disk_full else logging.INFO,
                "artifacts held back: disk almost full" if state.disk_full else "artifacts written again",
                extra={"camera": state.name, "directory": str(state.config.artifacts.directory)},
            )
        return refusal is None

    def _artifact_failed(self, state: CameraState, exc: OSError) -> None:
        """A full or read-only disk must not cost the inspection row: count it, log each new cause once."""
        self.camera_metrics.artifact_errors.inc()
        if str(exc) != state.artifact_error:
            state.artifact_error = str(exc)
            log.error("cannot write artifacts", extra={"camera": state.name, "error": str(exc)})

    def _dead_letter_unknown(self) -> bool:
        """Dead-letter the frames of cameras that are not configured; True when there were any."""
        batch = _take(self._unknown, UNKNOWN_BACKLOG)
        if not batch:
            return False
        records: list[Record] = []
        for message in batch:
            topic = message[0]
            try:
                camera = parse_frames_topic(self.prefix, topic).asset
            except TopicError as exc:
                self._dead(records, message, InvalidMessage(str(exc)))
                continue
            self._dead(records, message, InvalidMessage("unknown_camera", camera))
        self.writer.put_many(records)
        return True

    def _dead(self, records: list[Record], message: FrameMessage, exc: InvalidMessage) -> None:
        topic, payload, received, properties = message
        self.metrics.invalid.labels(exc.reason).inc()
        records.append(
            DeadLetterRecord(
                topic=topic,
                reason=str(exc),
                payload_head=payload[:PAYLOAD_HEAD_BYTES],
                payload_size=payload.size if isinstance(payload, PayloadHead) else len(payload),
                received_at=datetime.fromtimestamp(received, UTC),
                extra={"properties": properties} if properties else {},
            )
        )

    # -- between batches ------------------------------------------------------------------------
    def _apply_requests(self) -> None:
        with self._requests_lock:
            models, self._model_requests = self._model_requests, []
            recalibrate, self._recalibrate = self._recalibrate, False
            released, self._released = self._released, set()
        records: list[Record] = []
        now = datetime.now(UTC)
        if released:
            for state in self._cameras.values():
                if state.detector is not None and state.detector.rule.release(released):
                    log.info("camera alert resolved by an operator", extra={"camera": state.name})
            self._unresolved = {name: a for name, a in self._unresolved.items() if a.id not in released}
        for camera, kind, model in models:
            state = self._cameras[camera]
            if kind == "image-ae":
                previous = state.detector
                try:
                    detector = AssetDetector(
                        camera,
                        self.settings.image_thresholds,
                        self.settings.alerts,
                        model.training_scores,  # type: ignore[union-attr]
                        DEFECT_CHANNELS,
                        open_alert=previous.rule.current if previous else self._unresolved.get(camera),
                        condition=IMAGE_CONDITION,
                    )
                except ValueError as exc:
                    # The camera keeps the model it has (or none: its frames are no_model dead letters).
                    log.error(
                        "camera model refused",
                        extra={"camera": camera, "version": model.version, "error": str(exc)},
                    )
                    continue
                self._unresolved.pop(camera, None)
                saved = self._restore.pop(camera, None)
                if saved is not None and saved.get("version") == model.version:
                    detector.carry_on(saved.get("normal", []))
                state.ae, state.detector = model, detector  # type: ignore[assignment]
                records.append(AssetRecord(name=camera, site=state.site, kind="camera"))
                records.append(state.detector.threshold_record(now))
            elif kind == "unet":
                state.unet = model  # type: ignore[assignment]
            else:
                state.sr = model  # type: ignore[assignment]
            log.info(
                "camera model in service", extra={"camera": camera, "kind": kind, "version": model.version}
            )
        if recalibrate:
            for state in self._cameras.values():
                change = state.detector.recalibrate(now) if state.detector is not None else None
                if change is not None:
                    records.append(change)
        if records:
            self.writer.put_many(records)


class PayloadHead(bytes):
    """What a backlog keeps of a payload it will only dead-letter (over the camera's
    max_frame_bytes, or of an unconfigured camera): its first bytes, and its size."""

    size: int

    def __new__(cls, payload: bytes) -> PayloadHead:
        head = super().__new__(cls, payload[:PAYLOAD_HEAD_BYTES])
        head.size = len(payload)
        return head


def _take(queue: deque[FrameMessage], limit: int) -> list[FrameMessage]:
    """Up to `limit` frames from the left of a backlog (the network thread appends on the right)."""
    taken: list[FrameMessage] = []
    while len(taken) < limit:
        try:
            taken.append(queue.popleft())
        except IndexError:
            break
    return taken


def _segment_thread() -> ThreadPoolExecutor:
    """The one thread that runs a batch's U-Net beside the anomaly model (see `_score`)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="camera-segment")

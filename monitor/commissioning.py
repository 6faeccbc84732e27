"""Commissioning: a new asset's first readings become its baseline, then its first model.

An asset with no active model is not scored; its readings are collected (in model channel order,
the channels of its first reading) until `sensors.baseline_readings` are there. At most
`sensors.max_commissioning` assets collect at once, so a gateway publishing under ever-new names
cannot grow memory without bound: further new assets are refused (dead letters), and a baseline
that got no reading for `ABANDONED_S` gives its place up to a new asset. A background
thread then trains the model (`train_sensor_model`, at most `sensors.baseline_epochs` epochs),
saves it under `models.store/<asset>/<version>`, registers and activates it, and hands it to the
scoring worker, which scores the asset from its next batch on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Engine

from models.sensor_model import SensorModel
from models.sensor_training import SensorTrainConfig, train_sensor_model
from models.training import FitConfig
from monitor import registry
from monitor.ingest.schemas import InvalidMessage, SensorReading
from monitor.settings import Settings

log = logging.getLogger(__name__)

# A baseline with no reading for a day is a name nobody publishes under any more (a test topic, a
# renamed asset); at the limit it makes way for a new asset instead of holding its place until a restart.
ABANDONED_S = 24 * 3600.0

ModelReady = Callable[[str, SensorModel], None]


@dataclass(slots=True)
class _Baseline:
    channels: list[str]
    rows: np.ndarray | None = None  # [baseline_readings, channels], allocated with the first row
    count: int = 0
    others: int = 0  # readings since the last (re)start with another set of channels
    training: bool = False
    last_seen: float = 0.0  # clock time of its latest reading


class Commissioner:
    """Collects baselines (called from the worker thread) and trains one new model at a time."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        on_model: ModelReady,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.on_model = on_model
        self.clock = clock
        self._baselines: dict[str, _Baseline] = {}
        self._full_until = 0.0  # clock time before which the limit holds and no baseline is abandoned
        self._lock = threading.Lock()
        # One training at a time, on a daemon thread: commissioning must not starve the scoring of
        # running assets, nor keep a stopped daemon's process alive (an executor's thread would be
        # joined at exit, past systemd's stop timeout; an unfinished model is never registered).
        self._jobs: queue.Queue[tuple[str, np.ndarray, list[str]] | None] = queue.Queue()
        threading.Thread(target=self._train_jobs, name="commissioning", daemon=True).start()

    def collect(self, readings: list[SensorReading]) -> None:
        """Add readings of an unmodelled asset; starts training once the baseline is complete.

        Raises InvalidMessage (commissioning_full) for a new asset while `sensors.max_commissioning`
        others are collecting and none of them is abandoned.
        """
        asset = readings[0].asset
        needed = self.settings.sensors.baseline_readings
        now = self.clock()
        with self._lock:
            baseline = self._baselines.get(asset)
            if baseline is None:
                self._make_room(now)
                baseline = self._baselines[asset] = _Baseline(sorted(readings[0].values))
                if registry.active_version(self.engine, asset, "sensor") is not None:
                    # Its registered model failed to load (the daemon logged why): an operator must
                    # fix or replace it; silently training another would hide the problem.
                    baseline.training = True
                    log.error(
                        "asset has an active model that is not loaded; not commissioning",
                        extra={"asset": asset},
                    )
                else:
                    log.info(
                        "commissioning: collecting baseline",
                        extra={"asset": asset, "channels": baseline.channels},
                    )
            if baseline.training:
                return
            baseline.last_seen = now
            for reading in readings:
                if baseline.count < needed:
                    self._add(asset, baseline, reading.values, needed)
            if baseline.count < needed:
                return
            baseline.training = True
            self._full_until = 0.0  # a place is free again
            data, baseline.rows = baseline.rows, None
            assert data is not None  # a full baseline has its rows
        self._jobs.put((asset, data, baseline.channels))

    @staticmethod
    def _add(asset: str, baseline: _Baseline, values: dict[str, float], needed: int) -> None:
        """One reading into the baseline when it has the baseline's channels, no more, no fewer.

        The channels are those of the first reading; once readings with another set outnumber the
        matching ones, the baseline starts again with theirs (a first message with an extra boot
        counter, or a partial one, must not decide the model's channels, nor stall it for ever).
        """
        if len(values) != len(baseline.channels) or any(name not in values for name in baseline.channels):
            baseline.others += 1
            if baseline.others <= baseline.count:
                return
            log.warning(
                "commissioning: most readings have other channels; baseline started again with theirs",
                extra={"asset": asset, "was": baseline.channels, "now": sorted(values)},
            )
            baseline.channels, baseline.rows, baseline.count, baseline.others = sorted(values), None, 0, 0
        if baseline.rows is None:
            baseline.rows = np.empty((needed, len(baseline.channels)))
        baseline.rows[baseline.count] = [values[name] for name in baseline.channels]
        baseline.count += 1

    def _make_room(self, now: float) -> None:
        """At the limit, drop the longest-abandoned baseline, or refuse the new asset (lock held).

        A refusal is remembered until the oldest baseline could be abandoned, so a flood of new names
        costs a comparison each, not a scan of every baseline.
        """
        limit = self.settings.sensors.max_commissioning
        full = InvalidMessage(
            "commissioning_full",
            f"new assets collecting a baseline: {limit} (sensors.max_commissioning {limit})",
        )
        if now < self._full_until:
            raise full
        collecting = {asset: b for asset, b in self._baselines.items() if not b.training}
        if len(collecting) < limit:
            return
        oldest = min(collecting, key=lambda asset: collecting[asset].last_seen)
        if now - collecting[oldest].last_seen < ABANDONED_S:
            self._full_until = collecting[oldest].last_seen + ABANDONED_S
            raise full
        del self._baselines[oldest]
        log.warning(
            "commissioning: dropped an abandoned baseline to make room",
            extra={"asset": oldest, "readings": collecting[oldest].count},
        )

    def pending(self) -> dict[str, int]:
        """Readings collected so far per asset still waiting for a model (for heartbeats, tests)."""
        with self._lock:
            return {asset: b.count for asset, b in self._baselines.items() if not b.training}

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the trainings queued so far (tests); TimeoutError when they take longer."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._jobs.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"commissioning still training after {timeout} s")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop: trainings not begun are dropped; one in progress ends with the process."""
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
            self._jobs.task_done()
        self._jobs.put(None)

    def _train_jobs(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._commission(*job)
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def _commission(self, asset: str, data: np.ndarray, channels: list[str]) -> None:
        settings = self.settings
        config = SensorTrainConfig(
            window=settings.sensors.window,
            device=settings.models.device,
            fit=FitConfig(epochs=settings.sensors.baseline_epochs),
        )
        try:
            model = train_sensor_model(data, channels, config)
            directory = settings.models.store / asset / model.version
            model.save(directory)
            registry.register(self.engine, asset, "sensor", directory, model.card, activate=True)
        except Exception:
            log.exception("commissioning failed; collecting a new baseline", extra={"asset": asset})
            with self._lock:
                self._baselines.pop(asset, None)
                self._full_until = 0.0
            return
        log.info(
            "commissioning: model active",
            extra={"asset": asset, "version": model.version, "path": str(directory)},
        )
        self.on_model(asset, model)

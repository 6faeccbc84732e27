"""A synthetic plant: pumps whose sensor channels move together, with labelled faults.

Why: the daemon, the demo, the benchmark and the tests need realistic sensor streams with known
anomalies, without a real plant. Each asset is a centrifugal pump driven by an operating point
(speed set point) that changes now and then; flow, pressure, current and vibration follow the pump
affinity laws, temperatures follow with first-order thermal lags. Faults are injected on a schedule
and every reading carries its label, so results can be checked against ground truth.

The same generator runs in data time (``history``, ``PlantSimulator.readings``: no broker, fast) and
in wall time (``publish``: one JSON message per asset and tick, QoS 1).
"""

from __future__ import annotations

import csv
import json
import math
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

CHANNELS: tuple[str, ...] = (
    "vibration_rms",
    "motor_current",
    "discharge_pressure",
    "suction_pressure",
    "flow",
    "winding_temperature",
    "bearing_temperature",
    "speed",
)
FAULT_KINDS: tuple[str, ...] = ("bearing_wear", "cavitation", "stuck_sensor", "step_change")
NORMAL = ""

# Nominal value of each channel at full speed and its relative measurement noise.
_NOMINAL = {
    "vibration_rms": (2.0, 0.03),  # mm/s
    "motor_current": (40.0, 0.01),  # A
    "discharge_pressure": (6.0, 0.01),  # bar
    "suction_pressure": (1.5, 0.02),  # bar
    "flow": (120.0, 0.015),  # m³/h
    "winding_temperature": (70.0, 0.003),  # °C
    "bearing_temperature": (55.0, 0.004),  # °C
    "speed": (1480.0, 0.003),  # rpm
}
_SET_POINTS = (0.6, 0.8, 1.0)
_AMBIENT_C = 25.0
_SPEED_TAU_S = 8.0
_WINDING_TAU_S = 240.0
_BEARING_TAU_S = 480.0
# Channels a stuck sensor or an offset fault picks from when the schedule names none.
_SENSOR_FAULT_CHANNELS = ("discharge_pressure", "flow", "winding_temperature", "motor_current")
_STEP_OFFSET = {"discharge_pressure": 1.5, "flow": 30.0, "winding_temperature": 10.0, "motor_current": 8.0}
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ScheduleError(ValueError):
    """A fault schedule that cannot be parsed; the message names the bad entry."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: [start, end) on one asset; `channel` for sensor faults."""

    asset: str
    kind: str
    start: datetime
    end: datetime
    channel: str | None = None

    def active(self, ts: datetime) -> bool:
        return self.start <= ts < self.end

    def describe(self) -> str:
        what = f"{self.kind}({self.channel})" if self.channel else self.kind
        return f"{self.asset:<12} {what:<36} {_iso(self.start)} → {_iso(self.end)}"


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of one asset: what is published, plus the ground-truth label ('' = normal)."""

    asset: str
    ts: datetime
    values: dict[str, float]
    label: str

    def payload(self) -> bytes:
        """The MQTT payload per the fixed contract: {"ts": ISO-8601 ms Z, "values": {...}}."""
        return json.dumps({"ts": _iso(self.ts), "values": self.values}).encode()


def asset_names(count: int) -> list[str]:
    """The simulated plant's asset names: pump-01, pump-02, … (three digits beyond 99)."""
    if count < 1:
        raise ValueError("need at least one asset")
    width = max(2, len(str(count)))
    return [f"pump-{i:0{width}d}" for i in range(1, count + 1)]


def parse_schedule(spec: str, assets: Sequence[str], start: datetime) -> list[Fault]:
    """Parse `asset:kind[/channel]@START+DURATION,...` (seconds after `start`) into faults."""
    faults = []
    pattern = re.compile(
        r"^(?P<asset>[^:]+):(?P<kind>[a-z_]+)(?:/(?P<channel>[a-z_]+))?@(?P<start>[0-9.]+)\+(?P<dur>[0-9.]+)$"
    )
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        match = pattern.match(entry)
        if match is None:
            raise ScheduleError(f"bad fault entry {entry!r}: expected asset:kind[/channel]@start+duration")
        asset, kind, channel = match["asset"], match["kind"], match["channel"]
        if asset not in assets:
            raise ScheduleError(
                f"fault entry {entry!r}: unknown asset {asset!r} (assets: {', '.join(assets)})"
            )
        if kind not in FAULT_KINDS:
            raise ScheduleError(
                f"fault entry {entry!r}: unknown fault {kind!r} (valid: {', '.join(FAULT_KINDS)})"
            )
        if channel is not None and channel not in CHANNELS:
            raise ScheduleError(f"fault entry {entry!r}: unknown channel {channel!r}")
        if kind in ("stuck_sensor", "step_change"):
            channel = channel or _SENSOR_FAULT_CHANNELS[0]
        elif channel is not None:
            raise ScheduleError(f"fault entry {entry!r}: only stuck_sensor and step_change take a channel")
        begin = start + timedelta(seconds=float(match["start"]))
        faults.append(Fault(asset, kind, begin, begin + timedelta(seconds=float(match["dur"])), channel))
    return sorted(faults, key=lambda f: (f.start, f.asset))


def auto_schedule(
    assets: Sequence[str],
    start: datetime,
    horizon_s: float,
    rate_hz: float,
    seed: int,
    warmup_s: float = 60.0,
) -> list[Fault]:
    """A schedule that gives every asset each fault kind in turn, staggered, with normal gaps between.

    Durations are counted in readings (bearing wear is a slow drift, cavitation a shorter episode), so
    a faster rate gives shorter faults in wall time but the same number of labelled readings.
    """
    rng = np.random.default_rng(seed)
    readings = {"bearing_wear": 600, "cavitation": 240, "stuck_sensor": 240, "step_change": 300}
    faults = []
    for index, asset in enumerate(assets):
        t = warmup_s + index * 30.0 / rate_hz + rng.uniform(0, 60.0 / rate_hz)
        kinds = list(FAULT_KINDS)
        rng.shuffle(kinds)
        turn = 0
        while True:
            kind = kinds[turn % len(kinds)]
            duration = readings[kind] * rng.uniform(0.8, 1.2) / rate_hz
            if t + duration > horizon_s:
                break
            channel = (
                str(rng.choice(_SENSOR_FAULT_CHANNELS)) if kind in ("stuck_sensor", "step_change") else None
            )
            begin = start + timedelta(seconds=t)
            faults.append(Fault(asset, kind, begin, begin + timedelta(seconds=duration), channel))
            t += duration + rng.uniform(1200, 2400) / rate_hz
            turn += 1
    return sorted(faults, key=lambda f: (f.start, f.asset))


def write_ground_truth(faults: Sequence[Fault], path: Path) -> None:
    """Write the schedule as CSV columns asset,fault,start,end (ISO-8601 UTC) for scoring results."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["asset", "fault", "start", "end"])
        for fault in faults:
            writer.writerow([fault.asset, fault.kind, _iso(fault.start), _iso(fault.end)])


@dataclass
class _AssetParams:
    """Per-asset manufacturing spread: no two pumps read exactly alike."""

    scale: np.ndarray  # [A, C] multiplier of the nominal values
    set_point_hold_s: np.ndarray  # [A] mean seconds between set-point changes


@dataclass
class PlantSimulator:
    """Steps every asset forward in data time; `readings()` yields labelled readings in time order.

    `seed` makes the plant (each pump's manufacturing spread); `run` makes one recording of it (noise,
    set-point changes): train on run 1, monitor run 0, and the model meets the same pumps.
    """

    assets: Sequence[str]
    rate_hz: float = 1.0
    seed: int = 0
    faults: Sequence[Fault] = ()
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    run: int = 0

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError("rate must be positive")
        bad = [a for a in self.assets if not _ASSET_NAME.match(a)]
        if bad or not self.assets:
            raise ValueError(f"asset names must match [A-Za-z0-9_.-]{{1,64}}: {bad or 'none given'}")
        n = len(self.assets)
        self._params = _AssetParams(
            scale=np.ones((n, len(CHANNELS))),
            set_point_hold_s=np.ones(n),
        )
        for i, asset in enumerate(self.assets):
            # A pump is the same pump in every recording of the plant: its spread depends only on
            # the seed and its name, the noise and set points also on the recording (`run`).
            own = np.random.default_rng([self.seed, zlib.crc32(asset.encode())])
            self._params.scale[i] = 1.0 + own.normal(0, 0.03, size=len(CHANNELS))
            self._params.set_point_hold_s[i] = own.uniform(120, 480)
        self._rng = np.random.default_rng([self.seed, self.run, 1])
        self._nominal = np.array([_NOMINAL[c][0] for c in CHANNELS])
        self._noise = np.array([_NOMINAL[c][1] for c in CHANNELS])
        self._target = self._rng.choice(_SET_POINTS, size=n)
        self._speed = self._target.copy()
        self._winding = self._steady_winding(self._speed)
        self._bearing = self._steady_bearing(self._speed)
        self._cavitation_burst = np.zeros(n, dtype=bool)
        self._stuck: dict[tuple[int, str], float] = {}
        self._index = {asset: i for i, asset in enumerate(self.assets)}
        self._col = {c: j for j, c in enumerate(CHANNELS)}
        self._step = 0

    @property
    def dt(self) -> float:
        return 1.0 / self.rate_hz

    def _steady_winding(self, speed: np.ndarray) -> np.ndarray:
        current = 0.3 + 0.7 * speed**3
        return _AMBIENT_C + (_NOMINAL["winding_temperature"][0] - _AMBIENT_C) * current**2

    def _steady_bearing(self, speed: np.ndarray) -> np.ndarray:
        return _AMBIENT_C + (_NOMINAL["bearing_temperature"][0] - _AMBIENT_C) * (0.5 + 0.5 * speed)

    def step(self) -> tuple[datetime, np.ndarray, list[str]]:
        """Advance one tick: the timestamp, values [A, C] and each asset's label."""
        ts = self.start + timedelta(seconds=self._step * self.dt)
        self._step += 1
        n, rng, dt = len(self.assets), self._rng, self.dt
        # Operating point: occasional set-point changes, the drive ramps towards them.
        change = rng.random(n) < dt / self._params.set_point_hold_s
        if change.any():
            self._target[change] = rng.choice(_SET_POINTS, size=int(change.sum()))
        self._speed += (self._target - self._speed) * (1 - math.exp(-dt / _SPEED_TAU_S))
        s = self._speed

        wear = np.zeros(n)
        cavitating = np.zeros(n, dtype=bool)
        labels = [NORMAL] * n
        active = [f for f in self.faults if f.active(ts)]
        for fault in active:
            i = self._index.get(fault.asset)
            if i is None:
                continue
            labels[i] = fault.kind
            if fault.kind == "bearing_wear":
                span = (fault.end - fault.start).total_seconds()
                wear[i] = min(1.0, (ts - fault.start).total_seconds() / span) if span > 0 else 1.0
            elif fault.kind == "cavitation":
                cavitating[i] = True

        # Thermal lags: winding heats with current², bearing with speed and wear friction.
        self._winding += (self._steady_winding(s) - self._winding) * (1 - math.exp(-dt / _WINDING_TAU_S))
        bearing_target = self._steady_bearing(s)
        self._bearing += (bearing_target - self._bearing) * (1 - math.exp(-dt / _BEARING_TAU_S))

        # Cavitation comes in bursts: a two-state Markov chain per cavitating asset.
        flip = rng.random(n) < np.where(self._cavitation_burst, 0.25, 0.15)
        self._cavitation_burst = np.where(cavitating, self._cavitation_burst ^ flip, False)
        burst = self._cavitation_burst

        shape = np.empty((n, len(CHANNELS)))
        shape[:, self._col["vibration_rms"]] = (
            (0.5 + 0.5 * s**2) * (1 + 2.0 * wear**1.5) * np.where(burst, 2.2, 1.0)
        )
        shape[:, self._col["motor_current"]] = 0.3 + 0.7 * s**3
        shape[:, self._col["discharge_pressure"]] = s**2 * np.where(cavitating, 0.93, 1.0)
        shape[:, self._col["suction_pressure"]] = (1.05 - 0.05 * s**2) * np.where(cavitating, 0.7, 1.0)
        shape[:, self._col["flow"]] = s * np.where(cavitating, 0.95, 1.0)
        shape[:, self._col["winding_temperature"]] = self._winding / _NOMINAL["winding_temperature"][0]
        # Friction heat of a worn bearing shows at the sensor right away (it sits on the bearing).
        shape[:, self._col["bearing_temperature"]] = (self._bearing + 12.0 * wear) / _NOMINAL[
            "bearing_temperature"
        ][0]
        shape[:, self._col["speed"]] = s
        noise_scale = np.tile(self._noise, (n, 1))
        noisy = np.where(burst, 8.0, 1.0)
        for name in ("discharge_pressure", "flow", "suction_pressure"):
            noise_scale[:, self._col[name]] *= noisy
        values = (
            self._nominal * self._params.scale * shape * (1 + noise_scale * rng.standard_normal(shape.shape))
        )

        for fault in active:
            i = self._index.get(fault.asset)
            if i is None or fault.channel is None:
                continue
            j = self._col[fault.channel]
            if fault.kind == "stuck_sensor":
                values[i, j] = self._stuck.setdefault((i, fault.channel), float(values[i, j]))
            elif fault.kind == "step_change":
                values[i, j] += _STEP_OFFSET.get(fault.channel, 0.1 * self._nominal[j])
        for key in [k for k in self._stuck if labels[k[0]] != "stuck_sensor"]:
            del self._stuck[key]
        return ts, values, labels

    def readings(self, steps: int | None = None) -> Iterator[Reading]:
        """Yield readings asset by asset, tick by tick, in data time (forever if steps is None)."""
        done = 0
        while steps is None or done < steps:
            ts, values, labels = self.step()
            for i, asset in enumerate(self.assets):
                yield Reading(asset, ts, _rounded(values[i]), labels[i])
            done += 1


def history(
    assets: Sequence[str] | int,
    seconds: float,
    seed: int = 0,
    rate_hz: float = 1.0,
    faults: Sequence[Fault] = (),
    start: datetime | None = None,
    run: int = 0,
) -> pd.DataFrame:
    """Simulated history without a broker: columns asset, ts, every channel, label (long format).

    Tests and the demo use it to make training data in a fraction of a second.
    """
    names = asset_names(assets) if isinstance(assets, int) else list(assets)
    sim = PlantSimulator(
        names,
        rate_hz=rate_hz,
        seed=seed,
        faults=faults,
        start=start or datetime(2026, 1, 1, tzinfo=UTC),
        run=run,
    )
    steps = max(1, int(round(seconds * rate_hz)))
    stamps, blocks, labels = [], [], []
    for _ in range(steps):
        ts, values, step_labels = sim.step()
        stamps.append(ts)
        blocks.append(values)
        labels.extend(step_labels)
    frame = pd.DataFrame(np.concatenate(blocks), columns=list(CHANNELS))
    frame.insert(0, "ts", pd.DatetimeIndex(stamps).repeat(len(names)))
    frame.insert(0, "asset", names * steps)
    frame["label"] = labels
    return frame


class Publisher(Protocol):
    """Anything with paho's publish signature (a paho client, monitor.comms.mqtt.MqttConnection)."""

    def publish(self, topic: str, payload: bytes, qos: int = ..., retain: bool = ...) -> Any: ...


@dataclass
class PublishStats:
    """What `publish` sent: messages and the wall time it took."""

    messages: int = 0
    seconds: float = 0.0


def sensors_topic(prefix: str, site: str, asset: str) -> str:
    """The fixed sensor topic: <prefix>/<site>/<asset>/sensors."""
    return f"{prefix}/{site}/{asset}/sensors"


def publish(
    client: Publisher,
    simulator: PlantSimulator,
    prefix: str,
    site: str,
    duration_s: float | None,
    stop: threading.Event | None = None,
    on_tick: Callable[[PublishStats], None] | None = None,
    flush_timeout_s: float = 10.0,
) -> PublishStats:
    """Publish one message per asset per tick, paced by the wall clock, QoS 1, until duration or stop.

    The data time starts at the simulator's start and advances with the wall clock, so `ts` in each
    payload is close to its publish time. A connected, looping client is expected.
    """
    stop = stop or threading.Event()
    stats = PublishStats()
    began = time.monotonic()
    ticks = None if duration_s is None else max(1, int(duration_s * simulator.rate_hz))
    tick = 0
    last = None
    while not stop.is_set() and (ticks is None or tick < ticks):
        due = began + tick * simulator.dt
        delay = due - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        ts, values, _ = simulator.step()
        for i, asset in enumerate(simulator.assets):
            reading = Reading(asset, ts, _rounded(values[i]), NORMAL)
            last = client.publish(sensors_topic(prefix, site, asset), reading.payload(), qos=1)
            stats.messages += 1
        tick += 1
        stats.seconds = time.monotonic() - began
        if on_tick is not None:
            on_tick(stats)
    if last is not None:
        _wait_acknowledged(last, flush_timeout_s)
    return stats


def _wait_acknowledged(info: Any, timeout: float) -> None:
    """Wait until the broker acknowledged the last message, so a clean exit loses nothing queued."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if info.is_published():
                return
        except (RuntimeError, ValueError):
            return  # paho reports the publish as failed (e.g. never connected): nothing to wait for
        time.sleep(0.01)


def _rounded(row: np.ndarray) -> dict[str, float]:
    return {name: round(float(v), 4) for name, v in zip(CHANNELS, row, strict=True)}


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"

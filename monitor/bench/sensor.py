"""`monitor bench sensor`: how fast the daemon drains sensor messages compared with a bare subscriber.

Why: the daemon parses, validates, windows, scores with torch, applies thresholds and alert rules and
writes every score to SQL; a bare paho subscriber only parses JSON. Their ratio says how much of the
broker's delivery rate the service keeps. Both consumers drain the same messages, pre-queued in their
own persistent session on a private Mosquitto (nothing else shares its queue limits), so the
publisher's speed never enters the measurement. A second, paced run publishes at a fixed rate with
`ts` = publish time and measures publish-to-stored latency from the rows in `scores`.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import sqlalchemy as sa
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from monitor import simulate
from monitor.bench.brokers import MosquittoBroker

DEFAULT_DB_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SESSION_EXPIRY_S = 3600
MAX_UNACKED = 20_000
TARGET_RATIO = 0.70
TARGET_P99_MS = 250.0
TARGET_RSS_MB = 1536.0


SECTION = "## Sensor ingestion: `monitor bench sensor`"


class BenchError(RuntimeError):
    """The benchmark could not run or a consumer stalled; the message says where."""


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run measures."""

    messages: int = 100_000
    assets: int = 100
    channels: int = 8
    db_url: str = DEFAULT_DB_URL
    window: int = 32
    paced_rate: float = 500.0  # messages per second in the latency run
    paced_seconds: float = 20.0
    seed: int = 0
    stall_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.channels <= len(simulate.CHANNELS):
            raise ValueError(f"channels must be 1..{len(simulate.CHANNELS)}")
        if self.assets < 1 or self.messages < self.assets:
            raise ValueError("need at least one asset and one message per asset")
        if self.messages // self.assets < self.window:
            raise ValueError(
                f"{self.messages // self.assets} messages per asset never fill a window of {self.window}: "
                "raise --messages or lower --assets"
            )

    @property
    def steps(self) -> int:
        """Readings per asset (the message count is rounded down to a whole number of ticks)."""
        return self.messages // self.assets

    @property
    def total(self) -> int:
        return self.steps * self.assets

    def expected_scores(self, readings_per_asset: int) -> int:
        """Each asset's first window-1 readings have no score."""
        return self.assets * max(0, readings_per_asset - self.window + 1)


@dataclass
class ConsumerResult:
    """One row of the results table. `expected`/`stored` count the drain; `lost` adds the paced run."""

    name: str
    messages: int
    seconds: float
    expected: int
    stored: int
    lost: int
    duplicates: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    peak_rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BenchReport:
    """Both consumers' results plus where and how they were measured."""

    config: BenchConfig
    bare: ConsumerResult
    daemon: ConsumerResult
    command: str
    started: datetime
    hardware: dict[str, str] = field(default_factory=dict)
    database: str = ""

    @property
    def ratio(self) -> float:
        return self.daemon.rate / self.bare.rate if self.bare.rate else 0.0

    def targets(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met) for each acceptance target."""
        d = self.daemon
        return [
            (f"daemon ≥ {TARGET_RATIO:.0%} of bare", f"{self.ratio:.0%}", self.ratio >= TARGET_RATIO),
            (
                f"p99 latency ≤ {TARGET_P99_MS:.0f} ms",
                _ms(d.p99_ms),
                d.p99_ms is not None and d.p99_ms <= TARGET_P99_MS,
            ),
            (
                f"daemon peak RSS ≤ {TARGET_RSS_MB / 1024:.1f} GB",
                _mb(d.peak_rss_mb),
                d.peak_rss_mb is not None and d.peak_rss_mb <= TARGET_RSS_MB,
            ),
            ("no message lost", f"{self.bare.lost + d.lost} lost", self.bare.lost + d.lost == 0),
        ]

    def table(self) -> str:
        """The results as a Markdown table (readable on a terminal too)."""
        header = "| consumer | messages | seconds | msgs/s | expected rows | stored rows | lost | duplicates "
        header += "| p50 latency | p99 latency | peak RSS |"
        lines = [header, "|" + " --- |" * 11]
        for r in (self.bare, self.daemon):
            lines.append(
                f"| {r.name} | {r.messages} | {r.seconds:.2f} | {r.rate:,.0f} | {r.expected} | {r.stored} | "
                f"{r.lost} | {r.duplicates} | {_ms(r.p50_ms)} | {_ms(r.p99_ms)} | {_mb(r.peak_rss_mb)} |"
            )
        return "\n".join(lines)

    def markdown(self) -> str:
        """docs/benchmarks.md: the table, the targets, the hardware, the command and the date."""
        c = self.config
        targets = "\n".join(
            f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in self.targets()
        )
        hardware = "\n".join(f"- {key}: {value}" for key, value in self.hardware.items())
        return f"""{SECTION}

Measured {self.started:%Y-%m-%d %H:%M} UTC with

```
{self.command}
```

{c.total} single-reading JSON messages ({c.assets} assets × {c.steps} readings, {c.channels} channels),
QoS 1, pre-queued in each consumer's persistent session on a private Mosquitto
(`config/mosquitto/benchmark.conf`: no queue limit, 100 in flight), then drained and timed. The bare
consumer is a paho-mqtt 2.x subscriber that only parses the JSON and counts. The daemon is
`monitor run` in its own process: validation, windows of {c.window}, autoencoder scoring, adaptive
thresholds, alert rules, and every score written to SQL ({self.database}); its peak RSS is the sum
of the peaks (VmHWM) of its process and its children (the MQTT receiver). Its drain is timed from
its MQTT connect (status `online`) until the last expected row is in `scores` (polled every 0.2 s).
Latency comes from a second, paced run: {c.paced_rate:g} messages/s for {c.paced_seconds:g} s with
`ts` = publish time; latency = the time a row was first seen committed in `scores` − `ts` (rows are
polled every 50 ms, so values are upper bounds by up to 50 ms). Lost = expected score rows − stored
rows (each asset's first {c.window - 1} readings have no score); for the bare consumer, expected =
messages.

{self.table()}

Daemon rate / bare rate: **{self.ratio:.0%}**.

| target | measured | met |
| --- | --- | --- |
{targets}

### Hardware

{hardware}
"""


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} MB"


def hardware() -> dict[str, str]:
    """What the numbers were measured on."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split()[1])
        memory = f"{total_kb / 1024**2:.1f} GiB"
    return {
        "CPU": model,
        "cores (nproc)": str(os.cpu_count()),
        "memory": memory or "unknown",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
    }


# -- messages and publishing -------------------------------------------------------------------------


def _payload(ts: datetime, channels: tuple[str, ...], values: np.ndarray) -> bytes:
    """One reading in the payload contract's JSON, `ts` to the millisecond, values to 4 decimals."""
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    row = {name: round(float(v), 4) for name, v in zip(channels, values, strict=False)}
    return json.dumps({"ts": stamp, "values": row}).encode()


def bench_messages(
    config: BenchConfig, prefix: str, site: str, start: datetime, steps: int | None = None
) -> list[tuple[str, bytes]]:
    """(topic, payload) of every message, tick by tick, from the simulated plant (data time)."""
    assets = simulate.asset_names(config.assets)
    channels = simulate.CHANNELS[: config.channels]
    sim = simulate.PlantSimulator(assets, rate_hz=1.0, seed=config.seed, start=start)
    topics = [simulate.sensors_topic(prefix, site, a) for a in assets]
    messages: list[tuple[str, bytes]] = []
    for _ in range(steps if steps is not None else config.steps):
        ts, values, _ = sim.step()
        messages.extend((topic, _payload(ts, channels, values[i])) for i, topic in enumerate(topics))
    return messages


def _client(client_id: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def _connect(client: paho.Client, port: int, persistent: bool) -> None:
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    client.connect("127.0.0.1", port, keepalive=60, clean_start=not persistent, properties=properties)


def publish_all(port: int, messages: Sequence[tuple[str, bytes]], timeout_s: float = 600.0) -> float:
    """Publish every message QoS 1 and wait until the broker acknowledged all; returns seconds taken."""
    client = _client(f"bench-pub-{uuid.uuid4().hex[:8]}")
    _connect(client, port, persistent=False)
    client.loop_start()
    began = time.monotonic()
    deadline = time.monotonic() + timeout_s
    pending: deque[paho.MQTTMessageInfo] = deque()

    def settle(keep: int) -> None:
        while len(pending) > keep:
            info = pending.popleft()
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise BenchError("the broker did not acknowledge every published message")

    try:
        for topic, payload in messages:
            pending.append(client.publish(topic, payload, qos=1))
            settle(MAX_UNACKED)  # message ids are 16-bit: never more than that outstanding
        settle(0)
    finally:
        client.disconnect()
        client.loop_stop()
    return time.monotonic() - began


def create_session(port: int, client_id: str, topic: str) -> None:
    """Subscribe a persistent session once and leave, so the broker queues what is published next."""
    done = threading.Event()
    client = _client(client_id)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: done.set()
    _connect(client, port, persistent=True)
    client.loop_start()
    try:
        if not done.wait(10):
            raise BenchError(f"could not subscribe {client_id} to {topic}")
    finally:
        client.disconnect()
        client.loop_stop()


def drain_bare(port: int, client_id: str, expected: int, stall_timeout_s: float) -> ConsumerResult:
    """Reconnect the bare subscriber's session and time it from CONNACK to the last queued message."""
    count = 0
    seen: set[bytes] = set()
    connected_at = 0.0
    last_at = 0.0
    done = threading.Event()

    def on_connect(*_: Any) -> None:
        nonlocal connected_at
        connected_at = time.monotonic()

    def on_message(_c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        nonlocal count, last_at
        json.loads(message.payload)
        count += 1
        seen.add(bytes(message.payload))
        last_at = time.monotonic()
        if count >= expected:
            done.set()

    client = _client(client_id)
    client.on_connect = on_connect
    client.on_message = on_message
    _connect(client, port, persistent=True)
    client.loop_start()
    try:
        _wait_progress(done, lambda: count, stall_timeout_s, "bare subscriber")
    finally:
        client.disconnect()
        client.loop_stop()
    return ConsumerResult(
        "bare paho subscriber (json.loads + count)",
        messages=count,
        seconds=last_at - connected_at,
        expected=expected,
        stored=len(seen),
        lost=expected - len(seen),
        duplicates=count - len(seen),
    )


def _wait_progress(done: threading.Event, progress: Callable[[], int], stall_s: float, who: str) -> None:
    """Wait for `done`; give up when `progress()` has not moved for `stall_s` seconds."""
    last, since = -1, time.monotonic()
    while not done.wait(0.2):
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall_s:
            return  # the caller reports what arrived; missing messages count as lost
    _ = who


# -- the daemon under test ---------------------------------------------------------------------------


@contextmanager
def bench_database(url: str) -> Iterator[str]:
    """A fresh database for one run: a new PostgreSQL schema (dropped afterwards) or SQLite file."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(parsed)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        raise BenchError(f"cannot reach the database at {parsed.render_as_string()}: {exc.orig}") from exc
    try:
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident set (VmHWM) of a process and its children, summed, in MB, from /proc (Linux).

    The daemon may receive MQTT in a child process; its memory is the daemon's too. The sum of
    per-process peaks is an upper bound of the peak of the sum.
    """
    total_kb, found = 0, False
    for member in _process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
                    found = True
        except OSError:
            continue
    return total_kb / 1024 if found else None


def _process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc/<pid>/task/<tid>/children."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return tree


def train_bench_model(config: BenchConfig, store: Path) -> tuple[Path, dict[str, Any]]:
    """One tiny model on simulated normal data, shared by every asset (the bench measures throughput)."""
    from models.sensor_training import SensorTrainConfig, train_sensor_model
    from models.training import FitConfig

    channels = list(simulate.CHANNELS[: config.channels])
    # Ten of the same pumps (seed), another recording (run): one model that has seen their spread.
    frame = simulate.history(simulate.asset_names(config.assets)[:10], 300, seed=config.seed, run=1)
    data = np.concatenate([group[channels].to_numpy(np.float64) for _, group in frame.groupby("asset")])
    train = SensorTrainConfig(
        window=config.window, seed=config.seed, fit=FitConfig(epochs=3, patience=3, batch_size=256)
    )
    model = train_sensor_model(data, channels, train)
    directory = store / "bench" / model.version
    model.save(directory)
    return directory, model.card


def register_for_assets(db_url: str, assets: Sequence[str], directory: Path, card: dict[str, Any]) -> None:
    """Register and activate the model for every asset, as `monitor models activate` would."""
    from monitor import registry
    from monitor.store.db import create_engine_for

    engine = create_engine_for(db_url)
    try:
        for asset in assets:
            registry.register(engine, asset, "sensor", directory, card, activate=True)
    finally:
        engine.dispose()


class StatusWatch:
    """Watches the daemon's status topic: the time of each live (not retained) `online`."""

    def __init__(self, port: int, topic: str) -> None:
        self.online_at: list[float] = []
        self._event = threading.Event()
        self._client = _client(f"bench-status-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._on_message
        _connect(self._client, port, persistent=False)
        self._client.loop_start()
        if not subscribed.wait(10):
            raise BenchError("cannot watch the daemon's status topic")

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        if message.payload == b"online" and not message.retain:
            self.online_at.append(time.monotonic())
            self._event.set()

    def wait_online(self, timeout: float, alive: Callable[[], bool]) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            if self._event.wait(0.2):
                self._event.clear()
                return self.online_at[-1]
        raise BenchError("the daemon did not come online")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class DaemonProcess:
    """`monitor run --config <file>` in its own process, so its memory and CPU are its own."""

    def __init__(self, config_path: Path, log_path: Path, watch: StatusWatch) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.watch = watch
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> float:
        """Launch and return the monotonic time it announced `online` (connected and subscribed)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self.process
        try:
            return self.watch.wait_online(timeout, alive=lambda: process.poll() is None)
        except BenchError as exc:
            self.stop()
            raise BenchError(f"{exc}; its log ends: {self.log_tail()}") from exc

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.process.pid) if self.process else None

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (the daemon drains and disconnects cleanly), then kill if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def log_tail(self, chars: int = 1500) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def _scores_stored(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM scores")).scalar_one())


def drain_daemon(
    daemon: DaemonProcess, engine: sa.Engine, expected: int, messages: int, stall_timeout_s: float
) -> ConsumerResult:
    """Start the daemon on its pre-queued session; time from `online` until every expected row is stored."""
    online = daemon.start()
    stored, done_at = 0, time.monotonic()
    last_change = time.monotonic()
    while stored < expected:
        time.sleep(0.2)
        now_stored = _scores_stored(engine)
        if now_stored != stored:
            stored, last_change, done_at = now_stored, time.monotonic(), time.monotonic()
        elif time.monotonic() - last_change > stall_timeout_s:
            break
    return ConsumerResult(
        "daemon (scored + stored)",
        messages=messages if stored >= expected else stored,
        seconds=done_at - online,
        expected=expected,
        stored=stored,
        lost=max(0, expected - stored),
        duplicates=max(0, stored - expected),
    )


def _ms_floor(ts: datetime) -> datetime:
    """`ts` cut to the millisecond, as the payload carries it."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _stored_since(seen: dict[tuple[str, datetime], float], lock: threading.Lock, first: datetime) -> int:
    with lock:
        return sum(1 for _, ts in seen if ts >= first)


def paced_latency(
    port: int,
    engine: sa.Engine,
    config: BenchConfig,
    prefix: str,
    site: str,
    stall_timeout_s: float,
) -> tuple[float, float, int]:
    """Publish at a fixed rate with ts = publish time; return p50 and p99 ms to stored, and rows missing.

    A poller reads new rows of `scores` every 50 ms through the (asset, ts) primary key and stamps
    each with the time it first saw it.
    """
    from monitor.store.tables import Score

    assets = simulate.asset_names(config.assets)
    channels = simulate.CHANNELS[: config.channels]
    tick_hz = config.paced_rate / config.assets
    ticks = max(1, int(config.paced_seconds * tick_hz))
    began_wall = datetime.now(UTC)
    seen: dict[tuple[str, datetime], float] = {}
    seen_lock = threading.Lock()  # the poller adds while the publisher counts
    stop = threading.Event()

    def poll() -> None:
        watermark = began_wall
        query = sa.select(Score.asset, Score.ts).where(Score.asset.in_(assets))
        while not stop.is_set():
            with engine.connect() as conn:
                rows = conn.execute(query.where(Score.ts > watermark)).all()
            now = time.time()
            with seen_lock:
                for asset, ts in rows:
                    seen.setdefault((asset, ts), now)
            if rows:
                watermark = max(watermark, max(ts for _, ts in rows) - timedelta(seconds=1))
            stop.wait(0.05)

    poller = threading.Thread(target=poll, name="bench-latency-poll", daemon=True)
    poller.start()
    sim = simulate.PlantSimulator(assets, rate_hz=tick_hz, seed=config.seed + 2)
    topics = [simulate.sensors_topic(prefix, site, a) for a in assets]
    client = _client(f"bench-paced-{uuid.uuid4().hex[:8]}")
    _connect(client, port, persistent=False)
    client.loop_start()
    sent: list[datetime] = []
    # The drain's readings ended minutes ago, a gap after which each window starts afresh: the first
    # window-1 ticks only fill it (no score). They run at the paced cadence like the rest, so the
    # timed ticks find a daemon in its steady state, and are not timed.
    warmup = config.window - 1
    try:
        start = time.monotonic()
        for tick in range(warmup + ticks):
            delay = start + tick / tick_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            _, values, _ = sim.step()
            ts = _ms_floor(datetime.now(UTC))
            for i, topic in enumerate(topics):
                client.publish(topic, _payload(ts, channels, values[i]), qos=1)
            if tick >= warmup:
                sent.append(ts)
        deadline = time.monotonic() + stall_timeout_s
        while (
            _stored_since(seen, seen_lock, sent[0]) < len(sent) * len(assets) and time.monotonic() < deadline
        ):
            time.sleep(0.1)
    finally:
        stop.set()
        poller.join(5)
        client.disconnect()
        client.loop_stop()
    end = time.time()
    latencies = []
    missing = 0
    for ts in sent:
        for asset in assets:
            stored_at = seen.get((asset, ts))
            if stored_at is None:
                missing += 1
                stored_at = end
            latencies.append((stored_at - ts.timestamp()) * 1000)
    p50, p99 = np.percentile(latencies, [50, 99])
    return float(p50), float(p99), missing


def daemon_config(
    config: BenchConfig, port: int, db_url: str, prefix: str, store: Path, instance: str
) -> dict[str, Any]:
    """The daemon's settings for the run: private broker, fresh database, no metrics port to clash."""
    return {
        "instance": instance,
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "client_id": instance, "topic_prefix": prefix},
        "database": {"url": db_url},
        "models": {"store": str(store)},
        "sensors": {"window": config.window},
        "worker": {"state_dir": str(store.parent / "state")},
        "metrics": {"enabled": False},
        "logging": {"level": "WARNING"},
    }


def run_sensor_bench(
    config: BenchConfig, command: str = "monitor bench sensor", say: Callable[[str], None] = print
) -> BenchReport:
    """Run both consumers on the same messages, then the paced latency run; return the report."""
    from monitor.settings import Settings
    from monitor.store.db import create_engine_for, safe_url
    from monitor.store.migrate import upgrade

    started = datetime.now(UTC)
    prefix, site = f"bench{uuid.uuid4().hex[:6]}", "site1"
    topic = f"{prefix}/+/+/sensors"
    assets = simulate.asset_names(config.assets)
    data_start = started - timedelta(seconds=config.steps + 120)
    say(
        f"generating {config.total} messages ({config.assets} assets × {config.steps}, {config.channels} channels)"
    )
    messages = bench_messages(config, prefix, site, data_start)

    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp, MosquittoBroker() as broker:
        work = Path(tmp)
        say(f"private mosquitto on {broker.url}")

        bare_id = f"bench-bare-{uuid.uuid4().hex[:6]}"
        create_session(broker.port, bare_id, topic)
        say(f"pre-queueing for the bare subscriber: {publish_all(broker.port, messages):.1f} s")
        bare = drain_bare(broker.port, bare_id, len(messages), config.stall_timeout_s)
        say(f"bare: {bare.rate:,.0f} msgs/s")

        with bench_database(config.db_url) as db_url:
            say(f"database: {safe_url(db_url)}")
            upgrade(db_url)
            directory, card = train_bench_model(config, work / "models")
            register_for_assets(db_url, assets, directory, card)
            instance = f"bench-{uuid.uuid4().hex[:6]}"
            settings = Settings(
                **daemon_config(config, broker.port, db_url, prefix, work / "models", instance)
            )
            config_path = work / "monitor.yaml"
            config_path.write_text(
                yaml.safe_dump(json.loads(settings.model_dump_json(exclude_defaults=True)))
            )
            watch = StatusWatch(broker.port, f"{prefix}/monitor/{instance}/status")
            daemon = DaemonProcess(config_path, work / "daemon.log", watch)
            engine = create_engine_for(db_url)
            try:
                daemon.start()  # creates its persistent session and subscription
                daemon.stop()
                say(f"pre-queueing for the daemon: {publish_all(broker.port, messages):.1f} s")
                expected = config.expected_scores(config.steps)
                result = drain_daemon(daemon, engine, expected, len(messages), config.stall_timeout_s)
                say(f"daemon: {result.rate:,.0f} msgs/s, {result.stored}/{expected} rows")
                p50, p99, missing = paced_latency(
                    broker.port, engine, config, prefix, site, config.stall_timeout_s
                )
                result.p50_ms, result.p99_ms = p50, p99
                result.lost += missing  # rows of the paced run never stored are lost too
                say(
                    f"paced {config.paced_rate:g} msgs/s: p50 {p50:.0f} ms, p99 {p99:.0f} ms, {missing} missing"
                )
                result.peak_rss_mb = daemon.peak_rss_mb()
            except BenchError as exc:
                raise BenchError(f"{exc}\ndaemon log: {daemon.log_tail()}") from exc
            finally:
                daemon.stop()
                watch.close()
                engine.dispose()
            database = sa.engine.make_url(db_url).get_backend_name()
    return BenchReport(
        config, bare, result, command=command, started=started, hardware=hardware(), database=database
    )

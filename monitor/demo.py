"""`monitor demo`: the whole service on one machine with nothing installed by hand.

Why: a newcomer should see readings scored and alerts raised within a minute. The demo migrates a
SQLite database under var/, starts the dashboard on it (a Streamlit child process, with a one-off
`operator` login printed on the console), picks a broker (the configured one if reachable, else a
private `mosquitto`, else an embedded amqtt broker), trains each simulated pump's model on simulated
history (seconds, instead of hours of commissioning), then runs the simulator and the daemon in this
process and prints a status line every few seconds until Ctrl-C, SIGTERM or `--duration`.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import sqlalchemy as sa

from models.sensor_training import SensorTrainConfig, train_sensor_model
from models.training import FitConfig
from monitor import simulate
from monitor.bench.brokers import EmbeddedBroker, MosquittoBroker, free_port, reachable
from monitor.comms.mqtt import MqttConnection
from monitor.settings import Settings

BrokerChoice = Literal["auto", "configured", "mosquitto", "embedded"]
DEMO_SITE = "demo"
DEMO_DB_URL = "sqlite:///var/demo.db"
HISTORY_READINGS = 3000
FAULT_SECONDS = 20.0
FAULT_PERIOD_S = 90.0
# The clearest faults first, so the first alert comes quickly.
DEMO_FAULT_ORDER = ("cavitation", "bearing_wear", "step_change", "stuck_sensor")
DEMO_USER = "operator"


@dataclass(frozen=True)
class DemoOptions:
    """What `monitor demo` runs."""

    assets: int = 4
    rate_hz: float = 5.0
    duration_s: float | None = None
    broker: BrokerChoice = "auto"
    seed: int = 0
    status_every_s: float = 5.0
    epochs: int = 8
    warmup_s: float = 8.0
    dashboard: bool = True
    config: Path | None = None  # the file `--config` named: the dashboard reads it too


@dataclass
class DemoStatus:
    """What the status line shows, read back from SQL (what an operator would query)."""

    published: int
    scored: int
    alerts_open: int
    alerts_total: int

    def line(self, elapsed_s: float) -> str:
        return (
            f"[{elapsed_s:6.0f} s] published {self.published}  scored {self.scored}  "
            f"alerts open {self.alerts_open} (total {self.alerts_total})"
        )


def demo_schedule(
    assets: list[str], start: datetime, warmup_s: float, horizon_s: float, period_s: float = FAULT_PERIOD_S
) -> list[simulate.Fault]:
    """Every asset gets a fault soon after the warm-up, each a different kind, repeating every period.

    Deterministic, so the first alert comes within seconds of the windows filling.
    """
    faults = []
    cycle = 0
    while warmup_s + cycle * period_s < horizon_s:
        for i, asset in enumerate(assets):
            kind = DEMO_FAULT_ORDER[(i + cycle) % len(DEMO_FAULT_ORDER)]
            begin = start + timedelta(seconds=warmup_s + cycle * period_s + 3.0 * i)
            channel = "discharge_pressure" if kind in ("stuck_sensor", "step_change") else None
            faults.append(
                simulate.Fault(asset, kind, begin, begin + timedelta(seconds=FAULT_SECONDS), channel)
            )
        cycle += 1
    return sorted(faults, key=lambda f: (f.start, f.asset))


@contextmanager
def demo_broker(settings: Settings, choice: BrokerChoice, say: Callable[[str], None]) -> Iterator[Settings]:
    """Yield settings pointing at the chosen broker, started here if needed and stopped afterwards."""
    configured = settings.mqtt
    if choice in ("auto", "configured") and reachable(configured.host, configured.port):
        say(f"broker: {configured.url} (configured)")
        yield settings
        return
    if choice == "configured":
        raise DemoError(f"the configured broker {configured.url} is not reachable")
    broker: MosquittoBroker | EmbeddedBroker
    protocol: Literal["5", "3.1.1"] = "5"
    if choice in ("auto", "mosquitto") and MosquittoBroker.available():
        broker = MosquittoBroker(config=None)
        label = "private mosquitto"
    elif choice == "mosquitto":
        raise DemoError("mosquitto is not installed (not on PATH)")
    else:
        broker = EmbeddedBroker()
        label = "embedded amqtt, MQTT 3.1.1"
        protocol = "3.1.1"
    with broker:
        say(f"broker: {broker.url} ({label})")
        mqtt = configured.model_copy(update={"url": broker.url, "protocol": protocol, "username": None})
        yield settings.model_copy(update={"mqtt": mqtt})


class DemoError(RuntimeError):
    """The demo cannot start; the message says what to do."""


def prepare_database(url: str) -> None:
    """Create or upgrade the demo database to the code's schema."""
    from monitor.store.migrate import upgrade

    upgrade(url)


def train_demo_models(
    settings: Settings, assets: list[str], options: DemoOptions, say: Callable[[str], None]
) -> None:
    """Give every simulated asset an active model trained on simulated normal history.

    An asset that already has an active model (an earlier demo run) keeps it.
    """
    from monitor import registry

    engine = _engine(settings.database.url)
    try:
        missing = [a for a in assets if registry.active_version(engine, a, "sensor") is None]
        if not missing:
            say(f"models: {len(assets)} assets already have active models")
            return
        began = time.monotonic()
        # The same pumps (seed) in another recording (run): what a commissioning baseline would be.
        seconds = HISTORY_READINGS / options.rate_hz
        frame = simulate.history(missing, seconds, seed=options.seed, rate_hz=options.rate_hz, run=1)
        config = SensorTrainConfig(
            window=settings.sensors.window,
            device=settings.models.device,
            seed=options.seed,
            fit=FitConfig(epochs=options.epochs, patience=options.epochs, batch_size=128),
        )
        for asset in missing:
            data = frame.loc[frame["asset"] == asset, list(simulate.CHANNELS)].to_numpy(np.float64)
            model = train_sensor_model(data, list(simulate.CHANNELS), config)
            directory = settings.models.store / asset / model.version
            model.save(directory)
            registry.register(engine, asset, "sensor", directory, model.card, activate=True)
        say(f"models: trained {len(missing)} in {time.monotonic() - began:.1f} s → {settings.models.store}")
    finally:
        engine.dispose()


def read_status(engine: sa.Engine, published: int) -> DemoStatus:
    """Scores and alerts as stored: the demo reports what reached the database, not what was sent."""
    with engine.connect() as conn:
        scored = conn.execute(sa.text("SELECT count(*) FROM scores")).scalar_one()
        open_alerts = conn.execute(
            sa.text("SELECT count(*) FROM alerts WHERE state <> 'resolved'")
        ).scalar_one()
        total = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one()
    return DemoStatus(published, int(scored), int(open_alerts), int(total))


def run_demo(
    settings: Settings,
    options: DemoOptions,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = print,
) -> DemoStatus:
    """Run broker, simulator and daemon until `stop` or the duration; return the final status."""
    stop = stop or threading.Event()
    assets = simulate.asset_names(options.assets)
    url = settings.database.url
    say(f"database: {url}")
    prepare_database(url)
    metrics = settings.metrics
    if metrics.enabled and (metrics.port == 0 or reachable(metrics.host, metrics.port)):
        metrics = metrics.model_copy(update={"port": free_port()})
    settings = settings.model_copy(update={"metrics": metrics})
    if metrics.enabled:
        say(f"metrics: http://{metrics.host}:{metrics.port}/metrics")
    with demo_dashboard(settings, options, say):
        train_demo_models(settings, assets, options, say)
        engine = _engine(settings.database.url)
        try:
            status = _run_services(settings, options, assets, engine, stop, say)
        finally:
            engine.dispose()
    return status


@dataclass(frozen=True)
class DemoDashboard:
    """The demo's dashboard: where it answers, the operator's one-off password, its extra environment."""

    url: str
    password: str
    env: dict[str, str]


@contextmanager
def demo_dashboard(
    settings: Settings, options: DemoOptions, say: Callable[[str], None]
) -> Iterator[DemoDashboard | None]:
    """Serve the dashboard on the demo's database with a fresh `operator` password; stop it on exit.

    Streamlit's console output goes to demo-dashboard.log beside the model store, away from the
    status lines.
    """
    if not options.dashboard:
        yield None
        return
    from dashboard import launch
    from dashboard.auth import hash_password

    config = settings.dashboard
    port = free_port() if reachable(config.host, config.port) else config.port
    password = secrets.token_urlsafe(9)
    env = {
        "MONITOR_DATABASE__URL": settings.database.url,
        **launch.user_overrides(DEMO_USER, hash_password(password), "operator"),
    }
    log_path = settings.models.store.parent / "demo-dashboard.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            launch.streamlit_command(config.host, port),
            env=launch.environment(options.config, env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = launch.url(config.host, port)
    say(f"dashboard: {url}  (log in as {DEMO_USER} / {password}; server log {log_path})")
    try:
        yield DemoDashboard(url, password, env)
    finally:
        process.terminate()  # SIGTERM: Streamlit closes its sessions and exits
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _run_services(
    settings: Settings,
    options: DemoOptions,
    assets: list[str],
    engine: sa.Engine,
    stop: threading.Event,
    say: Callable[[str], None],
) -> DemoStatus:
    """Broker, daemon, simulator; status lines until the end; the status once the daemon drained."""
    from monitor.daemon import Daemon

    with ExitStack() as stack:
        settings = stack.enter_context(demo_broker(settings, options.broker, say))
        prefix = settings.mqtt.topic_prefix
        daemon = Daemon(settings)
        daemon.start()
        stack.callback(daemon.stop)
        say(f"daemon: instance {settings.instance}, subscribed to {prefix}/+/+/sensors")

        publisher = MqttConnection(
            settings.mqtt, client_id=f"demo-sim-{uuid.uuid4().hex[:8]}", persistent=False
        )
        publisher.start()
        stack.callback(publisher.close)
        if not publisher.wait_connected(15):
            raise DemoError(f"the simulator cannot connect to {settings.mqtt.url}")
        start = datetime.now(UTC)
        horizon = options.duration_s if options.duration_s is not None else 24 * 3600.0
        faults = demo_schedule(assets, start, options.warmup_s, horizon)
        sim = simulate.PlantSimulator(
            assets, rate_hz=options.rate_hz, seed=options.seed, faults=faults, start=start
        )
        say(
            f"simulator: {len(assets)} pumps at {options.rate_hz:g} Hz → {prefix}/{DEMO_SITE}/<asset>/sensors"
        )
        for fault in faults[: 2 * len(assets)]:
            say(f"  fault {fault.describe()}")

        published = 0

        def count(stats: simulate.PublishStats) -> None:
            nonlocal published
            published = stats.messages

        feeder = threading.Thread(
            target=simulate.publish,
            args=(publisher, sim, prefix, DEMO_SITE, options.duration_s, stop, count),
            name="demo-simulator",
            daemon=True,
        )
        feeder.start()
        began = time.monotonic()
        while feeder.is_alive() and not stop.wait(options.status_every_s):
            say(read_status(engine, published).line(time.monotonic() - began))
        stop.set()
        feeder.join(15)
    # The daemon has stopped: everything it accepted is scored and committed.
    status = read_status(engine, published)
    say(status.line(time.monotonic() - began))
    return status


def _engine(url: str) -> sa.Engine:
    from monitor.store.db import create_engine_for

    return create_engine_for(url)


def install_stop_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set `stop` (a clean shutdown); returns a function restoring the old handlers."""
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def default_demo_settings(settings: Settings, config_given: bool) -> Settings:
    """Without a config file the demo keeps its data apart: var/demo.db and var/models."""
    if config_given:
        return settings
    database = settings.database.model_copy(update={"url": DEMO_DB_URL})
    models = settings.models.model_copy(update={"store": Path("var/models")})
    logging = settings.logging.model_copy(update={"json_format": False, "level": "WARNING"})
    return settings.model_copy(update={"database": database, "models": models, "logging": logging})

"""`monitor simulate`: publish a synthetic plant with labelled faults to the broker."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from monitor import simulate
from monitor.cli.main import UsageError
from monitor.comms.mqtt import MqttConnection
from monitor.settings import MqttSettings, format_validation_error, load_settings

DEFAULT_SITE = "site1"
UNBOUNDED_HORIZON_S = 24 * 3600.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("simulate", help="publish a synthetic plant with labelled faults")
    parser.add_argument("--config", type=Path, help="config file (broker URL, credentials, topic prefix)")
    parser.add_argument("--broker", help="broker URL, mqtt://host:port (overrides the config)")
    parser.add_argument("--prefix", help="topic prefix (default: the config's, 'plant')")
    parser.add_argument("--site", default=DEFAULT_SITE, help=f"site topic level (default {DEFAULT_SITE})")
    parser.add_argument("--assets", type=int, default=4, help="number of pumps (default 4)")
    parser.add_argument("--rate", type=float, default=1.0, help="readings per second per asset (default 1)")
    parser.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--faults",
        default="auto",
        help="'auto', or asset:kind[/channel]@start+duration,... in seconds from the start; "
        f"kinds: {', '.join(simulate.FAULT_KINDS)}",
    )
    parser.add_argument("--no-faults", action="store_true", help="publish normal operation only")
    parser.add_argument(
        "--ground-truth", type=Path, help="write the fault schedule as CSV asset,fault,start,end"
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.assets < 1 or args.rate <= 0 or (args.duration is not None and args.duration <= 0):
        raise UsageError("--assets, --rate and --duration must be positive")
    settings = load_settings(args.config)
    mqtt_settings = settings.mqtt
    if args.broker:
        try:
            mqtt_settings = MqttSettings(**{**settings.mqtt.model_dump(), "url": args.broker})
        except ValidationError as exc:
            raise UsageError(format_validation_error(exc).replace("url:", "--broker:")) from exc
    prefix = args.prefix or mqtt_settings.topic_prefix
    assets = simulate.asset_names(args.assets)
    _schedule(args, assets, datetime.now(UTC))  # a bad schedule fails before we connect
    connection = MqttConnection(mqtt_settings, client_id=f"simulate-{uuid.uuid4().hex[:8]}", persistent=False)
    connection.start()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if not connection.wait_connected(10):
            raise UsageError(f"cannot connect to the broker at {mqtt_settings.url}")
        start = datetime.now(UTC)  # after connecting, so payload times track publish times
        faults = _schedule(args, assets, start)
        _announce(args, mqtt_settings.url, prefix, faults)
        sim = simulate.PlantSimulator(assets, rate_hz=args.rate, seed=args.seed, faults=faults, start=start)
        stats = simulate.publish(connection, sim, prefix, args.site, args.duration, stop)
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        connection.close()
    print(f"published {stats.messages} messages in {stats.seconds:.1f} s")
    return 0


def _announce(args: argparse.Namespace, url: str, prefix: str, faults: list[simulate.Fault]) -> None:
    """Print what runs and the fault schedule (and write it as ground truth when asked)."""
    print(f"simulating {args.assets} assets at {args.rate:g} Hz → {url} {prefix}/{args.site}/+/sensors")
    print(f"channels: {', '.join(simulate.CHANNELS)}")
    print(f"fault schedule ({len(faults)}):" if faults else "fault schedule: none")
    for fault in faults:
        print(f"  {fault.describe()}")
    if args.ground_truth:
        simulate.write_ground_truth(faults, args.ground_truth)
        print(f"ground truth written to {args.ground_truth}")
    sys.stdout.flush()


def _schedule(args: argparse.Namespace, assets: list[str], start: datetime) -> list[simulate.Fault]:
    if args.no_faults:
        return []
    if args.faults == "auto":
        horizon = args.duration if args.duration is not None else UNBOUNDED_HORIZON_S
        return simulate.auto_schedule(assets, start, horizon, args.rate, args.seed)
    try:
        return simulate.parse_schedule(args.faults, assets, start)
    except simulate.ScheduleError as exc:
        raise UsageError(f"--faults: {exc}") from exc

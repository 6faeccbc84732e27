"""`monitor demo`: broker, simulator, daemon and dashboard on this machine, status lines until stopped."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from monitor import demo
from monitor.bench.brokers import BrokerError
from monitor.cli.main import UsageError
from monitor.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run broker, simulator, daemon and dashboard locally (Ctrl-C stops)"
    )
    defaults = demo.DemoOptions()
    parser.add_argument("--config", type=Path, help="config file (default: demo settings, var/demo.db)")
    parser.add_argument(
        "--broker",
        choices=["auto", "configured", "mosquitto", "embedded"],
        default="auto",
        help="auto: the configured broker if reachable, else a private mosquitto, else embedded amqtt",
    )
    parser.add_argument("--assets", type=int, default=defaults.assets, help="simulated pumps")
    parser.add_argument("--rate", type=float, default=defaults.rate_hz, help="readings per second per pump")
    parser.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.assets < 1 or args.rate <= 0 or (args.duration is not None and args.duration <= 0):
        raise UsageError("--assets, --rate and --duration must be positive")
    settings = demo.default_demo_settings(load_settings(args.config), config_given=args.config is not None)
    options = demo.DemoOptions(
        assets=args.assets,
        rate_hz=args.rate,
        duration_s=args.duration,
        broker=args.broker,
        seed=args.seed,
        dashboard=not args.no_dashboard,
        config=args.config,
    )
    stop = threading.Event()
    restore = demo.install_stop_signals(stop)
    try:
        status = demo.run_demo(settings, options, stop)
    except (demo.DemoError, BrokerError) as exc:
        raise UsageError(str(exc)) from exc
    finally:
        restore()
    print(f"demo stopped: {status.scored} readings scored, {status.alerts_total} alerts raised")
    return 0

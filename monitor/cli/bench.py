"""`monitor bench sensor`: daemon throughput and latency against a bare subscriber."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from monitor.bench import sensor, vision
from monitor.bench.brokers import BrokerError
from monitor.bench.report import write_doc_section
from monitor.cli.common import usable_device
from monitor.cli.main import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks of the running service")
    kinds = bench.add_subparsers(dest="kind", required=True)
    parser = kinds.add_parser("sensor", help="sensor ingestion: daemon vs bare subscriber, private mosquitto")
    defaults = sensor.BenchConfig()
    parser.add_argument("--messages", type=int, default=defaults.messages, help="messages per consumer")
    parser.add_argument("--assets", type=int, default=defaults.assets, help="assets (topics)")
    parser.add_argument("--channels", type=int, default=defaults.channels, help="channels per reading (1-8)")
    parser.add_argument(
        "--db", default=defaults.db_url, help="database URL (PostgreSQL: a fresh schema is used)"
    )
    parser.add_argument("--window", type=int, default=defaults.window, help="readings per scored window")
    parser.add_argument(
        "--paced-rate", type=float, default=defaults.paced_rate, help="msgs/s of the latency run"
    )
    parser.add_argument(
        "--paced-seconds", type=float, default=defaults.paced_seconds, help="latency run length"
    )
    parser.add_argument("--out", type=Path, help="write the report here (e.g. docs/benchmarks.md)")
    parser.set_defaults(handler=_sensor)
    _register_vision(kinds)


def _register_vision(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser("vision", help="camera pipeline: frames/s and latency, decode to stored")
    defaults = vision.VisionBenchConfig()
    parser.add_argument("--frames", type=int, default=defaults.frames, help="frames per run")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="frames/s of the latency run")
    parser.add_argument("--batch", type=int, default=defaults.batch_max, help="frames per model call")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--ae", type=Path, help="image-ae model directory (default: trained briefly)")
    parser.add_argument("--unet", type=Path, help="unet model directory (default: trained briefly)")
    parser.add_argument("--sr", type=Path, help="x4 sr model directory (default: trained briefly)")
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="cpu", help="where the models run (default: cpu)"
    )
    parser.add_argument("--out", type=Path, help="write the `## Vision` (or GPU) section into this file")
    parser.set_defaults(handler=_vision)


def _command_line(kind: str) -> str:
    """The command as typed, for the report (the plain form when called from Python)."""
    return "monitor " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else f"monitor bench {kind}"


def _vision(args: argparse.Namespace) -> int:
    try:
        config = vision.VisionBenchConfig(
            frames=args.frames,
            rate=args.rate,
            batch_max=args.batch,
            db_url=args.db,
            ae_dir=args.ae,
            unet_dir=args.unet,
            sr_dir=args.sr,
            device=usable_device(args.device),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    command = _command_line("vision")
    results = vision.run_vision_bench(config)
    section = vision.markdown(results, config, command)
    print(section)
    if args.out:
        write_doc_section(args.out, vision.section_title(config), section, title="# Benchmarks")
        print(f"report written to {args.out}")
    return 0


def _sensor(args: argparse.Namespace) -> int:
    try:
        config = sensor.BenchConfig(
            messages=args.messages,
            assets=args.assets,
            channels=args.channels,
            db_url=args.db,
            window=args.window,
            paced_rate=args.paced_rate,
            paced_seconds=args.paced_seconds,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    command = _command_line("sensor")
    try:
        report = sensor.run_sensor_bench(config, command=command)
    except (sensor.BenchError, BrokerError) as exc:
        raise UsageError(str(exc)) from exc
    print()
    print(report.table())
    print(f"\ndaemon / bare: {report.ratio:.0%}")
    for name, value, met in report.targets():
        print(f"  {'ok ' if met else 'MISS'} {name}: {value}")
    if args.out:
        write_doc_section(args.out, sensor.SECTION, report.markdown(), title="# Benchmarks")
        print(f"report written to {args.out}")
    return 0

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

from monitor import simulate, simulate_frames
from monitor.cli.main import UsageError
from monitor.comms.mqtt import MqttConnection
from monitor.ingest.topics import frames_topic
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
    parser.add_argument(
        "--cameras", type=int, default=0, help="inspection cameras publishing frames (default 0)"
    )
    parser.add_argument(
        "--low-res-cameras", type=int, default=0, help="of those, how many see 1/4 resolution (64x64)"
    )
    parser.add_argument(
        "--frame-rate", type=float, default=1.0, help="frames per second per camera (default 1)"
    )
    parser.add_argument(
        "--defect-probability", type=float, default=0.1, help="share of frames with defects (default 0.1)"
    )
    parser.add_argument(
        "--frames-truth",
        type=Path,
        help="write defect masks and frames.csv (camera,frame_id,ts,defects) here",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.assets < 1 or args.rate <= 0 or (args.duration is not None and args.duration <= 0):
        raise UsageError("--assets, --rate and --duration must be positive")
    if not 0 <= args.low_res_cameras <= args.cameras or args.frame_rate <= 0:
        raise UsageError("--low-res-cameras must be between 0 and --cameras, --frame-rate positive")
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
        camera_thread = _start_cameras(args, connection, prefix, stop)
        stats = simulate.publish(connection, sim, prefix, args.site, args.duration, stop)
        stop.set()
        if camera_thread is not None:
            camera_thread.join()
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        connection.close()
    print(f"published {stats.messages} messages in {stats.seconds:.1f} s")
    return 0


def _start_cameras(
    args: argparse.Namespace, connection: MqttConnection, prefix: str, stop: threading.Event
) -> threading.Thread | None:
    """Publish camera frames beside the sensors (a thread of its own) when --cameras is given."""
    if args.cameras < 1:
        return None
    cameras = [
        simulate_frames.CameraSpec(f"cam-{i:02d}", 4 if i > args.cameras - args.low_res_cameras else 1)
        for i in range(1, args.cameras + 1)
    ]
    run = simulate_frames.new_run_id()
    print(f"cameras: {', '.join(c.name + (' (64x64)' if c.factor > 1 else ' (256x256)') for c in cameras)}")
    print(f"frame ids: <camera>-{run}-<number>")
    thread = threading.Thread(
        target=simulate_frames.publish_frames,
        args=(connection, cameras, lambda name: frames_topic(prefix, args.site, name), args.frame_rate, stop),
        kwargs={
            "defect_probability": args.defect_probability,
            "seed": args.seed,
            "ground_truth": args.frames_truth,
            "run": run,
        },
        name="camera-frames",
        daemon=True,
    )
    thread.start()
    return thread


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

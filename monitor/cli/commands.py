"""The list of command groups; each module adds its own sub-commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRARS: list[Registrar] = []

from monitor.cli import config  # noqa: E402

REGISTRARS.append(config.register)

from monitor.cli import simulate as simulate_cli  # noqa: E402

REGISTRARS.append(simulate_cli.register)

from monitor.cli import sensor as sensor_cli  # noqa: E402

REGISTRARS.append(sensor_cli.register)

from monitor.cli import bench as bench_cli  # noqa: E402
from monitor.cli import demo as demo_cli  # noqa: E402

REGISTRARS.append(demo_cli.register)
REGISTRARS.append(bench_cli.register)

from monitor.cli import run as run_cli  # noqa: E402

REGISTRARS.append(run_cli.register)

from monitor.cli import db as db_cli  # noqa: E402
from monitor.cli import models as models_cli  # noqa: E402

REGISTRARS.append(db_cli.register)
REGISTRARS.append(models_cli.register)

from monitor.cli import segment as segment_cli  # noqa: E402

REGISTRARS.append(segment_cli.register)

from monitor.cli import upscale as upscale_cli  # noqa: E402

REGISTRARS.append(upscale_cli.register)

from monitor.cli import image_ae as image_ae_cli  # noqa: E402

REGISTRARS.append(image_ae_cli.register)

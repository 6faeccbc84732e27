"""The list of command groups; each module adds its own sub-commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from monitor.cli import (
    bench,
    config,
    dashboard,
    db,
    demo,
    image_ae,
    models,
    run,
    segment,
    sensor,
    simulate,
    upscale,
)

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRARS: list[Registrar] = [
    module.register
    for module in (
        config,
        simulate,
        sensor,
        demo,
        dashboard,
        bench,
        run,
        db,
        models,
        segment,
        upscale,
        image_ae,
    )
]

"""How `monitor dashboard` and `monitor demo` start the Streamlit server (no Streamlit import here).

Streamlit runs `app.py` itself, so the configuration reaches the pages through the environment:
MONITOR_CONFIG names the YAML file, and `MONITOR_…` variables override single keys of it (the demo
adds its operator that way).
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

APP = Path(__file__).with_name("app.py")
CONFIG_ENV = "MONITOR_CONFIG"


def streamlit_command(host: str, port: int) -> list[str]:
    """The command line serving the dashboard headless on host:port, without usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",  # no "Deploy" button or developer menu on the plant floor
    ]


def environment(config: Path | None, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus the config path (absolute: Streamlit may change directory)."""
    env = dict(os.environ)
    if config is not None:
        env[CONFIG_ENV] = str(config.resolve())
    env.update(overrides or {})
    return env


def user_overrides(name: str, password_hash: str, role: str) -> dict[str, str]:
    """Environment variables adding one dashboard user on top of the config file's users."""
    prefix = f"MONITOR_DASHBOARD__USERS__{name}__"
    return {f"{prefix}PASSWORD_HASH": password_hash, f"{prefix}ROLE": role}


def url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server ("0.0.0.0" listens everywhere)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def wait_healthy(base_url: str, timeout_s: float) -> bool:
    """Poll Streamlit's health endpoint until it answers 200 or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False

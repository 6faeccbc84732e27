"""`monitor dashboard [--config PATH] [--host H] [--port N]` and `monitor dashboard hash-password`.

The first replaces this process with the Streamlit server (exec), so Ctrl-C and SIGTERM reach
Streamlit directly and it shuts down cleanly; the config is checked first, so a bad file is one line
here rather than a traceback in the browser. The second prints the bcrypt hash to put in
`dashboard.users.<name>.password_hash`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from dashboard import launch
from monitor.cli.main import UsageError
from monitor.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dashboard", help="serve the operators' dashboard (Streamlit)")
    parser.add_argument("--config", type=Path, help="config file (database.url, dashboard.*)")
    parser.add_argument("--host", help="address to bind (default: dashboard.host)")
    parser.add_argument("--port", type=int, help="HTTP port (default: dashboard.port)")
    parser.set_defaults(handler=_serve)
    actions = parser.add_subparsers(dest="action")
    hashing = actions.add_parser(
        "hash-password", help="read a password (prompt, or stdin when piped) and print its bcrypt hash"
    )
    hashing.set_defaults(handler=_hash_password)


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(args.config).dashboard
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a TCP port (1-65535)")
    if not settings.users:
        print("no dashboard.users configured: everyone gets a read-only view", file=sys.stderr)
    print(f"dashboard: {launch.url(host, port)}", flush=True)
    command = launch.streamlit_command(host, port)
    os.execve(command[0], command, launch.environment(args.config))


def _hash_password(args: argparse.Namespace) -> int:
    from dashboard.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("an empty password cannot be hashed")
    if len(password.encode()) > 72:
        raise UsageError("bcrypt takes at most 72 bytes of password; choose a shorter one")
    print(hash_password(password))
    return 0

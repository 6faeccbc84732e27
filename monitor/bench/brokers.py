"""Private local brokers for the benchmark, the demo and tests.

Why: a benchmark must not share a broker (and its queue limits) with anything else, and the demo must
run where no broker was installed by hand. `MosquittoBroker` starts the `mosquitto` binary with a
given config on a free loopback port; `EmbeddedBroker` runs amqtt (pure Python, MQTT 3.1.1 only)
inside this process when there is no `mosquitto` on PATH.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

REPO_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "mosquitto"
BENCHMARK_CONFIG = REPO_CONFIG_DIR / "benchmark.conf"


class BrokerError(RuntimeError):
    """A private broker could not be started; the message says why (with the broker's own words)."""


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_listening(port: int, timeout: float, alive: Any = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable("127.0.0.1", port, timeout=0.2):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(0.05)
    return False


class _Broker:
    """Context-manager plumbing shared by both brokers."""

    port: int

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class MosquittoBroker(_Broker):
    """`mosquitto -c <temp config>` on a free loopback port: the given config plus our listener."""

    def __init__(self, config: Path | None = BENCHMARK_CONFIG, executable: str | None = None) -> None:
        found = executable or shutil.which("mosquitto") or _sbin("mosquitto")
        if found is None:
            raise BrokerError("mosquitto is not installed (not on PATH)")
        self.executable = found
        self.config = config
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @staticmethod
    def available() -> bool:
        return (shutil.which("mosquitto") or _sbin("mosquitto")) is not None

    def start(self, attempts: int = 3) -> None:
        """Start on a free port; a port taken between choosing and binding is retried."""
        self._dir = tempfile.TemporaryDirectory(prefix="monitor-mosquitto-")
        error = ""
        for _ in range(attempts):
            self.port = free_port()
            conf = Path(self._dir.name) / "mosquitto.conf"
            base = self.config.read_text() if self.config else ""
            # The listener comes first: mosquitto applies later global options to every listener.
            conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{base}\n")
            log = Path(self._dir.name) / "mosquitto.log"
            with log.open("wb") as out:
                self._process = subprocess.Popen(
                    [self.executable, "-c", str(conf)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self._dir.name,
                )
            process = self._process
            if _wait_listening(self.port, 10.0, alive=lambda p=process: p.poll() is None):
                return
            self._kill()
            error = log.read_text(errors="replace").strip()[-500:]
        self._cleanup_dir()
        raise BrokerError(f"mosquitto did not start: {error or 'no output'}")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        self._kill()
        self._cleanup_dir()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def _cleanup_dir(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


class EmbeddedBroker(_Broker):
    """An amqtt broker in a background thread of this process (MQTT 3.1.1; QoS 1 sessions kept)."""

    def __init__(self) -> None:
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self.port = free_port()
        self._thread = threading.Thread(target=self._serve, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise BrokerError(f"embedded amqtt broker did not start: {self._error or 'timeout'}")

    def _serve(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        try:
            self._broker = Broker(config, loop=loop)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # reported to start() in the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        with contextlib.suppress(Exception):  # a broker failing to shut down cleanly is still stopped below
            future.result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._broker = None


def _sbin(name: str) -> str | None:
    """Debian installs mosquitto in /usr/sbin, which a non-root PATH often lacks."""
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None

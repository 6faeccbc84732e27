"""Where paho's receive loop runs: a child process (default) or a thread of the daemon.

Why a process: paho costs ~45 µs of Python per message, under the GIL. In one process that time is
taken from decoding, scoring and SQL (measured: ~3,000 msgs/s with everything in one process, see
docs/architecture.md). In a child process (spawned, so it never imports torch) the receive loop has
a core of its own and hands raw messages over a pipe in chunks (one pickle per few milliseconds,
~1 µs per message). The child owns the MQTT session, the status topic and the last will; the parent
tells it when to pause (before the drain) and when to close (publish `stopped`, disconnect).

Camera frames travel beside the sensor messages, in their own chunks, to a `FrameSink` (the camera
worker's backlog). They never wait: a frame backlog drops its oldest frame instead of blocking the
receive loop, so a frame flood cannot stall the sensors. The child's own frame buffer follows the
same rule, bounded in frames and in bytes, and ships the number it dropped with each chunk.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import Connection
from typing import Protocol

from monitor.comms.mqtt import FrameMessage, MqttConnection, RawMessage
from monitor.ingest.inbox import Inbox
from monitor.settings import MqttSettings

log = logging.getLogger(__name__)

CHUNK_INTERVAL_S = 0.003  # how often the child ships what it received: bounds the added latency
CHILD_BACKLOG_MAX = 50_000  # messages the child holds before its receive loop waits (back-pressure)
CHILD_FRAME_BACKLOG_MAX = 256  # frames the child holds; beyond it the oldest is dropped (counted)
CHILD_FRAME_BYTES_MAX = 128 * 1024 * 1024  # and their bytes: 256 frames of 4 MB would be 1 GB


class FrameSink(Protocol):
    """Where frame messages go (the camera worker); neither call may block."""

    def put(self, topic: str, payload: bytes, received_at: float, properties: dict[str, str]) -> None: ...
    def count_dropped(self, frames: int) -> None: ...


class FrameBuffer:
    """The child's frames between two chunks: bounded in count and bytes, dropping the oldest.

    The paho thread puts, the shipper thread takes; neither waits on the pipe while holding the lock,
    so a slow parent never stalls the receive loop.
    """

    def __init__(
        self, max_frames: int = CHILD_FRAME_BACKLOG_MAX, max_bytes: int = CHILD_FRAME_BYTES_MAX
    ) -> None:
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self._frames: deque[FrameMessage] = deque()
        self._bytes = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def put(self, topic: str, payload: bytes, received_at: float, properties: dict[str, str]) -> None:
        with self._lock:
            self._frames.append((topic, payload, received_at, properties))
            self._bytes += len(payload)
            while len(self._frames) > 1 and (
                len(self._frames) > self.max_frames or self._bytes > self.max_bytes
            ):
                self._bytes -= len(self._frames.popleft()[1])
                self._dropped += 1

    def take(self) -> tuple[list[FrameMessage], int]:
        """Every waiting frame, oldest first, and how many were dropped since the last take."""
        with self._lock:
            frames, dropped = list(self._frames), self._dropped
            self._frames.clear()
            self._bytes = self._dropped = 0
        return frames, dropped


class Receiver(Protocol):
    """What the daemon needs of a receiver, wherever paho runs."""

    def start(self) -> None: ...
    def wait_connected(self, timeout: float) -> bool: ...
    def pause(self, timeout: float) -> bool: ...
    def close(self, final_status: str, timeout: float) -> None: ...
    def alive(self) -> bool: ...


class ThreadReceiver:
    """paho in this process: the callback appends straight into the inbox (tests, small sites)."""

    def __init__(
        self,
        settings: MqttSettings,
        inbox: Inbox,
        client_id: str,
        subscriptions: list[str],
        status_topic: str,
        frames: FrameSink | None = None,
    ) -> None:
        self.connection = MqttConnection(
            settings,
            client_id=client_id,
            subscriptions=subscriptions,
            on_message=inbox.put,
            status_topic=status_topic,
            on_frame=frames.put if frames is not None else None,
        )

    def start(self) -> None:
        self.connection.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connection.wait_connected(timeout)

    def pause(self, timeout: float) -> bool:
        self.connection.pause_consuming()
        return True

    def close(self, final_status: str, timeout: float) -> None:
        self.connection.close(final_status, timeout)

    def alive(self) -> bool:
        return True


class ProcessReceiver:
    """paho in a spawned child process; raw messages come back over a pipe into the inbox."""

    def __init__(
        self,
        settings: MqttSettings,
        inbox: Inbox,
        client_id: str,
        subscriptions: list[str],
        status_topic: str,
        frames: FrameSink | None = None,
    ) -> None:
        self.settings = settings
        self.inbox = inbox
        self.frames = frames
        self.args = (settings, client_id, subscriptions, status_topic, frames is not None)
        self.connected = threading.Event()
        self.paused = threading.Event()
        self.process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        """Spawn the child (also used by the watchdog to replace a dead one)."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        self.connected.clear()
        self.paused.clear()
        self.process = context.Process(
            target=_child_main, args=(*self.args, child), name="mqtt-receiver", daemon=True
        )
        self.process.start()
        child.close()
        self._conn = parent
        self._reader = threading.Thread(
            target=self._read, args=(parent,), name="mqtt-receiver-pipe", daemon=True
        )
        self._reader.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def pause(self, timeout: float) -> bool:
        """Ask the child to stop reading the broker and ship everything it has; wait until shipped."""
        if not self.alive() or self._conn is None:
            return False
        with contextlib.suppress(OSError):
            self._conn.send(("pause",))
        return self.paused.wait(timeout)

    def close(self, final_status: str, timeout: float) -> None:
        """The child publishes the final status, disconnects cleanly and exits."""
        process, conn = self.process, self._conn
        if process is None or conn is None:
            return
        with contextlib.suppress(OSError):
            conn.send(("close", final_status))
        process.join(timeout)
        if process.is_alive():
            log.warning("mqtt receiver process did not exit; killing it")
            process.kill()
            process.join(2)
        if self._reader is not None:
            self._reader.join(2)
        conn.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def _read(self, conn: Connection) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                self.connected.clear()
                return
            kind = message[0]
            if kind == "msgs":
                self.inbox.put_many(message[1])
            elif kind == "frames" and self.frames is not None:
                put = self.frames.put
                for topic, payload, received, properties in message[1]:
                    put(topic, payload, received, properties)
                if message[2]:
                    self.frames.count_dropped(message[2])
            elif kind == "connected":
                (self.connected.set if message[1] else self.connected.clear)()
            elif kind == "paused":
                self.paused.set()


def _child_main(
    settings: MqttSettings,
    client_id: str,
    subscriptions: list[str],
    status_topic: str,
    with_frames: bool,
    conn: Connection,
) -> None:
    """The receiver process: paho loop thread → deque → shipper thread → pipe; commands from the pipe."""
    # Signals are the parent's business (it drains, then tells us to close); a process-group
    # SIGTERM or Ctrl-C must not kill us before the drain.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    backlog: deque[RawMessage] = deque()
    frames = FrameBuffer()
    send_lock = threading.Lock()
    stop_shipping = threading.Event()

    def sink(topic: str, payload: bytes, received_at: float) -> None:
        while len(backlog) >= CHILD_BACKLOG_MAX:
            time.sleep(0.001)
        backlog.append((topic, payload, received_at))

    def send(message: tuple[object, ...]) -> None:
        with send_lock:
            conn.send(message)

    def ship_all() -> None:
        count = len(backlog)
        if count:
            send(("msgs", [backlog.popleft() for _ in range(count)]))
        taken, lost = frames.take()
        if taken or lost:
            send(("frames", taken, lost))

    def shipper() -> None:
        while not stop_shipping.wait(CHUNK_INTERVAL_S):
            ship_all()

    connection = MqttConnection(
        settings,
        client_id=client_id,
        subscriptions=subscriptions,
        on_message=sink,
        status_topic=status_topic,
        on_frame=frames.put if with_frames else None,
    )
    shipping = threading.Thread(target=shipper, name="shipper", daemon=True)
    shipping.start()
    connection.start()
    reported = False
    try:
        while True:
            if conn.poll(0.05):
                command = conn.recv()
                if command[0] == "pause":
                    connection.pause_consuming()
                    stop_shipping.set()
                    shipping.join()
                    ship_all()
                    send(("paused",))
                elif command[0] == "close":
                    connection.close(command[1])
                    return
            up = connection.wait_connected(0)
            if up != reported:
                send(("connected", up))
                reported = up
    except (EOFError, OSError):
        # The parent is gone: leave without DISCONNECT so the broker publishes our last will.
        os._exit(1)

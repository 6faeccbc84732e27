"""The hand-off between the MQTT receive thread and the scoring worker.

The receive callback must cost almost nothing: it appends (topic, payload, receive time) to a deque
(one atomic append, no lock). The bound gives back-pressure: when the worker falls behind, the
receive thread waits, paho stops reading the socket, and the broker holds the messages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

from monitor.comms.mqtt import RawMessage

_POLL_S = 0.002
IDLE_RETURN_S = 0.1


class Inbox:
    """A bounded FIFO of raw messages: many producers, one consumer (the scoring worker)."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._items: deque[RawMessage] = deque()
        self.accepted = 0  # messages put so far, read by metrics

    def put(self, topic: str, payload: bytes, received_at: float) -> None:
        """Called from paho's on_message; waits (without a lock) only while the inbox is full."""
        while len(self._items) >= self.maxlen:
            time.sleep(_POLL_S)
        self._items.append((topic, payload, received_at))
        self.accepted += 1

    def put_many(self, messages: Iterable[RawMessage]) -> None:
        """A chunk from a receiver process; same back-pressure as `put`."""
        while len(self._items) >= self.maxlen:
            time.sleep(_POLL_S)
        before = len(self._items)
        self._items.extend(messages)
        self.accepted += len(self._items) - before

    def take(self, limit: int, wait_s: float, stop: threading.Event | None = None) -> list[RawMessage]:
        """Up to `limit` messages; waits at most `wait_s` for more once the first one is there.

        Returns an empty list after IDLE_RETURN_S without messages, or at once when `stop` is set.

        Waiting a little (the batch wait) lets a batch span many assets, so the model runs once for
        all of them instead of once per message.
        """
        items = self._items
        idle_until = time.monotonic() + IDLE_RETURN_S
        while not items:
            if (stop is not None and stop.is_set()) or time.monotonic() > idle_until:
                return []  # the consumer gets a turn to do its other work while nothing arrives
            time.sleep(_POLL_S)
        deadline = time.monotonic() + wait_s
        while len(items) < limit and time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            time.sleep(_POLL_S)
        count = min(limit, len(items))
        return [items.popleft() for _ in range(count)]

    def __len__(self) -> int:
        return len(self._items)

"""Log output: one JSON object per line with the structured fields, or plain text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from monitor.logs import configure_logging
from monitor.settings import LoggingSettings


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """configure_logging replaces the root handlers; give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_are_one_object_per_line_with_extra_fields() -> None:
    """Each record is a JSON line carrying level, logger, message and the `extra` fields."""
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="INFO", json_format=True), stream)
    logging.getLogger("monitor.test").info("model in service", extra={"asset": "pump1", "version": "abc"})
    logging.getLogger("monitor.test").debug("not shown at INFO")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "monitor.test"
    assert entry["message"] == "model in service"
    assert (entry["asset"], entry["version"]) == ("pump1", "abc")


def test_plain_logs_append_the_fields_as_key_value() -> None:
    """Plain format is for people: the message followed by key=value pairs."""
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="WARNING", json_format=False), stream)
    logging.getLogger("monitor.test").warning("broker unreachable", extra={"broker": "mqtt://x:1883"})
    assert (
        stream.getvalue().rstrip().endswith("WARNING monitor.test: broker unreachable broker=mqtt://x:1883")
    )


def test_debug_logging_keeps_webhook_urls_out_of_the_log() -> None:
    """At DEBUG the daemon's own loggers talk, but urllib3's request lines (a webhook URL's path,
    often carrying its token) stay out."""
    stream = io.StringIO()
    urllib3_level = logging.getLogger("urllib3").level
    try:
        configure_logging(LoggingSettings(level="DEBUG", json_format=False), stream)
        logging.getLogger("monitor.test").debug("shown at DEBUG")
        logging.getLogger("urllib3.connectionpool").debug('"POST /hooks/T0K3N HTTP/1.1" 200 0')
    finally:
        logging.getLogger("urllib3").setLevel(urllib3_level)
    assert "shown at DEBUG" in stream.getvalue() and "T0K3N" not in stream.getvalue()

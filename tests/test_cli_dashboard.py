"""`monitor dashboard`: the server answers on its port; `hash-password` prints a hash bcrypt accepts."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from dashboard_helpers import write_config

from dashboard import launch
from monitor.bench.brokers import free_port
from monitor.cli.main import main


def test_hash_password_reads_stdin_and_prints_a_bcrypt_hash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Piped in, the password's hash comes out; bcrypt verifies the password against it."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse\n"))
    assert main(["dashboard", "hash-password"]) == 0
    printed = capsys.readouterr().out.strip()
    assert bcrypt.checkpw(b"correct horse", printed.encode())
    assert not bcrypt.checkpw(b"correct horse\n", printed.encode())


def test_hash_password_refuses_an_empty_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["dashboard", "hash-password"]) == 2
    assert (
        capsys.readouterr().err
        == "monitor dashboard hash-password: error: an empty password cannot be hashed\n"
    )


def test_hash_password_refuses_more_than_bcrypt_reads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over 72 bytes bcrypt would fail at login: refused here, with the limit."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("x" * 73 + "\n"))
    assert main(["dashboard", "hash-password"]) == 2
    assert "at most 72 bytes" in capsys.readouterr().err


def test_a_missing_config_is_one_line_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboard", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip().endswith("nope.yaml: no such config file")


def test_dashboard_serves_on_the_given_port_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """Health endpoint and page answer 200; SIGINT (Ctrl-C) ends the server cleanly."""
    config = write_config(tmp_path / "monitor.yaml", f"sqlite:///{tmp_path / 'monitor.db'}")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "dashboard", "--config", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = launch.url("127.0.0.1", port)
        assert launch.wait_healthy(base, timeout_s=60)
        with urllib.request.urlopen(base, timeout=5) as page:
            assert page.status == 200
            assert "<title>" in page.read().decode()
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 0
    finally:
        if server.poll() is None:
            server.kill()
        output = server.communicate(timeout=10)[0]
    assert output.startswith(f"dashboard: {base}\n")

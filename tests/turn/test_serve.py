"""``salon serve`` in the embedded TURN mode: coturn lives and dies with it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

from salon.turn.probe import stun_binding
from tests.support.process import salon, serve
from tests.turn.conftest import turn_env

pytestmark = pytest.mark.skipif(shutil.which("turnserver") is None, reason="coturn missing")


def _env(**extra: str) -> dict[str, str]:
    return {f"SALON_{k.upper()}": v for k, v in turn_env(**extra).items()}


def test_serve_runs_coturn_for_its_life(tmp_path: Path):
    data = tmp_path / "data"
    env = _env()
    port = int(env["SALON_TURN_PORT"])
    with serve(data, env=env) as running:
        pid = int((data / "turn" / "turnserver.pid").read_text())
        assert os.path.exists(f"/proc/{pid}")
        assert asyncio.run(stun_binding("127.0.0.1", port))
        config = data / "turn" / "turnserver.conf"
        assert oct(config.stat().st_mode & 0o777) == "0o600"
        assert oct((data / "turn.secret").stat().st_mode & 0o777) == "0o600"
        secret = (data / "turn.secret").read_text().strip()
        log = running.log()
    assert "TURN relay (coturn) running" in log
    assert secret not in log
    # Salon stopped coturn before it exited, and reaped it.
    assert not os.path.exists(f"/proc/{pid}")
    assert "coturn stopped" in running.log()
    assert not asyncio.run(stun_binding("127.0.0.1", port, timeout=0.2))


def test_missing_coturn_says_what_to_install(tmp_path: Path):
    env = _env(turn_binary="/nonexistent/turnserver")
    result = salon(tmp_path / "data", "serve", "--port", "1", env=env, check=False)
    assert result.returncode == 1
    assert "coturn is not installed" in result.stderr
    assert "apt-get install coturn" in result.stderr
    assert "SALON_TURN_MODE=off" in result.stderr


def test_busy_turn_port_stops_start_up(tmp_path: Path):
    env = _env()
    port = int(env["SALON_TURN_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", port))
        result = salon(tmp_path / "data", "serve", "--port", "1", env=env, check=False)
    assert result.returncode == 1
    assert f"cannot listen on UDP port {port}: it is in use" in result.stderr
    assert "SALON_TURN_PORT" in result.stderr


def test_turn_mode_off_starts_no_coturn(tmp_path: Path):
    data = tmp_path / "data"
    with serve(data, "--turn-mode", "off", env=_env()) as running:
        assert not (data / "turn").exists()
        assert "coturn" not in running.log()


def test_coturn_dies_with_a_killed_salon(tmp_path: Path):
    """No orphan keeps the TURN ports when Salon is killed without a chance to stop coturn."""
    data = tmp_path / "data"
    with serve(data, env=_env()) as running:
        pid = int((data / "turn" / "turnserver.pid").read_text())
        running.process.send_signal(signal.SIGKILL)
        running.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(pid):
            assert time.monotonic() < deadline, "coturn outlived the killed salon"
            time.sleep(0.05)


def _running(pid: int) -> bool:
    """Alive and not a zombie (the orphan's reaper is whatever PID 1 this machine has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"

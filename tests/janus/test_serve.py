"""``salon serve`` in the embedded Janus mode: Janus lives, restarts and dies with it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from salon.config import Secret
from salon.errors import SfuError
from salon.janus.transport import probe
from tests.support.ports import free_port
from tests.support.process import salon, serve

pytestmark = pytest.mark.skipif(not Path("/usr/bin/janus").exists(), reason="Janus missing")


def _env(**extra: str) -> dict[str, str]:
    return {"SALON_TURN_MODE": "off", "SALON_JANUS_API_PORT": str(free_port())} | extra


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    return [name, *text.rsplit(")", 1)[1].split()]


def _janus_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and stat[0] == "janus" and int(stat[2]) == parent and stat[1] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] != "Z"


def _until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _answers(port: int, secret: str) -> bool:
    try:
        asyncio.run(probe(f"ws://127.0.0.1:{port}", Secret(secret), timeout=1.0))
    except SfuError:
        return False
    return True


def test_serve_runs_janus_restarts_it_and_stops_it(tmp_path: Path):
    data = tmp_path / "data"
    env = _env()
    port = int(env["SALON_JANUS_API_PORT"])
    with serve(data, env=env) as running:
        salon_pid = running.process.pid
        _until(lambda: len(_janus_children(salon_pid)) == 1, "Janus to run under salon serve")
        (first,) = _janus_children(salon_pid)
        secret = (data / "janus-api.secret").read_text().strip()
        admin_key = (data / "janus-admin.key").read_text().strip()
        assert _answers(port, secret)
        for path in (data / "janus-api.secret", data / "janus-admin.key"):
            assert oct(path.stat().st_mode & 0o777) == "0o600", path
        assert oct((data / "janus" / "dtls-key.pem").stat().st_mode & 0o777) == "0o600"
        # The generated config (it names addresses) lives outside the data dir.
        configs = re.search(r"--configs-folder\x00([^\x00]+)", _cmdline(first))
        assert configs is not None
        config_dir = Path(configs[1])
        assert not config_dir.is_relative_to(data)
        assert oct(config_dir.stat().st_mode & 0o777) == "0o700"
        assert not list(data.rglob("*.jcfg"))
        _until(lambda: "SFU node local is up" in running.log(), "the pool to connect")
        assert "SFU (Janus) running" in running.log()

        # Killed: the supervisor starts a new Janus, the pool finds it again.
        os.kill(first, signal.SIGKILL)
        _until(
            lambda: [p for p in _janus_children(salon_pid) if p != first] != [],
            "a new Janus after the first was killed",
        )
        _until(lambda: _answers(port, secret), "the new Janus to answer")
        _until(
            lambda: running.log().count("SFU node local is up") == 2,
            "the pool to connect to the new Janus",
        )
        log = running.log()
        assert "janus exited unexpectedly (killed by SIGKILL)" in log
        assert "SFU node local was lost" in log
        (second,) = _janus_children(salon_pid)
    # Salon stopped Janus before it exited, reaped it and removed its config.
    assert not _alive(first)
    assert not _alive(second)
    assert not config_dir.exists()
    log = running.log()
    assert "janus stopped" in log
    assert not _answers(port, secret)
    assert secret not in log
    assert admin_key not in log


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text()


def test_janus_mode_off_starts_no_janus(tmp_path: Path):
    data = tmp_path / "data"
    with serve(data, env=_env(SALON_JANUS_MODE="off")) as running:
        assert _janus_children(running.process.pid) == []
        assert not (data / "janus").exists()
        assert not (data / "janus-api.secret").exists()
        assert "Janus" not in running.log()


def test_missing_janus_says_what_to_install(tmp_path: Path):
    env = _env(SALON_JANUS_BINARY="/nonexistent/janus")
    result = salon(tmp_path / "data", "serve", "--port", "1", env=env, check=False)
    assert result.returncode == 1
    assert "Janus is not installed" in result.stderr
    assert "apt-get install janus" in result.stderr
    assert "SALON_JANUS_MODE=off" in result.stderr


def test_busy_api_port_stops_start_up(tmp_path: Path):
    env = _env()
    port = int(env["SALON_JANUS_API_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = salon(tmp_path / "data", "serve", "--port", "1", env=env, check=False)
    assert result.returncode == 1
    assert f"The embedded Janus cannot listen on port {port}: it is in use" in result.stderr
    assert "SALON_JANUS_API_PORT" in result.stderr


def test_janus_dies_with_a_killed_salon(tmp_path: Path):
    """No orphan keeps Janus's ports when Salon is killed without a chance to stop it, and
    the config directory it could not remove goes at the next start."""
    data = tmp_path / "data"
    with serve(data, env=_env()) as running:
        salon_pid = running.process.pid
        _until(lambda: len(_janus_children(salon_pid)) == 1, "Janus to run")
        (janus,) = _janus_children(salon_pid)
        configs = re.search(r"--configs-folder\x00([^\x00]+)", _cmdline(janus))
        assert configs is not None
        running.process.send_signal(signal.SIGKILL)
        running.process.wait(timeout=10)
        _until(lambda: not _alive(janus), "Janus to die with the killed salon", timeout=10)
    left = Path(configs[1])
    assert left.exists()
    with serve(data, env=_env()):
        assert not left.exists()

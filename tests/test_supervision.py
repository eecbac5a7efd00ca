"""The generic supervisor, with a tiny real child process: a Python one-liner on a TCP port."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from salon.errors import ConfigError
from salon.supervision import Supervisor

pytestmark = pytest.mark.anyio

# Listens on a port the parent picks, says "ready", prints a secret, then waits to be killed.
CHILD = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
print("token=hunter2-secret", flush=True)
print("ready on stderr", file=sys.stderr, flush=True)
while True:
    time.sleep(60)
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists at all (a zombie counts: it has not been reaped)."""
    return os.path.exists(f"/proc/{pid}")


async def _eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        await asyncio.sleep(0.02)


class PortReady:
    """Ready once the child's port (the first line it prints) accepts a connection."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def port(self) -> int | None:
        for record in reversed(self.caplog.records):
            text = record.getMessage()
            if text.startswith("stdout: ") and text[8:].isdigit():
                return int(text[8:])
        return None

    async def __call__(self) -> bool:
        port = self.port()
        if port is None:
            return False
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True


@pytest.fixture
def ready(caplog: pytest.LogCaptureFixture) -> PortReady:
    caplog.set_level(logging.DEBUG, logger="salon.supervision")
    return PortReady(caplog)


def _child(ready: PortReady | None, **options: object) -> Supervisor:
    return Supervisor(
        "tiny",
        [sys.executable, "-c", CHILD],
        ready=ready,
        secrets=["hunter2-secret"],
        backoff_initial=0.05,
        **options,  # type: ignore[arg-type]
    )


async def test_start_waits_for_ready_and_stop_leaves_nothing(ready: PortReady):
    supervisor = _child(ready)
    await supervisor.start()
    pid = supervisor.pid
    assert pid is not None and supervisor.running
    assert await ready()
    await supervisor.stop()
    assert not supervisor.running and supervisor.pid is None
    assert not _alive(pid)  # terminated and reaped


async def test_killed_child_is_restarted(ready: PortReady):
    async with _child(ready) as supervisor:
        first = supervisor.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await _eventually(lambda: supervisor.restarts == 1 and supervisor.running)
        second = supervisor.pid
        assert second not in (None, first)
        await _eventually(ready)
        assert not _alive(first)
    assert second is not None and not _alive(second)


async def test_output_is_logged_at_debug_without_secrets(
    ready: PortReady, caplog: pytest.LogCaptureFixture
):
    async with _child(ready):
        await _eventually(lambda: "stderr: ready on stderr" in caplog.text)
    assert "token=**********" in caplog.text
    assert "hunter2" not in caplog.text
    child_lines = [r for r in caplog.records if r.name == "salon.supervision.tiny"]
    assert {r.levelno for r in child_lines if "stdout:" in r.getMessage()} == {logging.DEBUG}


async def test_a_child_that_exits_at_start_is_reported_with_its_output():
    script = (
        "import sys; print('listen: address in use (hunter2-secret)', file=sys.stderr); sys.exit(3)"
    )
    supervisor = Supervisor(
        "broken",
        [sys.executable, "-c", script],
        ready=lambda: asyncio.sleep(0, result=False),
        secrets=["hunter2-secret"],
    )
    with pytest.raises(ConfigError) as failed:
        await supervisor.start()
    message = failed.value.message
    assert message.startswith(f"broken ({sys.executable}) exited (exit code 3)")
    assert "listen: address in use (**********)" in message
    assert "hunter2" not in message
    assert not supervisor.running


async def test_a_child_never_ready_is_killed_and_reported():
    supervisor = Supervisor(
        "sleepy",
        [sys.executable, "-c", "import time; print('starting', flush=True); time.sleep(60)"],
        ready=lambda: asyncio.sleep(0, result=False),
        ready_timeout=0.5,
    )
    with pytest.raises(ConfigError, match=r"did not become ready within 0\.5 s") as failed:
        await supervisor.start()
    assert "starting" in failed.value.message
    assert not supervisor.running


async def test_missing_program_is_a_clear_error():
    supervisor = Supervisor("ghost", ["/nonexistent/ghostd"])
    with pytest.raises(ConfigError, match=r"ghost could not be started: /nonexistent/ghostd"):
        await supervisor.start()


async def test_backoff_doubles_up_to_its_cap_and_gives_up():
    delays: list[float] = []

    async def no_wait(delay: float) -> None:
        delays.append(delay)

    supervisor = Supervisor(
        "crashy",
        [sys.executable, "-c", "raise SystemExit(1)"],
        backoff_initial=0.1,
        backoff_max=0.4,
        max_failures=5,
        sleep=no_wait,
    )
    await supervisor.start()
    await _eventually(lambda: supervisor.gave_up)
    assert delays == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert supervisor.restarts == 5
    await supervisor.stop()


async def test_sigterm_then_sigkill(tmp_path: Path):
    marker = tmp_path / "ignoring-sigterm"
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(marker)!r}, 'w').close(); time.sleep(60)"
    )

    async def ignoring() -> bool:
        return marker.exists()

    supervisor = Supervisor(
        "stubborn", [sys.executable, "-c", stubborn], ready=ignoring, stop_timeout=0.3
    )
    await supervisor.start()
    pid = supervisor.pid
    assert pid is not None
    started = time.monotonic()
    await supervisor.stop()
    assert time.monotonic() - started < 5
    assert not _alive(pid)


async def test_stop_during_backoff_does_not_restart():
    backing_off, gate = asyncio.Event(), asyncio.Event()

    async def held(delay: float) -> None:
        backing_off.set()
        await gate.wait()

    supervisor = Supervisor(
        "once", [sys.executable, "-c", "raise SystemExit(0)"], sleep=held, backoff_initial=0.1
    )
    await supervisor.start()
    await asyncio.wait_for(backing_off.wait(), 20)
    await supervisor.stop()
    gate.set()
    assert supervisor.restarts == 0 and not supervisor.running

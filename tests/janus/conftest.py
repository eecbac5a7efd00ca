"""Fixtures for tests against a real Janus (Debian's ``janus``) on loopback.

Each test gets its own Janus, started by Salon's own ``JanusProcess`` from a generated config
on a free port, with a short session timeout so keepalive tests do not wait Janus's default
minute. These tests use only the control API over the loopback WebSocket: no ICE, no media
(those are in tests/e2e/test_janus_media.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from salon.janus.backend import JanusBackend
from salon.janus.process import JanusProcess
from tests.janus.support import connect, running_janus

SESSION_TIMEOUT = 3
RECLAIM_TIMEOUT = 5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def janus(tmp_path: Path) -> AsyncIterator[JanusProcess]:
    if not Path("/usr/bin/janus").exists():
        pytest.skip("Janus is not installed (apt-get install janus)")
    async with running_janus(
        tmp_path / "janus",
        session_timeout=SESSION_TIMEOUT,
        reclaim_session_timeout=RECLAIM_TIMEOUT,
    ) as process:
        yield process


@pytest.fixture
async def backend(janus: JanusProcess) -> AsyncIterator[JanusBackend]:
    connected = await connect(janus, keepalive_interval=0.5)
    yield connected
    await connected.close()

"""A real coturn, started from Salon's generated config on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from salon.clock import SystemClock
from salon.config import Secret, Settings
from salon.tls import ensure_self_signed
from salon.turn.credentials import TurnCredential, issue_credential, load_turn_secret
from salon.turn.supervisor import EmbeddedCoturn
from tests.conftest import make_settings
from tests.support.ports import free_port


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def turn_env(**extra: str) -> dict[str, str]:
    """Settings for a coturn on loopback test ports that may relay to loopback peers."""
    return {
        "turn_port": str(free_port()),
        "turn_tls_ports": f"{free_port()},{free_port()}",
        "turn_listening_ips": "127.0.0.1",
        "turn_test_allow_loopback_peers": "1",
    } | extra


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 20, what: str = "condition"
) -> None:
    """Polls ``check`` until it is true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class RunningCoturn:
    settings: Settings
    secret: Secret
    cert: Path
    coturn: EmbeddedCoturn

    @property
    def port(self) -> int:
        return self.settings.turn.port

    @property
    def tls_ports(self) -> tuple[int, ...]:
        return self.settings.turn.tls_ports

    def credential(self, ttl: timedelta = timedelta(hours=1)) -> TurnCredential:
        return issue_credential(self.secret, SystemClock().now() + ttl)

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@dataclass
class CoturnFactory:
    tmp_path: Path
    started: list[EmbeddedCoturn]

    async def start(self, name: str = "data", **env: str) -> RunningCoturn:
        settings = make_settings(self.tmp_path / name, **turn_env(**env))
        secret = load_turn_secret(settings.turn.secret_file, create=True)
        # Certificates live in real time, whatever a test clock says.
        os.makedirs(settings.data_dir, mode=0o700, exist_ok=True)
        cert, key = ensure_self_signed(settings.data_dir, ["localhost"], SystemClock())
        coturn = EmbeddedCoturn(settings, secret, cert=cert, key=key, backoff_initial=0.1)
        await coturn.start()
        self.started.append(coturn)
        return RunningCoturn(settings, secret, cert, coturn)


@pytest.fixture
async def coturns(tmp_path: Path) -> AsyncIterator[CoturnFactory]:
    if shutil.which("turnserver") is None:
        pytest.skip("coturn is not installed; `make run` installs it")
    factory = CoturnFactory(tmp_path, [])
    try:
        yield factory
    finally:
        for coturn in factory.started:
            await coturn.stop()


@pytest.fixture
async def coturn(coturns: CoturnFactory) -> RunningCoturn:
    return await coturns.start()

"""A Janus node Salon runs itself: its config generated, the process supervised.

The embedded default runs one Janus next to Salon: ``JanusProcess`` writes the config
directory (``salon.janus.config``), starts ``janus -F DIR`` under a ``Supervisor`` that counts
it started only once it answers ``info`` with Salon's API secret over its WebSocket, restarts
it if it dies, and stops it with SIGTERM. Janus keeps its rooms in memory, so a restarted node
is an empty one: Salon's session with it is lost (``NodeLost``) and rooms are placed again.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from types import TracebackType
from typing import Self

from salon.clock import Clock, SystemClock
from salon.config import Secret
from salon.errors import SfuError
from salon.janus.config import (
    JanusConfig,
    JanusInstall,
    ensure_dtls_certificate,
    write_config,
)
from salon.janus.transport import probe
from salon.media.sfu import SfuNode
from salon.supervision import Supervisor

__all__ = ["JanusProcess", "local_config"]


def local_config(
    directory: Path,
    *,
    ws_port: int,
    media_address: str,
    clock: Clock,
    rtp_port_range: tuple[int, int] = (20000, 40000),
    session_timeout: int = 60,
    reclaim_session_timeout: int = 15,
    ice_enforce_list: tuple[str, ...] = (),
    debug_level: int = 3,
) -> JanusConfig:
    """A config for a node on this machine: fresh secrets, a DTLS certificate in ``directory``.

    The secrets are new each time: only this Salon process, which starts the node, needs them.
    """
    cert_pem, cert_key = ensure_dtls_certificate(directory, clock)
    return JanusConfig(
        api_secret=Secret(secrets.token_urlsafe(32)),
        admin_key=Secret(secrets.token_urlsafe(32)),
        ws_port=ws_port,
        media_address=media_address,
        cert_pem=cert_pem,
        cert_key=cert_key,
        ice_enforce_list=ice_enforce_list,
        rtp_port_range=rtp_port_range,
        session_timeout=session_timeout,
        reclaim_session_timeout=reclaim_session_timeout,
        debug_level=debug_level,
    )


class JanusProcess:
    """One supervised Janus process; ``async with`` starts it and stops it."""

    def __init__(
        self,
        config: JanusConfig,
        directory: Path,
        *,
        install: JanusInstall | None = None,
        node_id: str = "local",
        region: str = "local",
        clock: Clock | None = None,
        ready_timeout: float = 15.0,
        max_failures: int | None = None,
    ) -> None:
        self.config = config
        self.directory = directory
        self._install = install
        self.node = SfuNode(node_id, config.ws_url, region)
        self._clock = clock or SystemClock()
        self._ready_timeout = ready_timeout
        self._max_failures = max_failures
        self._supervisor: Supervisor | None = None

    @property
    def supervisor(self) -> Supervisor:
        if self._supervisor is None:
            raise RuntimeError("the Janus process has not been started")
        return self._supervisor

    async def _ready(self) -> bool:
        try:
            info = await probe(self.config.ws_url, self.config.api_secret, timeout=1.0)
        except SfuError:
            return False
        return info.accepting_sessions

    async def start(self) -> None:
        """Writes the config and returns once Janus answers; ``ConfigError`` if it does not."""
        install = self._install or JanusInstall.discover()
        write_config(self.config, install, self.directory)
        self._supervisor = Supervisor(
            "janus",
            [
                str(install.binary),
                "--configs-folder",
                str(self.directory),
                "--config",
                str(self.directory / "janus.jcfg"),
            ],
            cwd=self.directory,
            ready=self._ready,
            ready_timeout=self._ready_timeout,
            max_failures=self._max_failures,
            secrets=[
                self.config.api_secret.reveal(),
                self.config.admin_key.reveal(),
                self.config.admin_secret.reveal(),
            ],
            clock=self._clock,
        )
        await self._supervisor.start()

    async def stop(self, timeout: float | None = None) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop(timeout)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

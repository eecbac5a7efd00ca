"""The embedded Janus: the one node ``salon serve`` runs itself, from Salon's settings.

Its config directory (``salon.janus.config``) is made afresh at every start in a private
temporary directory (0700, removed at stop): it names addresses, and no file in the data dir
holds an IP address. One left by a Salon that was killed is removed at the next start (its
name carries a digest of the data dir). The data dir keeps only what must survive a restart:
the DTLS certificate (``<data dir>/janus/``) and the two secret files
(``salon.janus.credentials``).

Addresses, unless settings name them:

- the API listens on 127.0.0.1, on a free port picked at each start (only Salon talks to it);
- the media address (what Janus puts in its ICE candidates) is the one this machine would use
  to reach the internet (a route lookup; no packet is sent), or 127.0.0.1 on a machine without
  a route, which only a browser on this machine can reach.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import logging
import shutil
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from salon.clock import Clock, SystemClock
from salon.config import Settings
from salon.errors import ConfigError
from salon.janus.config import JanusConfig, JanusInstall, ensure_dtls_certificate
from salon.janus.credentials import JanusCredentials
from salon.janus.process import JanusProcess
from salon.media.sfu import SfuNode

__all__ = ["EMBEDDED_NODE_ID", "EmbeddedJanus", "route_address"]

log = logging.getLogger("salon.janus")

EMBEDDED_NODE_ID = "local"
# A documentation address (TEST-NET-1): connecting a UDP socket to it only asks the kernel
# which source address a packet to the internet would leave from.
_ROUTE_PROBE = ("192.0.2.1", 9)


def route_address() -> str | None:
    """The IPv4 address this machine would send from to reach the internet, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(_ROUTE_PROBE)
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    ip = ipaddress.ip_address(address)
    return None if ip.is_loopback or ip.is_unspecified else address


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_port(port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            why = (
                "it is in use (another Janus, or one left running?)"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror or type(exc).__name__
            )
            raise ConfigError(
                f"The embedded Janus cannot listen on port {port}: {why}. Free the port, change "
                "SALON_JANUS_API_PORT (or leave it unset for a free one), or set "
                "SALON_JANUS_MODE=off."
            ) from None


class EmbeddedJanus:
    """The embedded Janus node, supervised; ``async with`` starts and stops it."""

    def __init__(
        self,
        settings: Settings,
        credentials: JanusCredentials,
        *,
        clock: Clock | None = None,
        ready_timeout: float = 15.0,
    ) -> None:
        self._settings = settings.janus
        self._credentials = credentials
        self._clock = clock or SystemClock()
        self._ready_timeout = ready_timeout
        self.state_dir = settings.data_dir / "janus"
        digest = hashlib.sha256(str(settings.data_dir).encode()).hexdigest()[:12]
        self._runtime_prefix = f"salon-janus-{digest}-"
        self._runtime_dir: Path | None = None
        self._process: JanusProcess | None = None

    @property
    def process(self) -> JanusProcess:
        if self._process is None:
            raise RuntimeError("the embedded Janus has not been started")
        return self._process

    @property
    def node(self) -> SfuNode:
        return self.process.node

    @property
    def pid(self) -> int | None:
        return self.process.supervisor.pid

    def _install(self) -> JanusInstall:
        binary = self._settings.binary
        if not binary.is_file():
            raise ConfigError(
                f"Janus is not installed: the embedded SFU needs {binary}. Install Debian's "
                "janus package (`apt-get install janus`; `make run` does), point "
                "SALON_JANUS_BINARY at it, or set SALON_JANUS_MODE=off (or external)."
            )
        return JanusInstall.discover(binary=binary)

    def _media_address(self) -> str:
        if self._settings.interface is not None:
            return self._settings.interface
        found = route_address()
        if found is None:
            log.warning(
                "this machine has no route to the internet: group-room media is reachable only "
                "from this machine. Set SALON_JANUS_INTERFACE to the address browsers reach."
            )
            return "127.0.0.1"
        return found

    def config(self) -> JanusConfig:
        """The node's config as it would start now (fresh port if none is set)."""
        cert, key = ensure_dtls_certificate(self.state_dir, self._clock)
        port = self._settings.api_port
        if port is None:
            port = _free_loopback_port()
        return JanusConfig(
            api_secret=self._credentials.api_secret,
            admin_key=self._credentials.admin_key,
            ws_port=port,
            media_address=self._media_address(),
            cert_pem=cert,
            cert_key=key,
            ice_enforce_list=self._settings.ice_enforce_list,
            nat_1_1_mapping=self._settings.public_ips,
            rtp_port_range=self._settings.rtp_ports,
            event_loops=self._settings.event_loops,
        )

    async def start(self) -> None:
        """Starts Janus and returns once it accepts a session with Salon's API secret."""
        install = self._install()
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        config = self.config()
        if self._settings.api_port is not None:
            _check_port(config.ws_port)
        # A killed Salon could not remove its directory; one Salon runs per data dir.
        for stale in Path(tempfile.gettempdir()).glob(f"{self._runtime_prefix}*"):
            shutil.rmtree(stale, ignore_errors=True)
        self._runtime_dir = Path(tempfile.mkdtemp(prefix=self._runtime_prefix))
        self._process = JanusProcess(
            config,
            self._runtime_dir,
            install=install,
            node_id=EMBEDDED_NODE_ID,
            region=EMBEDDED_NODE_ID,
            ready_timeout=self._ready_timeout,
        )
        try:
            await self._process.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self, timeout: float | None = None) -> None:
        if self._process is not None:
            await self._process.stop(timeout)
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None

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

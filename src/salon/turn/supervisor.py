"""The embedded coturn: ``salon serve`` writes its config and keeps it running.

The config goes to ``<data dir>/turn/turnserver.conf`` (0600: it holds the shared secret); the
addresses coturn listens and relays on are given as arguments instead, so no file in the data dir
holds an IP address. Before the first start the ports are checked: coturn shares ports with
``SO_REUSEPORT``, so a second coturn on the same port would silently answer half the traffic with
another secret; Salon refuses to start instead.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path
from types import TracebackType
from typing import Self

from salon.clock import Clock
from salon.config import Secret, Settings
from salon.errors import ConfigError
from salon.supervision import Supervisor
from salon.turn.config import CoturnConfig, CoturnFiles, coturn_config
from salon.turn.probe import stun_binding

__all__ = ["EmbeddedCoturn"]


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


def _bind_problem(ip: str, port: int, kind: socket.SocketKind) -> str | None:
    """Why coturn could not bind ``ip:port``, or ``None`` if it can."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, kind) as sock:
        if kind == socket.SOCK_STREAM:
            # A listener still conflicts; connections in TIME_WAIT do not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except PermissionError:
            return "a port below 1024 needs root or CAP_NET_BIND_SERVICE"
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "it is in use (another TURN server, or one left running?)"
            return exc.strerror or type(exc).__name__
    return None


class EmbeddedCoturn:
    """coturn run from Salon's settings, under a ``Supervisor``; usable as ``async with``."""

    def __init__(
        self,
        settings: Settings,
        secret: Secret,
        *,
        cert: Path,
        key: Path,
        clock: Clock | None = None,
        ready_timeout: float = 10.0,
        backoff_initial: float = 0.5,
    ) -> None:
        turn = settings.turn
        self._turn = turn
        self.state_dir = settings.data_dir / "turn"
        self.config_path = self.state_dir / "turnserver.conf"
        files = CoturnFiles(
            cert=cert.resolve(),
            key=key.resolve(),
            pidfile=self.state_dir / "turnserver.pid",
            userdb=self.state_dir / "turndb",
        )
        self.config: CoturnConfig = coturn_config(turn, files, secret)
        self._probe_host = turn.listening_ips[0] if turn.listening_ips else "127.0.0.1"
        binary = shutil.which(turn.binary)
        self._binary = binary
        self.supervisor = Supervisor(
            "coturn",
            [binary or turn.binary, "-c", str(self.config_path), *self.config.address_arguments()],
            env={"LC_ALL": "C"},
            cwd=self.state_dir,
            ready=self._ready,
            ready_timeout=ready_timeout,
            backoff_initial=backoff_initial,
            secrets=[secret.reveal()],
            clock=clock,
        )

    async def _ready(self) -> bool:
        return await stun_binding(self._probe_host, self._turn.port)

    def _check_ports(self) -> None:
        first_tls, *other_tls = self._turn.tls_ports
        wanted = [(self._turn.port, socket.SOCK_DGRAM), (self._turn.port, socket.SOCK_STREAM)]
        wanted.append((first_tls, socket.SOCK_STREAM))
        for port in other_tls:
            wanted += [(port, socket.SOCK_DGRAM), (port, socket.SOCK_STREAM)]
        for ip in self._turn.listening_ips or ("0.0.0.0",):  # noqa: S104 (coturn's default)
            for port, kind in wanted:
                problem = _bind_problem(ip, port, kind)
                if problem is not None:
                    proto = "UDP" if kind == socket.SOCK_DGRAM else "TCP"
                    raise ConfigError(
                        f"The embedded coturn cannot listen on {proto} port {port}: {problem}. "
                        "Free the port, change SALON_TURN_PORT / SALON_TURN_TLS_PORTS, or set "
                        "SALON_TURN_MODE=off."
                    )

    async def start(self) -> None:
        """Writes the config, checks the ports, starts coturn and waits for a STUN answer."""
        if self._binary is None:
            raise ConfigError(
                f"coturn is not installed: the embedded TURN relay needs the {self._turn.binary!r} "
                "program. Install the Debian package with `apt-get install coturn` (`make run` "
                "does), point SALON_TURN_BINARY at it, or set SALON_TURN_MODE=off (or external)."
            )
        _write_private(self.config_path, self.config.text(with_secret=True, addresses=False))
        self._check_ports()
        await self.supervisor.start()

    async def stop(self, timeout: float | None = None) -> None:
        await self.supervisor.stop(timeout)

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

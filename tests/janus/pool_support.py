"""Several real Janus nodes sharing Salon's secrets (as a pool's nodes do), and a thread that
runs a test in a network namespace of its own.

Media tests need an address Janus offers and aioice accepts, which loopback is not; outside
``scripts/e2e`` a test gets one by running on a thread that has unshared its network namespace
(root only): sockets that thread makes and processes it starts (Janus, ``ip``) live in the new
namespace, where the test makes a veth pair. Nothing it sends can leave it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import os
import secrets
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from salon.clock import SystemClock
from salon.config import Secret
from salon.janus.credentials import JanusCredentials
from salon.janus.pool import JanusConnector, SfuPool
from salon.janus.process import JanusProcess, local_config
from tests.janus.support import IP, ROOM_KEY
from tests.support.ports import free_port

T = TypeVar("T")
_CLONE_NEWNET = 0x40000000


def shared_credentials() -> JanusCredentials:
    return JanusCredentials(
        api_secret=Secret(secrets.token_urlsafe(32)),
        admin_key=Secret(secrets.token_urlsafe(32)),
        room_key=ROOM_KEY,
    )


@contextlib.asynccontextmanager
async def janus_nodes(
    directory: Path,
    credentials: JanusCredentials,
    count: int,
    *,
    media_address: str = "127.0.0.1",
    session_timeout: int = 60,
    max_failures: int | None = 3,
) -> AsyncIterator[list[JanusProcess]]:
    """``count`` Janus nodes (``node-0`` …) with ``credentials``, each with its own RTP range."""
    processes = []
    try:
        for index in range(count):
            node_dir = directory / f"node-{index}"
            config = local_config(
                node_dir,
                ws_port=free_port(),
                media_address=media_address,
                clock=SystemClock(),
                session_timeout=session_timeout,
                rtp_port_range=(40000 + 1000 * index, 40999 + 1000 * index),
            )
            config = dataclasses.replace(
                config, api_secret=credentials.api_secret, admin_key=credentials.admin_key
            )
            process = JanusProcess(
                config,
                node_dir,
                node_id=f"node-{index}",
                region="local",
                max_failures=max_failures,
            )
            await process.start()
            processes.append(process)
        yield processes
    finally:
        for process in processes:
            await process.stop()


def make_pool(
    credentials: JanusCredentials,
    processes: list[JanusProcess],
    *,
    reclaim_timeout: float = 1.0,
    health_interval: float = 0.5,
) -> SfuPool:
    connector = JanusConnector(credentials, request_timeout=3.0, reclaim_timeout=reclaim_timeout)
    return SfuPool(
        connector,
        [process.node for process in processes],
        health_interval=health_interval,
        reconnect_initial=0.1,
        reconnect_max=1.0,
    )


def run_in_private_network(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs ``main()`` in an event loop on a thread with a network namespace of its own
    (loopback up, nothing else); skips when this process may not make one (not root)."""
    if os.geteuid() != 0:
        pytest.skip("a network namespace of the test's own needs root")
    outcome: dict[str, Any] = {}

    def thread() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(_CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                pytest.skip(f"cannot make a network namespace: {os.strerror(errno)}")
            subprocess.run([IP, "link", "set", "lo", "up"], check=True, timeout=10)
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=thread, name="private-network")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]

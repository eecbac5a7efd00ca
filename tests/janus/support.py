"""A real Janus for tests: started through ``salon.janus.process`` on free loopback ports, and a
veth pair for tests whose media must cross a real (namespaced) interface.

Janus never offers a loopback candidate and aioice ignores 127.0.0.1, so media tests run in a
network namespace of their own (``scripts/e2e``) and give Janus one end of a veth pair made
there; control-plane tests only need the loopback WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from salon.clock import SystemClock
from salon.config import Secret
from salon.janus.backend import JanusBackend
from salon.janus.process import JanusProcess, local_config
from salon.janus.transport import Tap
from salon.media.events import SfuEventStream
from salon.media.sfu import SdpType, SessionDescription
from tests.support.ports import free_port

IP = shutil.which("ip") or "/usr/sbin/ip"
ROOM_KEY = Secret("test-room-key-" + "k" * 32)


def in_own_network_namespace() -> bool:
    return {name for _, name in socket.if_nameindex()} <= {"lo", "sj0", "sj1"}


@dataclass(frozen=True)
class Veth:
    janus_address: str
    peer_address: str
    janus_interface: str = "sj0"
    peer_interface: str = "sj1"


@contextlib.contextmanager
def veth_pair(janus_address: str = "10.77.0.1", peer_address: str = "10.77.0.2") -> Iterator[Veth]:
    """A veth pair in the current (test-made) network namespace, removed afterwards."""
    if not in_own_network_namespace():
        raise RuntimeError("veth_pair only runs in a network namespace the tests made")

    def ip(*args: str) -> None:
        subprocess.run([IP, *args], check=True, capture_output=True, timeout=10)

    veth = Veth(janus_address, peer_address)
    ip("link", "set", "lo", "up")
    ip("link", "add", veth.janus_interface, "type", "veth", "peer", "name", veth.peer_interface)
    try:
        ip("addr", "add", f"{janus_address}/24", "dev", veth.janus_interface)
        ip("addr", "add", f"{peer_address}/24", "dev", veth.peer_interface)
        ip("link", "set", veth.janus_interface, "up")
        ip("link", "set", veth.peer_interface, "up")
        yield veth
    finally:
        ip("link", "del", veth.janus_interface)


@contextlib.asynccontextmanager
async def running_janus(
    directory: Path,
    *,
    media_address: str = "127.0.0.1",
    session_timeout: int = 60,
    reclaim_session_timeout: int = 15,
    rtp_port_range: tuple[int, int] = (40000, 40999),
) -> AsyncIterator[JanusProcess]:
    """A Janus started by Salon's own code, with a generated config in ``directory``."""
    config = local_config(
        directory,
        ws_port=free_port(),
        media_address=media_address,
        clock=SystemClock(),
        session_timeout=session_timeout,
        reclaim_session_timeout=reclaim_session_timeout,
        rtp_port_range=rtp_port_range,
        debug_level=4,
    )
    async with JanusProcess(config, directory, max_failures=3) as process:
        yield process


async def connect(
    process: JanusProcess,
    *,
    keepalive_interval: float = 1.0,
    reclaim_timeout: float = 0.0,
    tap: Tap | None = None,
) -> JanusBackend:
    return await JanusBackend.connect(
        process.node,
        api_secret=process.config.api_secret,
        admin_key=process.config.admin_key,
        room_key=ROOM_KEY,
        request_timeout=5.0,
        keepalive_interval=keepalive_interval,
        reclaim_timeout=reclaim_timeout,
        tap=tap,
    )


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str, step: float = 0.05
) -> None:
    """Polls ``check`` until it is true; fails naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(step)


def recorded_offer() -> SessionDescription:
    """An aiortc publisher's offer (audio + video) from the golden media transcript."""
    document = json.loads((Path(__file__).parent / "fixtures" / "media.json").read_text())
    for frame in document["frames"]:
        jsep = frame["message"].get("jsep")
        if frame["dir"] == "send" and jsep and jsep["type"] == "offer":
            return SessionDescription(SdpType.OFFER, jsep["sdp"])
    raise AssertionError("media.json holds no publisher offer")


E = TypeVar("E")


async def next_of(events: SfuEventStream, kind: type[E], timeout: float = 5.0) -> E:
    """The next event of ``kind`` from ``events``, skipping others; ``TimeoutError`` if none
    comes within ``timeout`` seconds of the previous one."""
    while True:
        event = await events.next(timeout)
        if isinstance(event, kind):
            return event

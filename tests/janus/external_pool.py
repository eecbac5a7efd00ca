"""Real Janus nodes for a real ``salon serve`` in the external mode (``SALON_JANUS_MODE=
external``), as an operator runs them: the tests start them, write the secrets they share
with Salon to files, and hand ``salon serve`` the matching ``SALON_JANUS_*`` settings.

The nodes are supervised on an event loop of their own, on a thread, so that a test whose own
thread is busy (Playwright's sync API, a subprocess) keeps them running. Node ``i`` has the RTP
ports ``40000 + 1000 i`` to ``40999 + 1000 i`` (``tests.janus.pool_support.janus_nodes``), so a
browser's selected ICE pair tells which node it talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from salon.janus.credentials import JanusCredentials
from salon.janus.process import JanusProcess
from salon.media.sfu import NodeHealth
from tests.janus.pool_support import janus_nodes, shared_credentials
from tests.janus.support import connect

T = TypeVar("T")


@dataclass
class ExternalPool:
    nodes: list[JanusProcess]
    credentials: JanusCredentials
    # What `salon serve` needs to drive these nodes.
    env: dict[str, str]
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Runs ``coro`` on the nodes' event loop, from any thread."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def node_id(self, index: int) -> str:
        """The node's id in Salon's pool: ``HOST:PORT`` of its API."""
        return f"127.0.0.1:{self.nodes[index].config.ws_port}"

    def index_of(self, node_id: str) -> int:
        return next(i for i in range(len(self.nodes)) if self.node_id(i) == node_id)

    @staticmethod
    def rtp_ports(index: int) -> range:
        return range(40000 + 1000 * index, 41000 + 1000 * index)

    def health(self, index: int) -> NodeHealth:
        """What the node itself says (rooms, participants), asked over a session of its own."""

        async def ask() -> NodeHealth:
            backend = await connect(self.nodes[index])
            try:
                return await backend.health()
            finally:
                await backend.close()

        return self.call(ask())

    def kill(self, index: int) -> None:
        """SIGKILL, as a crashed machine; with ``max_failures=0`` nobody restarts it."""
        pid = self.nodes[index].supervisor.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def external_pool(
    directory: Path,
    count: int = 2,
    *,
    media_address: str = "127.0.0.1",
    max_failures: int | None = 3,
) -> Iterator[ExternalPool]:
    """``count`` Janus nodes on 127.0.0.1 (media on ``media_address``) and their settings."""
    credentials = shared_credentials()
    secret_file = directory / "janus-api.secret"
    key_file = directory / "janus-admin.key"
    directory.mkdir(parents=True, exist_ok=True)
    for path, secret in ((secret_file, credentials.api_secret), (key_file, credentials.admin_key)):
        path.write_text(secret.reveal() + "\n")
        path.chmod(0o600)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="janus-nodes", daemon=True)
    thread.start()
    running = janus_nodes(
        directory, credentials, count, media_address=media_address, max_failures=max_failures
    )
    try:
        nodes = asyncio.run_coroutine_threadsafe(running.__aenter__(), loop).result(60)
        try:
            urls = ",".join(f"ws://127.0.0.1:{node.config.ws_port}" for node in nodes)
            env = {
                "SALON_JANUS_MODE": "external",
                "SALON_JANUS_NODES": urls,
                "SALON_JANUS_API_SECRET_FILE": str(secret_file),
                "SALON_JANUS_ADMIN_KEY_FILE": str(key_file),
            }
            yield ExternalPool(nodes, credentials, env, loop)
        finally:
            asyncio.run_coroutine_threadsafe(running.__aexit__(None, None, None), loop).result(60)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

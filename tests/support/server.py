"""A real HTTPS Salon server in a thread (real uvicorn, real TLS), driven by a test's clock."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from salon.api.app import create_asgi_app
from salon.clock import SystemClock
from salon.services.container import Services
from salon.signaling.server import MAX_FRAME_BYTES, SignalingServer
from salon.tls import ensure_self_signed

T = TypeVar("T")


@dataclass
class RunningServer:
    base_url: str
    cert: Path
    services: Services
    signaling: SignalingServer
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Runs ``coro`` on the server's event loop (e.g. ``signaling.tick()``), from any thread."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def client(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        context = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=self.base_url, verify=context, headers=headers, timeout=10)


@contextlib.contextmanager
def https_server(services: Services) -> Iterator[RunningServer]:
    # Certificates live in real time, whatever the test clock says.
    cert, key = ensure_self_signed(services.settings.data_dir, ["localhost"], SystemClock())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    signaling = SignalingServer(services)
    config = uvicorn.Config(
        create_asgi_app(services, signaling),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_config=None,
        access_log=False,
        lifespan="off",
        ws_max_size=MAX_FRAME_BYTES,
        # A long-poll still open at the end of a test must not hold the shutdown for long.
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    async def run() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            await signaling.close()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(run())
        finally:
            # Engine.IO's ping timers and the like outlive the server: end them, as asyncio.run
            # would, so no task is destroyed while pending.
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=main)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(f"https://localhost:{port}", cert, services, signaling, loop)
    finally:
        # Let connections the test's clients closed finish closing first: uvicorn's shutdown
        # raises on a WebSocket that is half-way through its closing handshake.
        deadline = time.monotonic() + 5
        while server.server_state.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

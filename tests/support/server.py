"""A real HTTPS Salon server in a thread (real uvicorn, real TLS), driven by a test's clock."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from salon.api.app import create_app
from salon.clock import SystemClock
from salon.services.container import Services
from salon.tls import ensure_self_signed


@dataclass
class RunningServer:
    base_url: str
    cert: Path
    services: Services

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
    config = uvicorn.Config(
        create_app(services),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(f"https://localhost:{port}", cert, services)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

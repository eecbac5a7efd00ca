"""``salon serve``: HTTPS only (an optional HTTP port only redirects), plus the room sweeper,
and, in the embedded modes, a supervised coturn and a supervised Janus for the server's life."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import ssl
import threading
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import uvicorn
from starlette.types import Receive, Scope, Send

from salon.api.app import create_asgi_app
from salon.janus.embedded import EmbeddedJanus
from salon.services.container import Services
from salon.services.sfu_nodes import SfuNodeSync
from salon.signaling.server import MAX_FRAME_BYTES, SignalingServer
from salon.tls import ensure_self_signed
from salon.turn.supervisor import EmbeddedCoturn

__all__ = ["serve"]

log = logging.getLogger("salon.server")


class RedirectToHttps:
    """The only thing Salon answers in plain HTTP: a permanent redirect to HTTPS."""

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        target = self.public_url + scope["path"]
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", target.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


class _NoClientAddresses(logging.Filter):
    """Drops uvicorn's WebSocket handshake lines, which name the client's address and port:
    Salon never stores IP addresses, and a log file is storage."""

    def filter(self, record: logging.LogRecord) -> bool:
        return '"WebSocket ' not in str(record.msg)


_HANDSHAKE_FILTER = _NoClientAddresses()


async def _sweep_forever(services: Services) -> None:
    interval = services.settings.sweep_interval_seconds
    while True:
        try:
            purged = await asyncio.to_thread(services.meetings.purge_expired)
            if purged:
                log.info("purged %d ended rooms", purged)
        except Exception:
            log.exception("room sweep failed; will retry")
        await asyncio.sleep(interval)


def _uvicorn_config(app: object, host: str, port: int, **tls: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        log_config=None,
        lifespan="off",
        # A long-poll still open when Salon stops must not hold the stop for long.
        timeout_graceful_shutdown=5,
        **tls,  # type: ignore[arg-type]
    )


class _SignalingAwareServer(uvicorn.Server):
    """Sends every signaling client away before uvicorn waits for open requests, so pending
    long-polls are answered at once and clients reconnect (and resume) promptly."""

    def __init__(self, config: uvicorn.Config, signaling: SignalingServer) -> None:
        super().__init__(config)
        self._signaling = signaling

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await self._signaling.disconnect_all()
        except Exception as exc:
            log.error("disconnecting signaling clients failed: %s", type(exc).__name__)
        await super().shutdown(sockets)


# Signaling churns through short-lived objects (a task per delivery, a packet, a timer per
# writer wake-up). With CPython's default thresholds (700, 10, 10) enough of them are still in
# flight at each young collection to be promoted, and the oldest generation, which holds every
# live connection, was collected in full two or three times a second under load, each pause
# 70-100 ms with 1,000 clients: that was the whole p99 of bench/signaling.py's fixed load. Young
# collections every 50,000 allocations let almost all of it die young instead (no full
# collection in a whole benchmark run; p99 ~220 ms -> ~46 ms, docs/benchmarks.md).
GC_THRESHOLDS = (50_000, 20, 20)


def _tune_gc() -> None:
    """Freezes what start-up made (it lives as long as the process, so full collections need
    not scan it) and sets the thresholds above."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _HeldSignals:
    """Notes SIGINT / SIGTERM while Salon starts or stops its child processes; raises them
    again once the block is done.

    uvicorn takes these signals while it serves, then restores the previous handlers and raises
    the signal again. Without a handler of Salon's underneath, that second SIGTERM would end the
    process before coturn and Janus are stopped (the kernel would still kill them, but not
    cleanly)."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: list[int] = []
        self._originals: dict[int, Any] = {}

    def _note(self, sig: int, _frame: FrameType | None) -> None:
        self.received.append(sig)

    def __enter__(self) -> _HeldSignals:
        if threading.current_thread() is threading.main_thread():
            self._originals = {sig: signal.signal(sig, self._note) for sig in self._SIGNALS}
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._originals.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(reversed(self.received)):
            signal.raise_signal(sig)


async def serve(services: Services) -> None:
    settings = services.settings.server
    logging.getLogger("uvicorn.error").addFilter(_HANDSHAKE_FILTER)
    if services.settings.uses_sqlite:
        # SQLite admits one writer at a time. One worker thread serves requests in arrival
        # order; forty threads would race for the write lock and SQLite's busy handler would
        # leave some of them sleeping (bench/api.py: p99 ~250 ms with 40, ~65 ms with 1).
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
    cert, key = settings.tls_cert, settings.tls_key
    if cert is None or key is None:
        hostname = urlsplit(settings.public_url).hostname or "localhost"
        cert, key = ensure_self_signed(services.settings.data_dir, [hostname], services.clock)
        log.info("using the self-signed certificate %s", cert)
    coturn: EmbeddedCoturn | None = None
    if services.settings.turn.embedded:
        assert services.turn_secret is not None
        coturn = EmbeddedCoturn(services.settings, services.turn_secret, cert=cert, key=key)
    janus: EmbeddedJanus | None = None
    if services.settings.janus.embedded:
        assert services.janus_credentials is not None
        janus = EmbeddedJanus(services.settings, services.janus_credentials, clock=services.clock)
    with _HeldSignals() as held:
        try:
            if coturn is not None:
                # Before Salon listens: a relay that cannot start stops start-up, saying why.
                await coturn.start()
                log.info("TURN relay (coturn) running")
            if janus is not None and not held.received:
                # Likewise the SFU: a Janus that cannot start stops start-up.
                await janus.start()
                assert services.sfu is not None
                services.sfu.add_node(janus.node)
                log.info("SFU (Janus) running")
            sfu_nodes: SfuNodeSync | None = None
            if services.sfu is not None and not held.received:
                await services.sfu.start(wait=5.0)
                # The operator's drains (`salon sfu drain`) apply before any room is placed.
                sfu_nodes = SfuNodeSync(services.sfu_nodes, services.sfu)
                await sfu_nodes.sync()
            if not held.received:
                await _serve_https(services, cert, key, sfu_nodes)
        finally:
            if services.sfu is not None:
                await services.sfu.close()
            if janus is not None:
                await janus.stop()
            if coturn is not None:
                await coturn.stop()


async def _serve_https(
    services: Services, cert: Path, key: Path, sfu_nodes: SfuNodeSync | None = None
) -> None:
    settings = services.settings.server
    signaling = SignalingServer(services)
    config = _uvicorn_config(
        create_asgi_app(services, signaling),
        settings.host,
        settings.port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_ciphers="ECDHE+AESGCM:ECDHE+CHACHA20",
        ws_max_size=MAX_FRAME_BYTES,
    )
    config.load()
    assert config.ssl is not None
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    servers: list[uvicorn.Server] = [_SignalingAwareServer(config, signaling)]
    if settings.http_redirect_port is not None:
        redirect = _uvicorn_config(
            RedirectToHttps(settings.public_url), settings.host, settings.http_redirect_port
        )
        servers.append(uvicorn.Server(redirect))
    log.info("Salon listening on %s", settings.public_url)
    _tune_gc()
    sweeper = asyncio.create_task(_sweep_forever(services))
    ticker = asyncio.create_task(signaling.run_ticker())
    background = [sweeper, ticker]
    if sfu_nodes is not None:
        background.append(asyncio.create_task(sfu_nodes.run()))
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        # A signal reaches only one of the servers; when any stops, stop them all.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks)
    finally:
        for task in background:
            task.cancel()
        await signaling.close()

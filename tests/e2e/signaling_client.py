"""A bare Socket.IO client speaking docs/signaling.md, to take a seat in a room without a browser.

It runs its own asyncio loop in a thread, because Playwright's sync API owns the test's thread.
It never answers ``signal`` events, so browsers see a participant that sends no media.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import socketio

T = TypeVar("T")


class SignalingClient:
    """``with SignalingClient(url, cert) as client: client.call("join", {...})``"""

    def __init__(self, base_url: str, cert: Path) -> None:
        self._base_url = base_url
        self._cert = cert
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._sio: socketio.AsyncClient | None = None
        self._thread = threading.Thread(target=self._thread_main, daemon=True)
        self.events: list[tuple[str, Any]] = []

    def __enter__(self) -> SignalingClient:
        self._thread.start()
        self._ready.result(timeout=30)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Sends ``event`` and returns the server's acknowledgement."""
        assert self._sio is not None and self._loop is not None
        answer: dict[str, Any] = self._run(lambda sio: sio.call(event, payload, timeout=20))
        return answer

    def _run(self, make: Callable[[socketio.AsyncClient], Coroutine[Any, Any, T]]) -> T:
        assert self._sio is not None and self._loop is not None
        return asyncio.run_coroutine_threadsafe(make(self._sio), self._loop).result(timeout=30)

    def _thread_main(self) -> None:
        # asyncio.run: on the way out, every task is cancelled and awaited and the loop closed,
        # so no socket outlives the client.
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        context = ssl.create_default_context(cafile=str(self._cert))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            sio = socketio.AsyncClient(reconnection=False, http_session=session)

            @sio.on("*")
            async def record(event: str, data: Any = None) -> None:
                self.events.append((event, data))

            await sio.connect(self._base_url, auth={"v": 1}, wait_timeout=10)
            self._sio = sio
            self._ready.set_result(None)
            try:
                await self._stop.wait()
            finally:
                await sio.disconnect()

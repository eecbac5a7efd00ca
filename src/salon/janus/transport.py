"""One WebSocket connection to a Janus node and the one Janus session Salon keeps on it.

The transport frames requests (transaction id, session id, API secret on every one), matches
replies to them by transaction, keeps the session alive, and hands each unsolicited event to
the callback of the handle it is for. It knows Janus's envelope, not its plugin: messages are
built and read by ``salon.janus.translate``.

Replies: a request resolves with the first message carrying its transaction that is not an
``ack`` (asynchronous plugin requests are acked first and answered by an ``event`` later),
except ``keepalive`` and ``trickle``, which only ever get the ack, and a request sent with
``ack_is_final`` (one whose answer Janus may hold back: it resolves with the ack, or with the
event should that come first, and an event that comes after it goes to its handle's callback
like any other). A reply that reports an error raises the matching ``SfuError``; no reply
within the timeout raises ``SfuUnavailable``.

Losing the connection: pending requests fail with ``SfuUnavailable``. If the node keeps
sessions for a while (Janus's ``reclaim_session_timeout``), the transport reconnects and
``claim``s its session within that window, and handles and rooms carry on; otherwise, or when
the claim fails, or Janus times the session out, the session is lost for good and ``on_lost``
is called once.

Nothing here logs message contents: SDP and candidates carry people's IP addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from salon.config import Secret
from salon.errors import SfuError, SfuUnavailable
from salon.janus import translate
from salon.janus.translate import JanusMessage, ServerInfo

__all__ = ["SUBPROTOCOL", "EventCallback", "JanusTransport", "Tap", "probe"]

logger = logging.getLogger("salon.janus")

SUBPROTOCOL: Final = Subprotocol("janus-protocol")
EventCallback = Callable[[JanusMessage], None]
# Sees every frame as sent or received ("send" / "recv", text): the transcript recorder uses it.
Tap = Callable[[str, str], None]

_SESSIONLESS = frozenset({"create", "info", "ping"})
_ACK_IS_FINAL = frozenset({"keepalive", "trickle"})
_MAX_FRAME = 4 * 1024 * 1024


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[JanusMessage]
    ack_is_final: bool


async def _open(url: str, timeout: float) -> ClientConnection:
    try:
        return await websockets.connect(
            url,
            subprotocols=[SUBPROTOCOL],
            open_timeout=timeout,
            compression=None,
            max_size=_MAX_FRAME,
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise SfuUnavailable(detail=f"cannot connect to {url}: {exc!r}") from None


async def probe(url: str, api_secret: Secret, *, timeout: float = 2.0) -> ServerInfo:
    """Who the node at ``url`` is, once it accepts a session with ``api_secret``.

    ``info`` alone proves little (Janus answers it without the secret), so the probe also
    opens and destroys a session. ``SfuUnavailable`` if the node cannot do both.
    """

    async def ask(ws: ClientConnection, message: JanusMessage) -> JanusMessage:
        transaction = secrets.token_hex(8)
        framed = replace(message, transaction=transaction, apisecret=api_secret.reveal())
        await ws.send(translate.to_json(framed))
        while True:
            reply = translate.parse_message(await ws.recv())
            if reply.transaction == transaction:
                return translate.check(reply)

    try:
        async with asyncio.timeout(timeout):
            ws = await _open(url, timeout)
            try:
                info = translate.server_info_of(await ask(ws, translate.info()))
                session_id = translate.session_id_of(await ask(ws, translate.create_session()))
                await ask(ws, replace(translate.destroy_session(), session_id=session_id))
                return info
            finally:
                await ws.close()
    except ConnectionClosed as exc:
        raise SfuUnavailable(detail=f"{url} closed: {exc!r}") from None
    except TimeoutError:
        raise SfuUnavailable(detail=f"{url} did not answer in {timeout} s") from None


class JanusTransport:
    """A Janus session over one WebSocket: ``await JanusTransport.open(...)``, or make one and
    ``await transport.connect()`` (after setting ``on_lost``, for instance)."""

    def __init__(
        self,
        url: str,
        api_secret: Secret,
        *,
        request_timeout: float = 10.0,
        keepalive_interval: float = 25.0,
        reclaim_timeout: float = 0.0,
        on_lost: Callable[[], None] | None = None,
        tap: Tap | None = None,
    ) -> None:
        self.url = url
        self._secret = api_secret
        self._request_timeout = request_timeout
        self._keepalive_interval = keepalive_interval
        self._reclaim_timeout = reclaim_timeout
        self.on_lost = on_lost
        self._tap = tap
        self._ws: ClientConnection | None = None
        self._session_id: int | None = None
        self._pending: dict[str, _Pending] = {}
        self._handlers: dict[int, EventCallback] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = asyncio.Event()
        self._closing = False
        self._lost = False

    @classmethod
    async def open(
        cls,
        url: str,
        api_secret: Secret,
        *,
        request_timeout: float = 10.0,
        keepalive_interval: float = 25.0,
        reclaim_timeout: float = 0.0,
        on_lost: Callable[[], None] | None = None,
        tap: Tap | None = None,
    ) -> JanusTransport:
        """Connects, creates the session and starts reading and keeping it alive."""
        transport = cls(
            url,
            api_secret,
            request_timeout=request_timeout,
            keepalive_interval=keepalive_interval,
            reclaim_timeout=reclaim_timeout,
            on_lost=on_lost,
            tap=tap,
        )
        await transport.connect()
        return transport

    async def connect(self) -> None:
        """Connects, creates the session and starts reading and keeping it alive."""
        if self._ws is not None or self._closing:
            raise RuntimeError("a JanusTransport connects once")
        self._ws = await _open(self.url, self._request_timeout)
        self._connected.set()
        self._tasks.append(asyncio.create_task(self._read(), name="janus-read"))
        try:
            reply = await self.request(translate.create_session())
            self._session_id = translate.session_id_of(reply)
        except BaseException:
            await self.close()
            raise
        self._tasks.append(asyncio.create_task(self._keepalive(), name="janus-keepalive"))

    @property
    def session_id(self) -> int:
        if self._session_id is None:
            raise SfuUnavailable(detail="no session yet")
        return self._session_id

    @property
    def lost(self) -> bool:
        """The session is gone for good (or the transport was closed)."""
        return self._lost or self._closing

    # --- requests -------------------------------------------------------------------------

    def _frame(self, message: JanusMessage, transaction: str) -> JanusMessage:
        session_id = message.session_id
        if session_id is None and message.janus not in _SESSIONLESS:
            session_id = self.session_id
        return replace(
            message,
            transaction=transaction,
            session_id=session_id,
            apisecret=self._secret.reveal(),
        )

    async def _send(self, ws: ClientConnection, message: JanusMessage) -> None:
        text = translate.to_json(message)
        if self._tap is not None:
            self._tap("send", text)
        await ws.send(text)

    async def request(
        self, message: JanusMessage, *, timeout: float | None = None, ack_is_final: bool = False
    ) -> JanusMessage:
        """Janus's final reply to ``message``, checked: an error reply raises its ``SfuError``.

        ``ack_is_final``: the ``ack`` is reply enough (see the module's docstring).
        """
        if self.lost:
            raise SfuUnavailable(detail="the Janus session is closed")
        timeout = self._request_timeout if timeout is None else timeout
        transaction = secrets.token_hex(12)
        future: asyncio.Future[JanusMessage] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = _Pending(
            future, ack_is_final or message.janus in _ACK_IS_FINAL
        )
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
                ws = self._ws
                if ws is None or self.lost:
                    raise SfuUnavailable(detail="the Janus session is closed")
                try:
                    await self._send(ws, self._frame(message, transaction))
                except ConnectionClosed as exc:
                    raise SfuUnavailable(detail=f"connection closed: {exc!r}") from None
                reply = await future
        except TimeoutError:
            raise SfuUnavailable(detail=f"no reply to {message.janus} in {timeout} s") from None
        finally:
            self._pending.pop(transaction, None)
            # A failure set while the request was still waiting to send (the session was lost
            # meanwhile) is reported by the request itself: mark it retrieved, or asyncio logs
            # "Future exception was never retrieved".
            if future.done() and not future.cancelled():
                future.exception()
        return translate.check(reply)

    async def attach(self, on_event: EventCallback) -> int:
        """A new VideoRoom handle whose events go to ``on_event``."""
        handle_id = translate.handle_id_of(await self.request(translate.attach()))
        self._handlers[handle_id] = on_event
        return handle_id

    async def detach(self, handle_id: int) -> None:
        """Detaches the handle (its peer connection closes); a handle already gone is fine."""
        self._handlers.pop(handle_id, None)
        with contextlib.suppress(SfuError):
            await self.request(translate.detach(handle_id))

    # --- reading --------------------------------------------------------------------------

    def _dispatch(self, text: str | bytes) -> None:
        if self._tap is not None:
            self._tap("recv", text if isinstance(text, str) else text.decode())
        try:
            message = translate.parse_message(text)
        except SfuError as exc:
            logger.warning("ignoring a frame from Janus: %s", exc.detail)
            return
        pending = self._pending.get(message.transaction or "")
        if pending is not None and not pending.future.done():
            if message.janus == "ack" and not pending.ack_is_final:
                return
            pending.future.set_result(message)
            return
        # Anything after a request's reply (its ack when that was final, say) is the handle's,
        # whether or not the request has stopped waiting yet.
        if translate.is_session_timeout(message):
            logger.warning("Janus timed out session %s", message.session_id)
            self._lose()
            return
        if message.sender is None:
            return
        if message.janus == "detached":
            self._handlers.pop(message.sender, None)
        handler = self._handlers.get(message.sender)
        if handler is None:
            return
        try:
            handler(message)
        except Exception:
            logger.exception("a Janus event handler failed (%s)", message.janus)

    async def _read(self) -> None:
        while True:
            ws = self._ws
            if ws is None:
                return
            try:
                async for text in ws:
                    self._dispatch(text)
                    if self._lost:
                        break
            except ConnectionClosed:
                pass
            if self._closing or self._lost:
                await ws.close()
                return
            self._connected.clear()
            self._fail_pending(SfuUnavailable(detail="connection to Janus closed"))
            if not await self._reclaim():
                self._lose()
                return

    async def _reclaim(self) -> bool:
        """Reconnects and claims the session within the node's reclaim window."""
        if self._reclaim_timeout <= 0 or self._session_id is None:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reclaim_timeout
        delay = 0.05
        while not self._closing and loop.time() < deadline:
            try:
                ws = await _open(self.url, max(0.1, min(2.0, deadline - loop.time())))
            except SfuUnavailable:
                await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
                delay = min(delay * 2, 1.0)
                continue
            try:
                transaction = secrets.token_hex(12)
                claim = self._frame(translate.claim_session(self._session_id), transaction)
                async with asyncio.timeout(max(0.1, deadline - loop.time())):
                    await self._send(ws, claim)
                    while True:
                        text = await ws.recv()
                        reply = translate.parse_message(text)
                        if reply.transaction == transaction:
                            break
                        self._dispatch(text)
                translate.check(reply)
            except (SfuError, ConnectionClosed, TimeoutError) as exc:
                logger.warning("could not reclaim the Janus session: %r", exc)
                await ws.close()
                return False
            logger.info("reclaimed Janus session %s", self._session_id)
            self._ws = ws
            self._connected.set()
            return True
        return False

    def _fail_pending(self, error: SfuError) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)

    def _lose(self) -> None:
        if self._lost or self._closing:
            return
        self._lost = True
        self._connected.set()  # wake waiting requests so they fail at once
        self._fail_pending(SfuUnavailable(detail="the Janus session was lost"))
        self._handlers.clear()
        # Only the reader loses a session; it closes the socket itself on its way out.
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if self.on_lost is not None:
            self.on_lost()

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_interval)
            try:
                await self.request(translate.keepalive(), timeout=self._keepalive_interval)
            except SfuUnavailable as exc:
                if self.lost:
                    return
                logger.warning("Janus keepalive failed: %s", exc.detail)
                ws = self._ws
                if ws is not None and self._connected.is_set():
                    await ws.close()  # the reader reconnects or gives the session up

    # --- closing --------------------------------------------------------------------------

    async def close(self) -> None:
        """Destroys the session (best effort) and closes the connection."""
        if self._closing:
            return
        if self._session_id is not None and not self._lost:
            with contextlib.suppress(SfuError):
                await self.request(translate.destroy_session(), timeout=2.0)
        self._closing = True
        self._connected.set()
        self._fail_pending(SfuUnavailable(detail="the Janus transport was closed"))
        self._handlers.clear()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if self._ws is not None:
            await self._ws.close()
        for task in self._tasks:
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks.clear()

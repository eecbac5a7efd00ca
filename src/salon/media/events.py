"""Fan-out of SFU events: each listener gets every event from the moment it started listening."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from salon.media.sfu import NodeLost, SfuEvent

__all__ = ["EventHub", "SfuEventStream"]

_END = object()


class SfuEventStream(AsyncIterator[SfuEvent]):
    """One listener's events, in order. It ends after ``NodeLost`` or when the hub closes.

    Listening starts when the stream is made, not at the first ``await``, so nothing that
    happens in between is missed. ``close()`` (or leaving ``async with``) stops listening.
    """

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._done = False

    def _put(self, item: object) -> None:
        self._queue.put_nowait(item)

    def __aiter__(self) -> SfuEventStream:
        return self

    async def __anext__(self) -> SfuEvent:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self.close()
            raise StopAsyncIteration
        event: SfuEvent = item  # type: ignore[assignment]
        if isinstance(event, NodeLost):
            self.close()
        return event

    async def next(self, timeout: float) -> SfuEvent:
        """The next event, or ``TimeoutError`` after ``timeout`` seconds."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def close(self) -> None:
        self._done = True
        self._hub._listeners.discard(self)

    async def __aenter__(self) -> SfuEventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventHub:
    """Where a backend puts its events; ``listen()`` makes a stream that receives them."""

    def __init__(self) -> None:
        self._listeners: set[SfuEventStream] = set()
        self._closed = False

    def listen(self) -> SfuEventStream:
        stream = SfuEventStream(self)
        if self._closed:
            stream._put(_END)
        else:
            self._listeners.add(stream)
        return stream

    def emit(self, event: SfuEvent) -> None:
        for listener in list(self._listeners):
            listener._put(event)

    def close(self) -> None:
        """Ends every stream after the events already emitted."""
        self._closed = True
        for listener in list(self._listeners):
            listener._put(_END)
        self._listeners.clear()

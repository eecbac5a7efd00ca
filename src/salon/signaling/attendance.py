"""Session records written in the order the room engine produced them, off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import anyio.to_thread

__all__ = ["AttendanceRecorder"]

log = logging.getLogger("salon.signaling")


class AttendanceRecorder:
    """A FIFO of small database writes, run one at a time on a worker thread.

    One queue keeps a session's start before its participants and their leaving before its end,
    across rooms and events, without making any room wait for the disk.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Callable[[], None]] | None = None
        self._task: asyncio.Task[None] | None = None

    def record(self, write: Callable[[], None]) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue))
        self._queue.put_nowait(write)

    async def flush(self) -> None:
        """Returns once every write recorded so far is done."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @staticmethod
    async def _run(queue: asyncio.Queue[Callable[[], None]]) -> None:
        while True:
            write = await queue.get()
            try:
                await anyio.to_thread.run_sync(write)
            except Exception as exc:
                # The exception text could carry SQL parameters; its type is enough to act on.
                log.error("recording a session failed: %s", type(exc).__name__)
            finally:
                queue.task_done()

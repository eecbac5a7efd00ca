"""Child processes Salon starts and keeps running (coturn; Janus next).

A ``Supervisor`` spawns one program, waits until it is ready (a check the caller gives: a real
protocol exchange, not a sleep), restarts it with a capped exponential backoff when it dies, and
stops it with SIGTERM, then SIGKILL. Its output goes to Salon's log at debug level, line by line,
with every string the caller marks secret replaced. The last lines are kept, so a program that
will not start is reported with what it said.

A child runs in a session of its own (a terminal's Ctrl-C reaches Salon, which stops it in order)
and, on Linux, is killed by the kernel if Salon dies without stopping it, so no orphan keeps
its ports. Start supervisors from the event loop's thread: that is the thread the kernel
watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from salon.clock import Clock, SystemClock
from salon.errors import ConfigError

__all__ = ["Supervisor"]

log = logging.getLogger("salon.supervision")

_REDACTED = "**********"
_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGKILL the child when its parent thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook


_DIE_WITH_PARENT = _die_with_parent_hook()


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Runs one child process: start when ready, restart on crash, stop cleanly.

    ``ready`` is polled every ``ready_interval`` seconds until it returns true, for at most
    ``ready_timeout`` seconds; without it, the child counts as started once spawned. After an
    unexpected exit the child is restarted after ``backoff_initial`` seconds, doubling per
    consecutive failure up to ``backoff_max``; a run of ``stable_after`` seconds resets the
    count. After ``max_failures`` consecutive failures (``None``: never) it gives up.
    ``sleep`` waits out the backoff; tests pass one that does not really wait.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready: Callable[[], Awaitable[bool]] | None = None,
        ready_timeout: float = 10.0,
        ready_interval: float = 0.05,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        stable_after: float = 60.0,
        max_failures: int | None = None,
        stop_timeout: float = 5.0,
        secrets: Sequence[str] = (),
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not argv:
            raise ValueError("argv must name the program to run")
        self.name = name
        self._argv = list(argv)
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._ready = ready
        self._ready_timeout = timedelta(seconds=ready_timeout)
        self._ready_interval = ready_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stable_after = timedelta(seconds=stable_after)
        self._max_failures = max_failures
        self._stop_timeout = stop_timeout
        self._secrets = tuple(s for s in secrets if s)
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._log = log.getChild(name)
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._started_at = self._clock.now()
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._restarts = 0
        self._gave_up = False

    # state ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the child is alive (it may be between a crash and its restart otherwise)."""
        return self._process is not None and self._process.returncode is None

    @property
    def restarts(self) -> int:
        """How many times the child was started again after it died."""
        return self._restarts

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    @property
    def gave_up(self) -> bool:
        return self._gave_up

    # lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawns the child and returns once it is ready; raises ``ConfigError`` if it is not,
        naming the program and quoting the last lines it wrote."""
        if self._watcher is not None:
            raise RuntimeError(f"{self.name} is already supervised")
        self._stopping = False
        await self._spawn_until_ready()
        self._watcher = asyncio.create_task(self._watch(), name=f"supervise {self.name}")

    async def stop(self, timeout: float | None = None) -> None:
        """Stops the child: SIGTERM, then SIGKILL after ``timeout`` seconds; reaps it."""
        self._stopping = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        process = self._process
        if process is not None and process.returncode is None:
            code = await self._terminate(
                process, self._stop_timeout if timeout is None else timeout
            )
            self._log.info("%s stopped (%s)", self.name, _exit_description(code))
        elif process is not None:
            await process.wait()  # reaped already, or now
        await self._drain()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # internals --------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    async def _spawn(self) -> asyncio.subprocess.Process:
        self._tail.clear()
        self._started_at = self._clock.now()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
                # Runs in the child between fork and exec: one foreign call, no locks taken.
                preexec_fn=_DIE_WITH_PARENT,
            )
        except OSError as exc:
            raise ConfigError(
                f"{self.name} could not be started: {self._argv[0]}: "
                f"{exc.strerror or type(exc).__name__}."
            ) from None
        self._process = process
        assert process.stdout is not None
        assert process.stderr is not None
        self._readers = [
            asyncio.create_task(self._pump(process.stdout, "stdout")),
            asyncio.create_task(self._pump(process.stderr, "stderr")),
        ]
        return process

    async def _pump(self, stream: asyncio.StreamReader, label: str) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the stream's limit: take what is there
                raw = await stream.read(65536)
            if not raw:
                return
            line = self._redact(raw.decode("utf-8", "replace").rstrip())
            if line:
                self._tail.append(line)
                self._log.debug("%s: %s", label, line)

    async def _drain(self) -> None:
        readers, self._readers = self._readers, []
        for reader in readers:
            with contextlib.suppress(Exception):
                await reader

    def _failure(self, what: str) -> ConfigError:
        said = "\n".join(f"    {line}" for line in self._tail) or "    (nothing)"
        return ConfigError(f"{self.name} ({self._argv[0]}) {what}. Its last output:\n{said}")

    async def _spawn_until_ready(self) -> None:
        process = await self._spawn()
        try:
            await self._wait_ready(process)
        except BaseException:
            await self._terminate(process, self._stop_timeout)
            await self._drain()
            raise
        self._log.info("%s is running (pid %d)", self.name, process.pid)

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        if self._ready is None:
            return
        deadline = self._clock.now() + self._ready_timeout
        while True:
            if process.returncode is not None:
                await self._drain()
                raise self._failure(f"exited ({_exit_description(process.returncode)})")
            remaining = (deadline - self._clock.now()).total_seconds()
            if remaining <= 0:
                raise self._failure(
                    f"did not become ready within {self._ready_timeout.total_seconds():g} s"
                )
            try:
                async with asyncio.timeout(max(remaining, self._ready_interval)):
                    if await self._ready():
                        return
            except (TimeoutError, OSError):
                pass  # not ready yet
            await asyncio.sleep(self._ready_interval)

    async def _terminate(self, process: asyncio.subprocess.Process, timeout: float) -> int:
        """Ends and reaps ``process``; its exit code (negative: the signal that ended it)."""
        if process.returncode is None:
            self._signal(process, signal.SIGTERM)
            try:
                return await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                self._log.warning(
                    "%s did not stop within %g s of SIGTERM; killing it", self.name, timeout
                )
                self._signal(process, signal.SIGKILL)
        return await process.wait()

    @staticmethod
    def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
        # The child leads its own process group: signal the group, so nothing it forked lingers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)

    async def _watch(self) -> None:
        failures = 0
        while True:
            process = self._process
            assert process is not None
            code = await process.wait()
            await self._drain()
            if self._stopping:
                return
            ran = self._clock.now() - self._started_at
            failures = 1 if ran >= self._stable_after else failures + 1
            if self._max_failures is not None and failures > self._max_failures:
                self._log.error(
                    "%s exited (%s) %d times in a row; giving up",
                    self.name,
                    _exit_description(code),
                    failures,
                )
                self._gave_up = True
                return
            delay = min(self._backoff_max, self._backoff_initial * 2 ** (failures - 1))
            self._log.warning(
                "%s exited unexpectedly (%s) after %.1f s; restarting in %.1f s",
                self.name,
                _exit_description(code),
                ran.total_seconds(),
                delay,
            )
            await self._sleep(delay)
            if self._stopping:
                return
            self._restarts += 1
            try:
                await self._spawn_until_ready()
            except ConfigError:
                # The reason (with the child's output) is in the debug log; the loop backs off.
                self._log.warning("%s did not come back (restart %d)", self.name, self._restarts)

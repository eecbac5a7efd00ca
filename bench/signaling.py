"""Salon's signaling, measured against a bare python-socketio broadcast server on the same machine.

Run from the repository root::

    .venv/bin/python bench/signaling.py            # print the tables (about 5 minutes)
    .venv/bin/python bench/signaling.py --record   # also write them into docs/benchmarks.md

The two servers, each a subprocess on 127.0.0.1 behind the same uvicorn settings and the same
self-signed certificate (TLS >= 1.2, the same ciphers, the same Engine.IO ping interval and
timeout, handlers run one at a time per connection):

(a) Salon: the real ``salon serve`` (Socket.IO mounted next to the REST API). Meetings are
    created with ``POST /v1/meetings``; clients join them as visitors with the ``join`` event
    of docs/signaling.md, so every ``chat`` runs through Salon's rate limit, schema, room
    lock and room engine before it is relayed in memory to the room.
(b) Bare: a python-socketio ``AsyncServer`` on uvloop (the event loop ``salon serve`` uses)
    that checks the ``{"v": 1}`` auth, puts a ``join`` into the Socket.IO room of that name,
    and on ``chat`` emits the same payload Salon sends (messageId, from, displayName, text,
    sentAt) to the sender's room, skipping the sender, and acknowledges.

The clients are bench/eio_client.py, a minimal Engine.IO v4 / Socket.IO v4 client over one
WebSocket per connection, spread over WORKERS load-generator processes (uvloop). The tables
say how much CPU the generators and the server used, so a generator-bound figure shows.

1. **Fan-out at 1,000 clients.** The headline shape is 5 *group* rooms of 200 (a group room's
   limit of people), so each ``chat`` is delivered to 199 others: that is the shape in which
   Salon relays chat (normal rooms of 4 send chat peer to peer over a data channel), and the
   one where delivery cost dominates. A second shape, 250 *normal* rooms of 4 (3 deliveries a
   message), shows the per-message cost of Salon's event pipeline. For each shape:

   - *peak*: closed loop; each room keeps 1, 4, then 8 messages in flight (a message is
     done when every other member has it; then the next member of that room sends), one round
     each. A server's peak is its best round: python-socketio sends several queued messages
     per wake-up of a connection's writer, so deeper queues can raise throughput. Reported:
     deliveries per second (the throughput goal compares the two peaks, >= 0.7x bare).
   - *fixed load*: open loop, the same offered rate on both servers, STEADY_FRACTION of the
     lower of the two peaks (so neither is overloaded), spread evenly over rooms and senders.
     Reported: p50/p99 send-to-receive latency (the latency goal, p99 < 50 ms).

   The sender stamps a monotonic clock into the messageId; receivers (in the same process)
   subtract it on arrival. Rounds alternate between the servers. The warm-up second of each
   round is not counted; latencies are of messages sent in the measured seconds. The CPU
   columns say how much of the machine the server, the load generators and everything else
   used in those seconds (the machine may be shared; the report says when it was busy).
2. **Idle connections.** A fresh server, a few warm-up connections, then IDLE_CONNECTIONS
   connections that each join one of IDLE_CONNECTIONS / 4 *normal* rooms of 4 (the common
   room, and a full one; a group room would spend the setup on an O(n^2) storm of
   ``participant_joined`` and welcome lists). They stay idle for HOLD_S seconds, longer than
   the Engine.IO ping interval, so each one must answer pings. Reported: connections held,
   the server's RSS (VmRSS of /proc/<pid>/status) before and after, the difference per
   connection (goal >= 10,000 held at <= 100 KB each), and the CPU the keepalives cost. The
   servers and the generators raise RLIMIT_NOFILE for this.

``--record`` rewrites the ``## bench/signaling.py`` section of docs/benchmarks.md and keeps a
``### Where the time and memory go`` subsection at its end if there is one (a one-off analysis
written by hand).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import resource
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from common import (
    DOCS,
    client_tls,
    free_port,
    record_section,
    salon_cli,
    server_process,
    wait_healthy,
)

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
TLS_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"  # what `salon serve` uses

WORKERS = 2  # load-generator processes
CONNECT_PARALLEL = 24  # connection attempts in flight per worker
START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 60.0
NOFILE = 65536  # RLIMIT_NOFILE wanted for the servers and the workers

# fan-out
GROUP_ROOMS, GROUP_SIZE = 5, 200
NORMAL_ROOMS, NORMAL_SIZE = 250, 4
WINDOWS = (1, 4, 8)  # messages in flight per room, one peak round each
ROUNDS = 2  # fixed-load rounds per server and shape; the servers alternate
WARM_S, MEASURE_S, DRAIN_S = 1.0, 3.0, 6.0
STEADY_FRACTION = 0.5
CHAT_TEXT = "Shall we move the review to Thursday? I have a clash at ten, any time after works."

# idle
IDLE_CONNECTIONS = 10_000
IDLE_WARM_CONNECTIONS = 40
HOLD_S = 12.0
QUIET_TIMEOUT_S = 30.0

# Other work on the machine (it may be shared) skews every figure: wait for it, a little.
QUIET_OTHER_CORES = 0.25
QUIET_MACHINE_WAIT_S = 10.0

RATE_LIMIT_POINTS = "10000000"  # the REST API's limit; meeting creation must never be throttled

# -- small helpers ----------------------------------------------------------------------------


def raise_nofile(want: int = NOFILE) -> int:
    """Raises RLIMIT_NOFILE as far as allowed (root may raise the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in ((want, max(hard, want)), (min(want, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            return limit[0]
        except (ValueError, OSError):
            continue
    return soft


def quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds all processors spent busy since boot (not idle, not waiting for I/O)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


@dataclass(frozen=True)
class CpuSample:
    wall: float
    server: float
    generators: float
    other: float

    @classmethod
    def take(cls, server_pid: int, generator_pids: Sequence[int]) -> CpuSample:
        wall, busy = time.monotonic(), machine_busy_seconds()
        server = cpu_seconds(server_pid)
        generators = sum(cpu_seconds(pid) for pid in generator_pids)
        return cls(wall, server, generators, busy - server - generators)


def wait_machine_quiet(own_pids: Sequence[int], timeout: float = QUIET_MACHINE_WAIT_S) -> float:
    """Waits (bounded) until other processes use less than QUIET_OTHER_CORES; returns the
    cores they used in the last second sampled."""
    deadline = time.monotonic() + timeout
    while True:
        own, busy, wall = sum(map(cpu_seconds, own_pids)), machine_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        own = sum(map(cpu_seconds, own_pids)) - own
        other = (machine_busy_seconds() - busy - own) / (time.monotonic() - wall)
        if other < QUIET_OTHER_CORES or time.monotonic() >= deadline:
            if other >= QUIET_OTHER_CORES:
                log(f"  other processes still use {other:.2f} cores; measuring anyway")
            return other
        log(f"  other processes use {other:.2f} cores; waiting for a quieter machine ...")


def wait_quiet(pid: int, timeout: float = QUIET_TIMEOUT_S) -> None:
    """Waits until the server has finished what the last step gave it: its CPU use falls
    below 3 % of a core, or levels off (idle connections keep it busy with pings)."""
    deadline = time.monotonic() + timeout
    last, rate = cpu_seconds(pid), math.inf
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        previous, rate = rate, (now - last) / 0.5
        last = now
        if rate < 0.03 or (rate < 0.8 and abs(rate - previous) < 0.05):
            return


# -- the bare baseline server (its own process: `signaling.py serve-bare ...`) ---------------


def salon_transport_settings() -> list[str]:
    """Salon's Engine.IO settings, handed to the bare server (which must not import Salon)."""
    from salon.signaling.server import (
        MAX_FRAME_BYTES,
        PING_INTERVAL_SECONDS,
        PING_TIMEOUT_SECONDS,
    )

    return [str(v) for v in (MAX_FRAME_BYTES, PING_INTERVAL_SECONDS, PING_TIMEOUT_SECONDS)]


def serve_bare(
    port: int, cert: Path, key: Path, max_frame: int, ping_interval: int, ping_timeout: int
) -> None:
    """A bare python-socketio broadcast server with Salon's transport settings."""
    import socketio  # type: ignore[import-untyped]
    import uvicorn
    import uvloop

    sio = socketio.AsyncServer(
        async_mode="asgi",
        transports=["polling", "websocket"],
        max_http_buffer_size=max_frame,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )
    members: dict[str, tuple[str, str]] = {}  # sid -> (room, display name)

    @sio.on("connect")
    async def connect(sid: str, _environ: Any, auth: Any) -> None:
        if not isinstance(auth, dict) or auth.get("v") != 1:
            raise socketio.exceptions.ConnectionRefusedError("unsupported_version")

    @sio.on("disconnect")
    async def disconnect(sid: str, _reason: Any = None) -> None:
        members.pop(sid, None)

    @sio.on("join")
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, data["roomName"])
        members[sid] = (data["roomName"], data["displayName"])
        return {"ok": True}

    @sio.on("chat")
    async def chat(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        room, name = members[sid]
        sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        message = {
            "messageId": data["messageId"],
            "from": sid,
            "displayName": name,
            "text": data["text"],
            "sentAt": sent_at,
        }
        await sio.emit("chat", message, room=room, skip_sid=sid)
        return {"ok": True}

    async def healthz(scope: Any, receive: Any, send: Any) -> None:
        status = 200 if scope["type"] == "http" and scope["path"] == "/healthz" else 404
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(
        socketio.ASGIApp(sio, other_asgi_app=healthz, socketio_path="socket.io"),
        host=HOST,
        port=port,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        log_config=None,
        lifespan="off",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_ciphers=TLS_CIPHERS,
        ws_max_size=max_frame,
    )
    config.load()
    assert config.ssl is not None
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    uvloop.run(uvicorn.Server(config).serve())  # the event loop `salon serve` runs on


# -- server processes -------------------------------------------------------------------------


def salon_env() -> dict[str, str]:
    """The environment without the caller's SALON_* settings, and a limit no setup can reach."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    env["SALON_RATE_LIMIT_POINTS"] = RATE_LIMIT_POINTS
    env["SALON_TURN_MODE"] = "off"  # no coturn: not what is measured here
    return env


@dataclass
class Server:
    label: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid


class Servers:
    """Starts Salon (which makes the certificate) and the bare server on demand."""

    def __init__(self, work: Path, stack: contextlib.ExitStack) -> None:
        self.work, self.stack = work, stack
        self.data_dir = work / "salon-data"
        self.cert, self.key = self.data_dir / "tls-cert.pem", self.data_dir / "tls-key.pem"
        self.starts = 0

    def start(self, label: str) -> Server:
        self.starts += 1
        port, log = free_port(), self.work / f"{label}-{self.starts}.log"
        salon_args = [
            "--data-dir",
            str(self.data_dir),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
        ]
        if label == "salon":
            cmd = [str(Path(sys.executable).with_name("salon")), *salon_args]
        else:
            script = str(Path(__file__).resolve())
            cmd = [sys.executable, script, "serve-bare", str(port), str(self.cert), str(self.key)]
            cmd += salon_transport_settings()
        proc = self.stack.enter_context(
            server_process(cmd, log, salon_env(), preexec_fn=raise_nofile)
        )
        wait_healthy(proc, port, self.cert, log)
        return Server(label, port, proc)

    @staticmethod
    def stop(server: Server, timeout: float = 15.0) -> None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


# -- meetings through Salon's REST API --------------------------------------------------------

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


async def _create_meetings(port: int, cert: Path, api_key: str, modes: list[str]) -> list[str]:
    end = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    names: list[str | None] = [None] * len(modes)
    todo = iter(range(len(modes)))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(HOST, port, ssl=client_tls(cert))
        try:
            for i in todo:
                body = json.dumps({"endDate": end, "roomMode": modes[i]}).encode()
                writer.write(
                    f"POST /v1/meetings HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                    f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = _CONTENT_LENGTH.search(head)
                answer = await reader.readexactly(int(length.group(1))) if length else b""
                if head[9:12] != b"201":
                    raise RuntimeError(f"POST /v1/meetings: {head[:100]!r} {answer[:300]!r}")
                names[i] = json.loads(answer)["roomName"]
        finally:
            writer.close()

    async with asyncio.timeout(120):
        await asyncio.gather(*(client() for _ in range(8)))
    return [name for name in names if name is not None]


# -- the load generator (WORKERS processes) ---------------------------------------------------


@dataclass
class RoomClients:
    name: str
    clients: list[Any]  # EioClient


@dataclass
class RoomRun:
    """One room's part of a fan-out round, inside a worker."""

    room: RoomClients
    closed_loop: bool
    measure_from: int  # ns, monotonic: messages sent from here are measured ...
    measure_to: int  # ... up to here; deliveries arriving in between count for throughput
    latencies: array.array[int] = field(default_factory=lambda: array.array("q"))
    outstanding: dict[int, int] = field(default_factory=dict)
    sending: bool = True
    seq: int = 0
    next_sender: int = 0
    sent: int = 0
    sent_measured: int = 0
    delivered_in_window: int = 0
    delivered_measured: int = 0
    acks_ok: int = 0
    ack_errors: int = 0
    first_error: str = ""

    def send(self) -> None:
        clients = self.room.clients
        sender = clients[self.next_sender % len(clients)]
        self.next_sender += 1
        self.seq += 1
        now = time.monotonic_ns()
        body = b'["chat",{"messageId":"%d-%d","text":"%b"}]' % (self.seq, now, _TEXT)
        self.outstanding[self.seq] = len(clients) - 1
        self.sent += 1
        if self.measure_from <= now < self.measure_to:
            self.sent_measured += 1
        sender.emit_raw(body, self.on_ack)

    def on_ack(self, raw: bytes) -> None:
        if raw.startswith(b'[{"ok":true'):
            self.acks_ok += 1
        else:
            self.ack_errors += 1
            self.first_error = self.first_error or raw[:200].decode(errors="replace")

    def on_event(self, _client: Any, p: bytes) -> None:
        if not p.startswith(b'42["chat",'):
            return
        now = time.monotonic_ns()
        i = p.find(b'"messageId":"', 10) + 13
        seq, _, sent = p[i : p.find(b'"', i)].partition(b"-")
        sent_ns = int(sent)
        if self.measure_from <= now < self.measure_to:
            self.delivered_in_window += 1
        if self.measure_from <= sent_ns < self.measure_to:
            self.latencies.append(now - sent_ns)
            self.delivered_measured += 1
        key = int(seq)
        left = self.outstanding.get(key)
        if left is None:
            return
        if left > 1:
            self.outstanding[key] = left - 1
            return
        del self.outstanding[key]
        if self.closed_loop and self.sending:
            self.send()


_TEXT = CHAT_TEXT.encode()


class Worker:
    """One load-generator process: its connections to both servers and the rounds it drives."""

    def __init__(self, index: int, cert: str) -> None:
        self.index = index
        self.tls = client_tls(Path(cert))
        self.sets: dict[str, list[RoomClients]] = {}

    async def connect(
        self, label: str, port: int, rooms: list[str], per_room: int, strict: bool
    ) -> dict[str, Any]:
        from eio_client import open_client

        gate = asyncio.Semaphore(CONNECT_PARALLEL)
        cpu, wall = time.process_time(), time.monotonic()

        async def one(room: str, i: int) -> Any:
            async with gate:
                client = await open_client(HOST, port, self.tls, timeout=CALL_TIMEOUT_S)
                ack = await client.call(
                    "join",
                    {"roomName": room, "displayName": f"Bench {i}", "audio": False, "video": False},
                    timeout=CALL_TIMEOUT_S,
                )
                if not ack.get("ok"):
                    client.close()
                    raise RuntimeError(f"join refused: {ack}")
                return client

        results = await asyncio.gather(
            *(one(room, i) for i in range(per_room) for room in rooms), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and strict:
            raise RuntimeError(f"{len(errors)} connections failed; first: {errors[0]!r}")
        by_room: dict[str, list[Any]] = {room: [] for room in rooms}
        for k, result in enumerate(results):
            if not isinstance(result, BaseException):
                by_room[rooms[k % len(rooms)]].append(result)
        self.sets.setdefault(label, []).extend(RoomClients(n, c) for n, c in by_room.items())
        return {
            "ok": len(results) - len(errors),
            "failed": len(errors),
            "first_error": repr(errors[0])[:300] if errors else "",
            "seconds": time.monotonic() - wall,
            "cpu": time.process_time() - cpu,
        }

    async def fanout(
        self, label: str, closed_loop: bool, start: float, window: int, rate_per_room: float
    ) -> dict[str, Any]:
        """One round: sends from ``start`` (monotonic seconds) for WARM_S + MEASURE_S, then
        waits up to DRAIN_S for what is still on its way."""
        rooms = self.sets[label]
        t0 = int(start * 1e9)
        m_from, m_to = t0 + int(WARM_S * 1e9), t0 + int((WARM_S + MEASURE_S) * 1e9)
        runs = [RoomRun(room, closed_loop, m_from, m_to) for room in rooms]
        for run in runs:
            for client in run.room.clients:
                client.on_event = run.on_event
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        if closed_loop:
            for run in runs:
                for _ in range(window):
                    run.send()
            await asyncio.sleep(max(0.0, m_to / 1e9 - time.monotonic()))
        else:
            await self._open_loop(runs, start, m_to / 1e9, rate_per_room)
        for run in runs:
            run.sending = False
        deadline = time.monotonic() + DRAIN_S
        while any(run.outstanding for run in runs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for run in runs:
            for client in run.room.clients:
                client.on_event = None
        latencies = array.array("q")
        for run in runs:
            latencies.extend(run.latencies)
        expected = sum(run.sent_measured * (len(run.room.clients) - 1) for run in runs)
        return {
            "latencies": latencies.tobytes(),
            "delivered_in_window": sum(run.delivered_in_window for run in runs),
            "delivered_measured": sum(run.delivered_measured for run in runs),
            "expected_measured": expected,
            "sent": sum(run.sent for run in runs),
            "messages_in_window": sum(run.sent_measured for run in runs),
            "acks_ok": sum(run.acks_ok for run in runs),
            "ack_errors": sum(run.ack_errors for run in runs),
            "first_error": next((run.first_error for run in runs if run.first_error), ""),
            "lost_connections": sum(c.lost for run in runs for c in run.room.clients),
        }

    async def _open_loop(
        self, runs: list[RoomRun], start: float, stop: float, rate_per_room: float
    ) -> None:
        """Sends at a fixed rate, round-robin over rooms, staggered between workers."""
        rate = rate_per_room * len(runs)
        offset = self.index / (WORKERS * rate)
        k = 0
        while True:
            now = time.monotonic()
            if now >= stop:
                return
            due = int((now - start - offset) * rate) + 1
            while k < due:
                runs[k % len(runs)].send()
                k += 1
            await asyncio.sleep(max(0.0, start + offset + k / rate - time.monotonic()))

    async def status(self, label: str) -> dict[str, Any]:
        clients = [c for room in self.sets.get(label, []) for c in room.clients]
        return {
            "connections": len(clients),
            "alive": sum(not c.lost and not c.server_closed for c in clients),
            "pinged": sum(c.pings > 0 for c in clients),
        }

    async def close(self, label: str) -> dict[str, Any]:
        rooms = self.sets.pop(label, [])
        for room in rooms:
            for client in room.clients:
                client.close()
        await asyncio.sleep(0.5)
        return {}


def worker_main(pipe: multiprocessing.connection.Connection, index: int, cert: str) -> None:
    import uvloop

    raise_nofile()
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    async def serve() -> None:
        worker = Worker(index, cert)
        loop = asyncio.get_running_loop()
        while True:
            command, kwargs = await loop.run_in_executor(None, pipe.recv)
            if command == "exit":
                return
            try:
                pipe.send(("ok", await getattr(worker, command)(**kwargs)))
            except Exception:
                pipe.send(("error", traceback.format_exc()))

    uvloop.run(serve())


class Generators:
    """The worker processes, driven in lockstep."""

    def __init__(self, cert: Path) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        for i in range(WORKERS):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(theirs, i, str(cert)), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs if proc.pid is not None]

    def call(self, command: str, kwargs: list[dict[str, Any]], timeout: float) -> list[Any]:
        self.send(command, kwargs)
        return self.collect(command, timeout)

    def send(self, command: str, kwargs: list[dict[str, Any]]) -> None:
        for pipe, kw in zip(self.pipes, kwargs, strict=True):
            pipe.send((command, kw))

    def collect(self, command: str, timeout: float) -> list[Any]:
        results = []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"load generator did not finish {command} in {timeout:.0f} s")
            status, value = pipe.recv()
            if status != "ok":
                raise RuntimeError(f"load generator failed in {command}:\n{value}")
            results.append(value)
        return results

    def all(self, command: str, timeout: float, **kwargs: Any) -> list[Any]:
        return self.call(command, [kwargs] * WORKERS, timeout)

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("exit", {}))
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


# -- fan-out ----------------------------------------------------------------------------------


@dataclass
class FanoutSeries:
    """The rounds of one server, shape and phase, added up."""

    latencies: list[float] = field(default_factory=list)  # seconds
    delivered: int = 0  # deliveries that arrived in the measured windows
    seconds: float = 0.0  # measured windows
    messages: int = 0  # messages sent in the measured windows
    expected: int = 0  # deliveries those messages owe
    late_or_lost: int = 0  # of those, not delivered by the end of the drain
    ack_errors: int = 0
    first_error: str = ""
    server_cpu: float = 0.0  # CPU seconds of the server in the measured windows
    generator_cpu: float = 0.0  # CPU seconds of all load generators in the measured windows
    other_cpu: float = 0.0  # CPU seconds of every other process on the machine, same windows
    wall: float = 0.0  # seconds the CPU samples span
    lost_connections: int = 0

    def cores(self, cpu: float) -> float:
        return cpu / self.wall if self.wall else math.nan

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else math.nan

    def q(self, p: float) -> float:
        return quantile(self.latencies, p)


def fanout_round(
    gens: Generators,
    server: Server,
    into: FanoutSeries,
    *,
    closed_loop: bool,
    window: int,
    rate_per_room: float,
) -> None:
    start = time.monotonic() + 0.3
    kwargs = {
        "label": server.label,
        "closed_loop": closed_loop,
        "start": start,
        "window": window,
        "rate_per_room": rate_per_room,
    }
    gens.send("fanout", [kwargs] * WORKERS)
    # CPU of the server, the generators and everything else over the measured window.
    time.sleep(max(0.0, start + WARM_S - time.monotonic()))
    before = CpuSample.take(server.pid, gens.pids)
    time.sleep(max(0.0, start + WARM_S + MEASURE_S - time.monotonic()))
    after = CpuSample.take(server.pid, gens.pids)
    results = gens.collect("fanout", timeout=DRAIN_S + 30)
    into.server_cpu += after.server - before.server
    into.generator_cpu += after.generators - before.generators
    into.other_cpu += after.other - before.other
    into.wall += after.wall - before.wall
    for r in results:
        lat = array.array("q")
        lat.frombytes(r["latencies"])
        into.latencies.extend(v / 1e9 for v in lat)
        into.delivered += r["delivered_in_window"]
        into.messages += r["messages_in_window"]
        into.expected += r["expected_measured"]
        into.late_or_lost += r["expected_measured"] - r["delivered_measured"]
        into.ack_errors += r["ack_errors"]
        into.first_error = into.first_error or r["first_error"]
        into.lost_connections = max(into.lost_connections, r["lost_connections"])
    into.seconds += MEASURE_S
    wait_quiet(server.pid, timeout=10)


@dataclass
class ShapeResult:
    shape: str
    rooms: int
    size: int
    connect: dict[str, dict[str, float]]
    sweep: dict[str, dict[int, FanoutSeries]]  # server -> messages in flight per room -> round
    steady: dict[str, FanoutSeries]
    steady_rate: float  # deliveries per second offered in the fixed-load rounds

    def peak(self, label: str) -> tuple[int, FanoutSeries]:
        """The window at which ``label`` delivered most, and that round."""
        return max(self.sweep[label].items(), key=lambda item: item[1].per_second)


def split(items: Sequence[str], parts: int) -> list[list[str]]:
    return [list(items[i::parts]) for i in range(parts)]


def bench_shape(
    gens: Generators,
    servers: dict[str, Server],
    shape: str,
    room_names: dict[str, list[str]],
    size: int,
) -> ShapeResult:
    connect: dict[str, dict[str, float]] = {}
    for label, server in servers.items():
        parts = split(room_names[label], WORKERS)
        started = time.monotonic()
        results = gens.call(
            "connect",
            [
                {
                    "label": label,
                    "port": server.port,
                    "rooms": part,
                    "per_room": size,
                    "strict": True,
                }
                for part in parts
            ],
            timeout=300,
        )
        wait_quiet(server.pid)
        connect[label] = {
            "clients": sum(r["ok"] for r in results),
            "seconds": time.monotonic() - started,
        }
    rooms = len(room_names["bare"])
    wait_machine_quiet([server.pid for server in servers.values()] + gens.pids)
    sweep: dict[str, dict[int, FanoutSeries]] = {label: {} for label in servers}
    steady = {label: FanoutSeries() for label in servers}
    for window in WINDOWS:
        for label, server in servers.items():
            series = sweep[label][window] = FanoutSeries()
            fanout_round(gens, server, series, closed_loop=True, window=window, rate_per_room=0)
            series.latencies.sort()
    peaks = [max(s.per_second for s in by_window.values()) for by_window in sweep.values()]
    steady_rate = STEADY_FRACTION * min(peaks)
    rate_per_room = steady_rate / (size - 1) / rooms
    for _ in range(ROUNDS):
        for label, server in servers.items():
            fanout_round(
                gens,
                server,
                steady[label],
                closed_loop=False,
                window=0,
                rate_per_room=rate_per_room,
            )
    for label in servers:
        steady[label].latencies.sort()
    gens.all("close", timeout=60, label="salon")
    gens.all("close", timeout=60, label="bare")
    return ShapeResult(shape, rooms, size, connect, sweep, steady, steady_rate)


# -- idle connections -------------------------------------------------------------------------


@dataclass
class IdleResult:
    label: str
    target: int
    held: int
    pinged: int
    failed: int
    first_error: str
    connect_seconds: float
    rss_before_kib: int
    rss_after_kib: int
    server_cpu_connect: float
    server_cores_holding: float  # CPU the idle connections cost (pings)
    available_kib: int  # MemAvailable while they were held
    other_cores: float  # what other processes used while connecting and holding

    @property
    def per_connection_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(1, self.held)


def bench_idle(
    gens: Generators, servers: Servers, label: str, room_names: list[str], count: int
) -> IdleResult:
    """A fresh server, warm-up connections, then ``count`` idle joined ones."""
    server = servers.start(label)
    try:
        warm_rooms = room_names[: IDLE_WARM_CONNECTIONS // NORMAL_SIZE]
        rooms = room_names[len(warm_rooms) : len(warm_rooms) + count // NORMAL_SIZE]
        gens.call(
            "connect",
            [
                {
                    "label": "warm",
                    "port": server.port,
                    "rooms": part,
                    "per_room": NORMAL_SIZE,
                    "strict": True,
                }
                for part in split(warm_rooms, WORKERS)
            ],
            timeout=120,
        )
        wait_quiet(server.pid)
        wait_machine_quiet([server.pid, *gens.pids], timeout=5)
        before = rss_kib(server.pid)
        first = CpuSample.take(server.pid, gens.pids)
        cpu, started = cpu_seconds(server.pid), time.monotonic()
        results = gens.call(
            "connect",
            [
                {
                    "label": "idle",
                    "port": server.port,
                    "rooms": part,
                    "per_room": NORMAL_SIZE,
                    "strict": False,
                }
                for part in split(rooms, WORKERS)
            ],
            timeout=600,
        )
        connect_seconds = time.monotonic() - started
        wait_quiet(server.pid, timeout=20)
        server_cpu = cpu_seconds(server.pid) - cpu
        cpu, held_from = cpu_seconds(server.pid), time.monotonic()
        time.sleep(HOLD_S)
        hold_cores = (cpu_seconds(server.pid) - cpu) / (time.monotonic() - held_from)
        last = CpuSample.take(server.pid, gens.pids)
        after = rss_kib(server.pid)
        status = gens.all("status", timeout=60, label="idle")
        gens.all("close", timeout=120, label="idle")
        gens.all("close", timeout=60, label="warm")
        return IdleResult(
            label=label,
            target=len(rooms) * NORMAL_SIZE,
            held=sum(s["alive"] for s in status),
            pinged=sum(s["pinged"] for s in status),
            failed=sum(r["failed"] for r in results),
            first_error=next((r["first_error"] for r in results if r["first_error"]), ""),
            connect_seconds=connect_seconds,
            rss_before_kib=before,
            rss_after_kib=after,
            server_cpu_connect=server_cpu,
            server_cores_holding=hold_cores,
            available_kib=available_kib(),
            other_cores=(last.other - first.other) / (last.wall - first.wall),
        )
    finally:
        servers.stop(server, timeout=3)  # what is measured is measured; no need to wait


# -- report -----------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def machine_context() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB"
    return (
        f"Machine: nproc {os.cpu_count()}, {cpu}{mem}, Python {platform.python_version()}, "
        f"python-socketio {_version('python-socketio')}, "
        f"python-engineio {_version('python-engineio')}, uvicorn {_version('uvicorn')}, "
        f"websockets {_version('websockets')}, {platform.system()} {platform.release()}; "
        f"{WORKERS} load-generator processes (uvloop) on the same machine."
    )


LABELS = {
    "bare": "bare python-socketio",
    "salon": "Salon",
}


def _cores(s: FanoutSeries) -> str:
    # (Clock-tick rounding can make a near-zero "other" come out slightly negative.)
    cores = (s.cores(s.server_cpu), s.cores(s.generator_cpu), max(0.0, s.cores(s.other_cpu)))
    return " / ".join(f"{c:.2f}" for c in cores)


def shape_tables(r: ShapeResult) -> str:
    what = "group" if r.shape == "group" else "normal"
    head = (
        f"### Fan-out, {r.rooms} {what} rooms of {r.size} "
        f"({r.rooms * r.size:,} clients, {r.size - 1} deliveries a message)"
    )

    def peak_row(label: str) -> str:
        window, s = r.peak(label)
        sweep = " | ".join(f"{r.sweep[label][w].per_second:,.0f}" for w in WINDOWS)
        return (
            f"| {LABELS[label]} | {sweep} | **{s.per_second:,.0f}** ({window}) | "
            f"{s.messages / s.seconds:,.0f} | {1000 * s.q(0.5):.0f} | {1000 * s.q(0.99):.0f} | "
            f"{_cores(s)} |"
        )

    def steady_row(label: str) -> str:
        s = r.steady[label]
        lost = f"{s.late_or_lost}" + (f" ({s.ack_errors} refused)" if s.ack_errors else "")
        return (
            f"| {LABELS[label]} | {s.expected:,} | {s.per_second:,.0f} | {1000 * s.q(0.5):.1f} | "
            f"{1000 * s.q(0.99):.1f} | {1000 * s.q(1.0):.1f} | {lost} | {_cores(s)} |"
        )

    (_, pb), (_, ps) = r.peak("bare"), r.peak("salon")
    sb, ss = r.steady["bare"], r.steady["salon"]
    connect = ", ".join(
        f"{LABELS[label]} {c['clients']:,.0f} clients connected and joined in {c['seconds']:.1f} s"
        for label, c in r.connect.items()
    )
    by_window = " | ".join(
        _ratio(r.sweep["salon"][w].per_second, r.sweep["bare"][w].per_second) for w in WINDOWS
    )
    lines = [
        head,
        "",
        f"Setup: {connect}.",
        "",
        "Peak: closed loop, deliveries per second with "
        f"{', '.join(map(str, WINDOWS[:-1]))} and {WINDOWS[-1]} messages in flight per "
        f"room ({MEASURE_S:.0f} s each); latency and CPU are those of each server's best round.",
        "",
        "| server | " + " | ".join(f"{w} in flight" for w in WINDOWS) + " | best (in flight) "
        "| messages/s | p50 ms | p99 ms | CPU cores: server / generators / other |",
        "|---|" + "---:|" * (len(WINDOWS) + 5),
        peak_row("bare"),
        peak_row("salon"),
        f"| ratio Salon / bare | {by_window} | **{_ratio(ps.per_second, pb.per_second)}** | | "
        f"{_ratio(ps.q(0.5), pb.q(0.5))} | {_ratio(ps.q(0.99), pb.q(0.99))} | |",
        "",
        f"Fixed load: open loop, {r.steady_rate:,.0f} deliveries/s offered "
        f"({r.steady_rate / (r.size - 1):,.0f} messages/s, {STEADY_FRACTION:.0%} of the lower of "
        f"the two peaks), {ROUNDS} x {MEASURE_S:.0f} s per server:",
        "",
        "| server | deliveries owed | delivered/s | p50 ms | p99 ms | max ms | late or lost "
        "| CPU cores: server / generators / other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        steady_row("bare"),
        steady_row("salon"),
        f"| ratio Salon / bare | | {_ratio(ss.per_second, sb.per_second)} | "
        f"{_ratio(ss.q(0.5), sb.q(0.5))} | {_ratio(ss.q(0.99), sb.q(0.99))} | | | |",
    ]
    return "\n".join(lines)


def shape_goals(r: ShapeResult) -> str:
    ratio = r.peak("salon")[1].per_second / r.peak("bare")[1].per_second
    p99 = r.steady["salon"].q(0.99)
    series = [*(s for by in r.sweep.values() for s in by.values()), *r.steady.values()]
    salon = [*r.sweep["salon"].values(), r.steady["salon"]]
    errors = sum(s.ack_errors for s in salon)
    lines = [
        f"- peak throughput ratio {ratio:.2f}x (goal >= 0.7x): {_verdict(ratio >= 0.7)}",
        f"- Salon p99 at the fixed load {1000 * p99:.1f} ms (goal < 50 ms): "
        f"{_verdict(p99 < 0.050)}",
    ]
    if errors:
        first = next(s.first_error for s in salon if s.first_error)
        lines.append(f"- Salon refused {errors} chat messages; first: {first}")
    dropped = max(s.lost_connections for s in series)
    if dropped:
        lines.append(f"- **{dropped} client connections were dropped** during the rounds")
    other = sum(s.other_cpu for s in series) / sum(s.wall for s in series)
    if other > QUIET_OTHER_CORES:
        lines.append(
            f"- **The machine was busy**: other processes used {other:.2f} of its "
            f"{os.cpu_count()} cores on average in the measured windows, so both servers "
            "had less CPU than they could use; compare ratios, not absolute figures."
        )
    return "\n".join(lines)


def idle_table(bare: IdleResult, salon: IdleResult) -> str:
    def row(r: IdleResult) -> str:
        return (
            f"| {LABELS[r.label]} | {r.held:,} / {r.target:,} | {r.pinged:,} | "
            f"{r.connect_seconds:.1f} | {r.server_cpu_connect:.1f} | "
            f"{r.server_cores_holding:.2f} | "
            f"{r.rss_before_kib / 1024:.0f} | {r.rss_after_kib / 1024:.0f} | "
            f"{r.per_connection_kib:.1f} |"
        )

    ratio = _ratio(salon.per_connection_kib, bare.per_connection_kib)
    ping_interval = salon_transport_settings()[1]
    ceiling = salon.held + salon.available_kib / salon.per_connection_kib
    lines = [
        f"### Idle connections, joined in normal rooms of {NORMAL_SIZE}, held {HOLD_S:.0f} s",
        "",
        "| server | held / opened | answered a ping | connect+join s | server CPU s "
        "| server cores while idle | RSS before MiB | RSS after MiB | KiB per connection |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        row(bare),
        row(salon),
        f"| ratio Salon / bare | {_ratio(salon.held, bare.held)} | | "
        f"{_ratio(salon.connect_seconds, bare.connect_seconds)} | "
        f"{_ratio(salon.server_cpu_connect, bare.server_cpu_connect)} | "
        f"{_ratio(salon.server_cores_holding, bare.server_cores_holding)} | | | {ratio} |",
    ]
    lines += [
        "",
        f"- Salon held {salon.held:,} idle joined connections (goal >= 10,000): "
        f"{_verdict(salon.held >= 10_000)}; the run stops there. The ceiling is CPU, not "
        f"memory: keeping them alive (Engine.IO pings every {ping_interval} s, uvicorn's "
        f"WebSocket pings every 20 s) took {salon.server_cores_holding:.2f} of a core, so "
        f"keepalives alone would fill the one core a Salon process can use at about "
        f"{salon.held / salon.server_cores_holding:,.0f} connections; memory would allow "
        f"about {ceiling:,.0f} (MemAvailable / KiB per connection).",
        f"- Salon memory {salon.per_connection_kib:.1f} KiB per connection (goal <= 100 KB "
        f"= 97.7 KiB): {_verdict(salon.per_connection_kib * 1024 <= 100_000)}",
    ]
    busy = [r for r in (bare, salon) if r.other_cores > QUIET_OTHER_CORES]
    if busy:
        lines.append(
            "- **The machine was busy** during the idle test of "
            + " and ".join(f"{LABELS[r.label]} ({r.other_cores:.2f} cores)" for r in busy)
            + ", which slows connecting and joining; memory per connection does not depend "
            "on it."
        )
    for r in (bare, salon):
        if r.failed:
            lines.append(f"- {LABELS[r.label]}: {r.failed} connections failed: {r.first_error}")
    return "\n".join(lines)


ANALYSIS = "### Where the time and memory go"


def record(report: str) -> None:
    record_section(
        "signaling.py",
        report,
        reproduce="`.venv/bin/python bench/signaling.py --record` from the repository root",
        keep=ANALYSIS,
    )


# -- main -------------------------------------------------------------------------------------


_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def run(work: Path, shapes: Sequence[str], idle: bool) -> str:
    raise_nofile()
    with contextlib.ExitStack() as stack:
        servers = Servers(work, stack)
        salon_cli(servers.data_dir, salon_env(), "org", "create", "bench")
        api_key = salon_cli(servers.data_dir, salon_env(), "keys", "create", "--org", "bench")
        api_key = api_key.strip().splitlines()[-1]
        fan = {"salon": servers.start("salon")}
        fan["bare"] = servers.start("bare")
        fan = {"bare": fan["bare"], "salon": fan["salon"]}  # bare first in every round
        idle_rooms = (IDLE_WARM_CONNECTIONS + IDLE_CONNECTIONS) // NORMAL_SIZE
        modes = ["group"] * GROUP_ROOMS + ["normal"] * max(NORMAL_ROOMS, idle_rooms)
        log(f"creating {len(modes)} meetings ...")
        names = asyncio.run(_create_meetings(fan["salon"].port, servers.cert, api_key, modes))
        group_names, normal_names = names[:GROUP_ROOMS], names[GROUP_ROOMS:]
        gens = Generators(servers.cert)
        stack.callback(gens.close)
        sections = [machine_context()]
        shape_rooms = {
            "group": (group_names, GROUP_SIZE),
            "normal": (normal_names[:NORMAL_ROOMS], NORMAL_SIZE),
        }
        for shape in shapes:
            rooms, size = shape_rooms[shape]
            log(f"fan-out, {len(rooms)} {shape} rooms of {size} ...")
            # The bare server gets its own room names so nothing is shared between the two.
            result = bench_shape(
                gens, fan, shape, {"salon": rooms, "bare": [f"{n}-bare" for n in rooms]}, size
            )
            sections += [shape_tables(result), shape_goals(result)]
            log(sections[-2] + "\n" + sections[-1])
        for server in fan.values():
            servers.stop(server)
        if idle:
            results = {}
            for label, count in (("salon", IDLE_CONNECTIONS), ("bare", IDLE_CONNECTIONS)):
                log(f"idle connections, {label} ...")
                results[label] = r = bench_idle(gens, servers, label, normal_names, count)
                log(
                    f"  {r.held:,}/{r.target:,} held, {r.per_connection_kib:.1f} KiB each, "
                    f"connected in {r.connect_seconds:.0f} s"
                )
            sections.append(idle_table(results["bare"], results["salon"]))
            log(sections[-1])
    return "\n\n".join(sections)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="write into docs/benchmarks.md")
    parser.add_argument(
        "--only",
        choices=["group", "normal", "idle"],
        action="append",
        help="(for development) run only these parts; --record refuses a partial run",
    )
    sub = parser.add_subparsers(dest="mode")
    bare = sub.add_parser("serve-bare", help="(internal) serve the baseline")
    bare.add_argument("port", type=int)
    bare.add_argument("cert", type=Path)
    bare.add_argument("key", type=Path)
    bare.add_argument("max_frame", type=int)
    bare.add_argument("ping_interval", type=int)
    bare.add_argument("ping_timeout", type=int)
    args = parser.parse_args(argv)
    if args.mode == "serve-bare":
        serve_bare(
            args.port, args.cert, args.key, args.max_frame, args.ping_interval, args.ping_timeout
        )
        return 0
    if args.record and args.only:
        parser.error("--record needs the whole run")
    parts = args.only or ["group", "normal", "idle"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="salon-bench-") as tmp:
        try:
            report = run(Path(tmp), [p for p in ("group", "normal") if p in parts], "idle" in parts)
        except BaseException:
            for server_log in sorted(Path(tmp).glob("*.log")):
                log(f"--- {server_log.name}, last lines:\n{server_log.read_text()[-2000:]}")
            raise
    print(report)
    log(f"\n(took {time.monotonic() - started:.0f} s)")
    if args.record:
        record(report)
        log(f"recorded in {DOCS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

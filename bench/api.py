"""Salon's API overhead, measured against a bare FastAPI + SQLAlchemy app on the same machine.

Run from the repository root (``make bench`` does this)::

    .venv/bin/python bench/api.py            # print the tables
    .venv/bin/python bench/api.py --record   # also write them into docs/benchmarks.md

Two things are measured in one run, so every ratio compares figures taken minutes apart on the
same machine:

1. ``POST /v1/meetings`` at 32 concurrent keep-alive HTTPS clients (and, to show the service
   time without queueing, at 1 client), against
   (a) Salon's real server (``salon serve``: auth, rate limit, envelope encryption, room keys,
   security headers, access log), and
   (b) a bare baseline: a minimal FastAPI app with one sync route that validates the same body
   with a tiny pydantic model and inserts one row into SQLite (WAL, synchronous=NORMAL) with
   SQLAlchemy 2. It is served by uvicorn with the same certificate, ciphers and settings.
   Both servers run as subprocesses; this process is the load generator, a bare asyncio
   HTTP/1.1 client light enough to leave the servers most of the CPU (the table says how
   much it used). Rounds alternate between the servers so drift of the machine hits both alike.
2. The ORM cost of a ``Meeting`` insert with its three option columns sealed (AES-256-GCM
   through ``OrgCipher.seal``) against the same insert with those columns empty, in-process,
   one transaction per insert, each into a fresh SQLite database.

How to read the tables: every row gives absolute figures; the "ratio" row divides Salon (or
the encrypted insert) by the baseline of the same run. The goals are a ratio of at most 2x and,
for the API, a Salon p99 under 50 ms. The load is closed-loop (each client sends its next
request when the previous answer arrives), so latency at 32 clients is mostly queueing:
the mean is close to 32 / (requests per second).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import sqlite3
import ssl
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import DateTime, String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

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

ROUNDS = 5  # per server and load shape; the servers alternate
ROUND_TIMEOUT_S = 60.0
START_TIMEOUT_S = 30.0

ORM_INSERTS = 2000
ORM_WARMUP = 200
SEAL_CALLS = 20_000

# Salon's own cap on SALON_RATE_LIMIT_POINTS; the benchmark must never be throttled.
RATE_LIMIT_POINTS = "10000000"

RECORDING = {
    "type": "cloud",
    "destination": {
        "provider": "s3",
        "authenticationType": "accessKey",
        "bucket": "acme-meeting-recordings/2030/emea",
        "region": "eu-west-1",
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "accessKeySecret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "fileFormat": "mp4",
    },
    "startTrigger": "automatic-2nd-participant",
}
LIVE_TRANSCRIPTION = {
    "destination": {
        "provider": "s3",
        "authenticationType": "accessKey",
        "bucket": "acme-meeting-transcripts",
        "region": "eu-west-1",
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "accessKeySecret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    },
    "startTrigger": "automatic",
    "language": "en-GB",
    "liveCaptions": True,
}
STREAMING = {
    "destination": {"url": "rtmps://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop-qrst"},
    "startTrigger": "prompt",
}


@dataclass(frozen=True)
class Load:
    """A closed-loop load shape: each round opens fresh connections and warms them up."""

    clients: int
    warmup: int  # requests per client and round, not measured
    requests: int  # requests per client and round, measured


LOADED = Load(clients=32, warmup=10, requests=60)  # the goals apply here
UNLOADED = Load(clients=1, warmup=20, requests=60)  # service time without queueing


# -- statistics and tables --------------------------------------------------------------------


@dataclass
class Series:
    """What the rounds against one server under one load shape add up to."""

    latencies: list[float] = field(default_factory=list)
    measured_s: float = 0.0  # wall time of the measured phases
    round_s: float = 0.0  # wall time of whole rounds, warm-up included
    client_cpu_s: float = 0.0  # CPU time the load generator spent in those rounds

    def stats(self, label: str) -> Stats:
        return Stats(label, self.latencies, len(self.latencies) / self.measured_s)


@dataclass(frozen=True)
class Stats:
    """Latencies (seconds) of one series, and its throughput when it has one."""

    label: str
    samples: Sequence[float]
    per_second: float | None = None

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def machine_context() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"Machine: nproc {os.cpu_count()}, {cpu}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}."
    )


def api_table(load: Load, bare: Stats, salon: Stats) -> str:
    def row(s: Stats) -> str:
        ms = [f"{1000 * v:.1f}" for v in (s.quantile(0.5), s.quantile(0.99), s.mean)]
        return f"| {s.label} | {len(s.samples)} | {' | '.join(ms)} | {s.per_second:.0f} |"

    assert bare.per_second is not None
    assert salon.per_second is not None
    clients = f"{load.clients} concurrent keep-alive HTTPS client{'s' if load.clients > 1 else ''}"
    lines = [
        f"### POST /v1/meetings, {clients}",
        "",
        "| server | requests | p50 ms | p99 ms | mean ms | requests/s |",
        "|---|---:|---:|---:|---:|---:|",
        row(bare),
        row(salon),
        f"| ratio Salon / bare | | {_ratio(salon.quantile(0.5), bare.quantile(0.5))} "
        f"| {_ratio(salon.quantile(0.99), bare.quantile(0.99))} "
        f"| {_ratio(salon.mean, bare.mean)} | {_ratio(salon.per_second, bare.per_second)} |",
    ]
    return "\n".join(lines)


def api_goals(bare: Stats, salon: Stats, client_cpu: float) -> str:
    p50 = salon.quantile(0.5) / bare.quantile(0.5)
    p99 = salon.quantile(0.99) / bare.quantile(0.99)
    lines = [
        f"- p50 ratio {p50:.2f}x (goal <= 2x): {_verdict(p50 <= 2)}",
        f"- p99 ratio {p99:.2f}x (goal <= 2x): {_verdict(p99 <= 2)}",
        f"- Salon p99 {1000 * salon.quantile(0.99):.1f} ms (goal < 50 ms): "
        f"{_verdict(salon.quantile(0.99) < 0.050)}",
        f"- the load generator used {client_cpu:.2f} of a core on average; "
        "the servers had the rest",
    ]
    return "\n".join(lines)


def orm_table(plain: Stats, sealed: Stats, seal_call: float) -> str:
    def row(s: Stats) -> str:
        us = [f"{1e6 * v:.0f}" for v in (s.mean, s.quantile(0.5), s.quantile(0.99))]
        return f"| {s.label} | {len(s.samples)} | {' | '.join(us)} |"

    mean = sealed.mean / plain.mean
    lines = [
        "### Meeting insert (ORM, one transaction each, SQLite file)",
        "",
        "| variant | inserts | mean µs | p50 µs | p99 µs |",
        "|---|---:|---:|---:|---:|",
        row(plain),
        row(sealed),
        f"| ratio sealed / plain | | {mean:.2f}x "
        f"| {_ratio(sealed.quantile(0.5), plain.quantile(0.5))} "
        f"| {_ratio(sealed.quantile(0.99), plain.quantile(0.99))} |",
        "",
        f"- mean ratio {mean:.2f}x (goal <= 2x): {_verdict(mean <= 2)}",
        f"- one `OrgCipher.seal` of the {len(json.dumps(RECORDING))}-byte recording config: "
        f"{1e6 * seal_call:.1f} µs",
    ]
    return "\n".join(lines)


# -- the bare baseline server (runs in its own process: `api.py serve-bare ...`) --------------


class BareBase(DeclarativeBase):
    pass


class BareMeeting(BareBase):
    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room_name: Mapped[str] = mapped_column(String(80), unique=True)
    end_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BareBody(BaseModel):
    endDate: datetime
    fields: list[str] = []


def bare_app(database_url: str) -> FastAPI:
    """The baseline: FastAPI, a tiny pydantic body, one SQLAlchemy insert, sync route."""
    engine = create_engine(database_url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    BareBase.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/meetings", status_code=201)
    def create(body: BareBody) -> JSONResponse:
        row = BareMeeting(
            id=str(uuid.uuid4()),
            room_name=f"/{uuid.uuid4()}",
            end_date=body.endDate,
            created_at=datetime.now(UTC),
        )
        with sessions.begin() as session:
            session.add(row)
        out = {"meetingId": row.id, "roomName": row.room_name, "endDate": body.endDate.isoformat()}
        return JSONResponse(out, status_code=201)

    return app


def serve_bare(port: int, database: Path, cert: Path, key: Path) -> None:
    """Serves the baseline as ``salon serve`` serves Salon: same uvicorn settings and TLS."""
    config = uvicorn.Config(
        bare_app(f"sqlite:///{database}"),
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
    )
    config.load()
    assert config.ssl is not None
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    asyncio.run(uvicorn.Server(config).serve())


# -- server processes -------------------------------------------------------------------------


def salon_env() -> dict[str, str]:
    """The environment without the caller's SALON_* settings, and a limit no round can reach."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    env["SALON_RATE_LIMIT_POINTS"] = RATE_LIMIT_POINTS
    env["SALON_TURN_MODE"] = "off"  # no coturn: not what is measured here
    return env


# -- the load generator -----------------------------------------------------------------------


def create_request(port: int, api_key: str) -> bytes:
    end = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({"endDate": end, "fields": ["hostRoomUrl"]}).encode()
    head = (
        f"POST /v1/meetings HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


async def roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> None:
    """One request on a keep-alive connection; the answer must be 201 with a sized body."""
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    length = _CONTENT_LENGTH.search(head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    if head[9:12] != b"201" or length is None:
        raise RuntimeError(f"unexpected answer: {head[:200]!r} {body[:300]!r}")


async def one_client(
    load: Load,
    port: int,
    tls: ssl.SSLContext,
    req: bytes,
    barrier: asyncio.Barrier,
    out: list[float],
) -> tuple[float, float]:
    """Warms up, waits for every client, then times its requests; returns (start, end)."""
    reader, writer = await asyncio.open_connection(HOST, port, ssl=tls)
    try:
        for _ in range(load.warmup):
            await roundtrip(reader, writer, req)
        await barrier.wait()
        start = time.perf_counter()
        for _ in range(load.requests):
            sent = time.perf_counter()
            await roundtrip(reader, writer, req)
            out.append(time.perf_counter() - sent)
        return start, time.perf_counter()
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def load_round(load: Load, port: int, cert: Path, api_key: str, into: Series) -> None:
    """One round of closed-loop load against the server on ``port``, added to ``into``."""
    tls, req = client_tls(cert), create_request(port, api_key)
    barrier = asyncio.Barrier(load.clients)
    async with asyncio.timeout(ROUND_TIMEOUT_S), asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(one_client(load, port, tls, req, barrier, into.latencies))
            for _ in range(load.clients)
        ]
    spans = [task.result() for task in tasks]
    into.measured_s += max(end for _, end in spans) - min(start for start, _ in spans)


def run_round(load: Load, port: int, cert: Path, api_key: str, into: Series) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(load_round(load, port, cert, api_key, into))
    into.round_s += time.perf_counter() - wall
    into.client_cpu_s += time.process_time() - cpu


@dataclass(frozen=True)
class ApiResults:
    loaded: tuple[Stats, Stats]  # (bare, Salon)
    unloaded: tuple[Stats, Stats]
    client_cpu: float  # cores the load generator used under LOADED


def bench_api(work: Path) -> ApiResults:
    """Starts Salon and the baseline and loads them in alternating rounds."""
    data_dir = work / "salon-data"
    salon_cli(data_dir, salon_env(), "org", "create", "bench")
    api_key = (
        salon_cli(data_dir, salon_env(), "keys", "create", "--org", "bench")
        .strip()
        .splitlines()[-1]
    )
    cert, key = data_dir / "tls-cert.pem", data_dir / "tls-key.pem"
    salon_port, bare_port = free_port(), free_port()
    salon_cmd = [str(Path(sys.executable).with_name("salon")), "--data-dir", str(data_dir)]
    salon_cmd += ["serve", "--host", HOST, "--port", str(salon_port)]
    bare_cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "serve-bare",
        str(bare_port),
        str(work / "bare.db"),
    ]
    bare_cmd += [str(cert), str(key)]

    series = {(load, name): Series() for load in (LOADED, UNLOADED) for name in ("bare", "salon")}
    with contextlib.ExitStack() as stack:
        salon_log = work / "salon.log"
        salon = stack.enter_context(server_process(salon_cmd, salon_log, salon_env()))
        wait_healthy(salon, salon_port, cert, salon_log)  # Salon makes the certificate
        bare_log = work / "bare.log"
        bare = stack.enter_context(server_process(bare_cmd, bare_log, salon_env()))
        wait_healthy(bare, bare_port, cert, bare_log)
        for _ in range(ROUNDS):
            for load in (LOADED, UNLOADED):
                for name, port in (("bare", bare_port), ("salon", salon_port)):
                    run_round(load, port, cert, api_key, series[load, name])

    def pair(load: Load) -> tuple[Stats, Stats]:
        return (
            series[load, "bare"].stats("bare FastAPI + SQLAlchemy"),
            series[load, "salon"].stats("Salon"),
        )

    loaded = [series[LOADED, name] for name in ("bare", "salon")]
    client_cpu = sum(s.client_cpu_s for s in loaded) / sum(s.round_s for s in loaded)
    return ApiResults(pair(LOADED), pair(UNLOADED), client_cpu)


# -- the ORM insert cost ----------------------------------------------------------------------


def bench_orm(work: Path) -> tuple[Stats, Stats, float]:
    """Interleaves plain and sealed inserts into two fresh databases; returns their timings."""
    from salon.storage.db import Database
    from salon.storage.envelope import OrgCipher
    from salon.storage.models import Meeting, Organization

    org_id = str(uuid.uuid4())
    cipher = OrgCipher(org_id, os.urandom(32))
    options = {
        "meetings.recording": ("recording_enc", json.dumps(RECORDING).encode()),
        "meetings.live_transcription": (
            "live_transcription_enc",
            json.dumps(LIVE_TRANSCRIPTION).encode(),
        ),
        "meetings.streaming": ("streaming_enc", json.dumps(STREAMING).encode()),
    }

    def fresh_db(name: str) -> Database:
        db = Database(f"sqlite:///{work / name}")
        db.migrate()
        with db.transaction() as session:
            session.add(
                Organization(
                    id=org_id,
                    name="bench",
                    created_at=datetime.now(UTC),
                    wrapped_data_key=os.urandom(61),
                    master_key_id="0123456789abcdef",
                )
            )
        return db

    def insert(db: Database, sealed: bool) -> float:
        start = time.perf_counter()
        now = datetime.now(UTC)
        row = Meeting(
            id=str(uuid.uuid4()),
            org_id=org_id,
            room_name=f"/{uuid.uuid4()}",
            room_mode="normal",
            is_locked=False,
            template_type=None,
            start_date=now,
            end_date=now + timedelta(days=1),
            created_at=now,
        )
        if sealed:
            for column, (attr, plaintext) in options.items():
                setattr(row, attr, cipher.seal(column, plaintext))
        with db.transaction() as session:
            session.add(row)
        return time.perf_counter() - start

    plain_db, sealed_db = fresh_db("plain.db"), fresh_db("sealed.db")
    try:
        plain: list[float] = []
        sealed: list[float] = []
        for i in range(ORM_WARMUP + ORM_INSERTS):
            p, s = insert(plain_db, sealed=False), insert(sealed_db, sealed=True)
            if i >= ORM_WARMUP:
                plain.append(p)
                sealed.append(s)
    finally:
        plain_db.dispose()
        sealed_db.dispose()

    recording = options["meetings.recording"][1]
    start = time.perf_counter()
    for _ in range(SEAL_CALLS):
        cipher.seal("meetings.recording", recording)
    seal_call = (time.perf_counter() - start) / SEAL_CALLS
    return (
        Stats("plain (option columns empty)", plain),
        Stats("sealed (3 columns)", sealed),
        seal_call,
    )


# -- report -----------------------------------------------------------------------------------


def record(report: str) -> None:
    record_section(
        "api.py",
        report,
        reproduce="`make bench` (or `.venv/bin/python bench/api.py --record` from the "
        "repository root)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="write into docs/benchmarks.md")
    sub = parser.add_subparsers(dest="mode")
    bare = sub.add_parser("serve-bare", help="(internal) serve the baseline app")
    bare.add_argument("port", type=int)
    bare.add_argument("database", type=Path)
    bare.add_argument("cert", type=Path)
    bare.add_argument("key", type=Path)
    args = parser.parse_args(argv)
    if args.mode == "serve-bare":
        serve_bare(args.port, args.database, args.cert, args.key)
        return 0

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="salon-bench-") as tmp:
        print("measuring POST /v1/meetings ...", file=sys.stderr, flush=True)
        api = bench_api(Path(tmp))
        print("measuring ORM inserts ...", file=sys.stderr, flush=True)
        plain, sealed, seal_call = bench_orm(Path(tmp))
    report = "\n\n".join(
        [
            machine_context(),
            api_table(LOADED, *api.loaded),
            api_goals(*api.loaded, api.client_cpu),
            api_table(UNLOADED, *api.unloaded),
            orm_table(plain, sealed, seal_call),
        ]
    )
    print(report)
    print(f"\n(took {time.monotonic() - started:.0f} s)", file=sys.stderr)
    if args.record:
        record(report)
        print(f"recorded in {DOCS.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

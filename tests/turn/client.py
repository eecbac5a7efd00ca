"""A TURN client for tests: aioice's, over UDP, TCP or TLS, against a real coturn."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, cast

from aioice import stun
from aioice.turn import (
    TurnClientTcpProtocol,
    TurnClientUdpProtocol,
    TurnTransport,
    create_turn_endpoint,
)

from salon.turn.credentials import TurnCredential

Transport = Literal["udp", "tcp", "tls"]
Address = tuple[str, int]


@dataclass
class Allocation:
    protocol: TurnClientUdpProtocol | TurnClientTcpProtocol
    transport: asyncio.BaseTransport
    relayed: Address

    async def request(self, method: stun.Method, peer: Address) -> stun.Message:
        """One authenticated request naming ``peer`` (CreatePermission, ChannelBind…)."""
        message = stun.Message(message_method=method, message_class=stun.Class.REQUEST)
        message.attributes["XOR-PEER-ADDRESS"] = peer
        if method == stun.Method.CHANNEL_BIND:
            message.attributes["CHANNEL-NUMBER"] = 0x4000
        response, _ = await self.protocol.request_with_retry(message)
        return response


def _server(port: int) -> Address:
    return ("127.0.0.1", port)


@contextlib.asynccontextmanager
async def allocation(
    kind: Transport, port: int, credential: TurnCredential, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Allocation]:
    """A TURN allocation made with ``credential``; raises ``stun.TransactionFailed`` (401…)."""
    loop = asyncio.get_running_loop()
    options = {
        "username": credential.username,
        "password": credential.password.reveal(),
        "lifetime": 600,
        "channel_refresh_time": 300,
    }
    protocol: TurnClientUdpProtocol | TurnClientTcpProtocol
    transport: asyncio.BaseTransport
    if kind == "udp":
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: TurnClientUdpProtocol(_server(port), **options),  # type: ignore[arg-type]
            remote_addr=_server(port),
        )
    else:
        transport, protocol = await loop.create_connection(
            lambda: TurnClientTcpProtocol(_server(port), **options),  # type: ignore[arg-type]
            *_server(port),
            ssl=tls if kind == "tls" else None,
        )
    try:
        relayed = await asyncio.wait_for(protocol.connect(), 10)
        yield Allocation(protocol, transport, relayed)
    finally:
        if protocol.refresh_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(protocol.delete(), 5)
        transport.close()


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.received.put_nowait((data, addr))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class EchoPeer(asyncio.DatagramProtocol):
    """A UDP peer on loopback that sends every datagram back, remembering who sent it."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.senders: list[Address] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.senders.append(addr)
        assert self.transport is not None
        self.transport.sendto(data, addr)


@contextlib.asynccontextmanager
async def echo_peer() -> AsyncIterator[tuple[EchoPeer, Address]]:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(EchoPeer, local_addr=("127.0.0.1", 0))
    try:
        yield peer, transport.get_extra_info("sockname")[:2]
    finally:
        transport.close()


async def relayed_round_trip(
    kind: Transport,
    port: int,
    credential: TurnCredential,
    payload: bytes,
    tls: ssl.SSLContext | None = None,
) -> tuple[bytes, Address, list[Address]]:
    """Sends ``payload`` to an echo peer through a relay; returns the echo, the relayed
    address and the addresses the peer saw the payload come from."""
    async with echo_peer() as (peer, peer_address):
        turn: TurnTransport
        turn, receiver = await create_turn_endpoint(
            _Collect,
            _server(port),
            credential.username,
            credential.password.reveal(),
            ssl=tls if kind == "tls" else None,
            transport="udp" if kind == "udp" else "tcp",
        )
        try:
            relayed = turn.get_extra_info("sockname")
            turn.sendto(payload, peer_address)
            data, source = await asyncio.wait_for(receiver.received.get(), 10)
            assert source == peer_address
            return data, relayed, list(peer.senders)
        finally:
            turn.close()  # deletes the allocation, then reports the connection lost
            await asyncio.wait_for(receiver.closed, 10)

"""Is a STUN/TURN server answering? One STUN Binding request over UDP (RFC 8489), no library.

The embedded coturn counts as ready when this succeeds on its port: a real protocol exchange
with the real process, not a guess from a pid or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct

__all__ = ["stun_binding"]

_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101
_MAGIC_COOKIE = 0x2112A442
_HEADER = struct.Struct("!HHI12s")


class _OneAnswer(asyncio.DatagramProtocol):
    def __init__(self, transaction_id: bytes) -> None:
        self.transaction_id = transaction_id
        self.answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(data) < _HEADER.size or self.answered.done():
            return
        kind, _length, cookie, transaction_id = _HEADER.unpack_from(data)
        if cookie == _MAGIC_COOKIE and transaction_id == self.transaction_id:
            self.answered.set_result(kind == _BINDING_SUCCESS)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: nothing listens there (yet).
        if not self.answered.done():
            self.answered.set_result(False)


async def stun_binding(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """Whether ``host:port`` answers a STUN Binding request with success within ``timeout``."""
    transaction_id = secrets.token_bytes(12)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _OneAnswer(transaction_id), remote_addr=(host, port)
        )
    except OSError:
        return False
    try:
        transport.sendto(_HEADER.pack(_BINDING_REQUEST, 0, _MAGIC_COOKIE, transaction_id))
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(protocol.answered, timeout)
        return False
    finally:
        transport.close()

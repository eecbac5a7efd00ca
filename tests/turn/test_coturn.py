"""A real coturn started from Salon's generated config: who it lets in, where it relays to."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from aioice import stun

from salon.config import Secret
from salon.turn.credentials import TurnCredential, issue_credential
from salon.turn.probe import stun_binding
from tests.turn.client import Transport, allocation, relayed_round_trip
from tests.turn.conftest import CoturnFactory, RunningCoturn, eventually

pytestmark = pytest.mark.anyio

TRANSPORTS: list[Transport] = ["udp", "tcp", "tls"]


def _port(coturn: RunningCoturn, kind: Transport, tls_index: int = 0) -> int:
    return coturn.tls_ports[tls_index] if kind == "tls" else coturn.port


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_valid_credential_allocates(coturn: RunningCoturn, kind: Transport):
    tls = coturn.tls_context() if kind == "tls" else None
    async with allocation(kind, _port(coturn, kind), coturn.credential(), tls) as allocated:
        host, port = allocated.relayed
        assert host == "127.0.0.1"
        assert 49152 <= port <= 65535
        if kind == "tls":
            ssl_object = allocated.transport.get_extra_info("ssl_object")
            assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")


async def test_second_tls_port_accepts_tls(coturn: RunningCoturn):
    """The extra TLS port (443 in production) is an aux-server that detects TLS itself."""
    async with allocation("tls", coturn.tls_ports[1], coturn.credential(), coturn.tls_context()):
        pass


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_relayed_round_trip_to_a_loopback_peer(coturn: RunningCoturn, kind: Transport):
    tls = coturn.tls_context() if kind == "tls" else None
    payload = os.urandom(64)
    echoed, relayed, senders = await relayed_round_trip(
        kind, _port(coturn, kind), coturn.credential(), payload, tls
    )
    assert echoed == payload
    # The peer saw the relay's address, never the client's.
    assert senders == [tuple(relayed)]


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_expired_credential_is_refused(coturn: RunningCoturn, kind: Transport):
    expired = coturn.credential(ttl=timedelta(seconds=-1))
    tls = coturn.tls_context() if kind == "tls" else None
    with pytest.raises(stun.TransactionFailed) as refused:
        async with allocation(kind, _port(coturn, kind), expired, tls):
            pass
    assert refused.value.response.error_code == 401


def _forged(credential: TurnCredential) -> list[TurnCredential]:
    other = issue_credential(Secret("another-secret-" + "x" * 32), credential.expires_at)
    expiry, _, opaque = credential.username.partition(":")
    later = f"{int(expiry) + 86400}:{opaque}"
    return [
        # Signed with another secret.
        other,
        # The right password for a username with its expiry pushed out by a day.
        TurnCredential(later, credential.password, credential.expires_at),
        # Not a TURN REST username at all.
        TurnCredential("alice", credential.password, credential.expires_at),
    ]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["other-secret", "moved-expiry", "plain-user"])
async def test_forged_credential_is_refused(coturn: RunningCoturn, index: int):
    forged = _forged(coturn.credential())[index]
    with pytest.raises(stun.TransactionFailed) as refused:
        async with allocation("udp", coturn.port, forged):
            pass
    assert refused.value.response.error_code == 401


@pytest.mark.parametrize(
    "peer",
    [
        "10.1.2.3",  # RFC 1918
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.1",
        "198.18.0.1",  # benchmarking
        "224.0.0.251",  # multicast
        "240.0.0.1",
    ],
)
@pytest.mark.parametrize("method", [stun.Method.CREATE_PERMISSION, stun.Method.CHANNEL_BIND])
async def test_relay_to_a_denied_range_is_refused(
    coturn: RunningCoturn, peer: str, method: stun.Method
):
    """Loopback peers are allowed by this test coturn; the deny list still holds."""
    async with allocation("udp", coturn.port, coturn.credential()) as allocated:
        with pytest.raises(stun.TransactionFailed) as refused:
            await allocated.request(method, (peer, 9))
        assert refused.value.response.error_code == 403
        # A loopback peer is allowed here (the test setting), so the allocation itself works.
        await allocated.request(stun.Method.CREATE_PERMISSION, ("127.0.0.1", 9))


async def test_loopback_is_denied_without_the_test_setting(coturns: CoturnFactory):
    coturn = await coturns.start(turn_test_allow_loopback_peers="0")
    assert "allow-loopback-peers" not in coturn.coturn.config.text()
    async with allocation("udp", coturn.port, coturn.credential()) as allocated:
        with pytest.raises(stun.TransactionFailed) as refused:
            await allocated.request(stun.Method.CREATE_PERMISSION, ("127.0.0.1", 9))
        assert refused.value.response.error_code == 403


async def test_killed_coturn_is_restarted(coturn: RunningCoturn):
    supervisor = coturn.coturn.supervisor
    first = supervisor.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)

    async def back() -> bool:
        return (
            supervisor.restarts == 1
            and supervisor.pid not in (None, first)
            and await stun_binding("127.0.0.1", coturn.port)
        )

    await eventually(back, what="coturn to be restarted")
    async with allocation("udp", coturn.port, coturn.credential()):
        pass
    await coturn.coturn.stop()
    assert not supervisor.running
    assert not os.path.exists(f"/proc/{first}")


async def test_stop_leaves_no_process_and_frees_the_ports(coturns: CoturnFactory):
    coturn = await coturns.start()
    pid = coturn.coturn.supervisor.pid
    assert pid is not None
    await coturn.coturn.stop()
    assert not os.path.exists(f"/proc/{pid}")  # gone, and reaped: not even a zombie
    assert not await stun_binding("127.0.0.1", coturn.port, timeout=0.2)
    # The same ports can be taken again at once.
    await coturn.coturn.start()
    assert await stun_binding("127.0.0.1", coturn.port)

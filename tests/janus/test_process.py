"""A Janus started by ``JanusProcess``: what it loaded, where it listens, and failing to start."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import pytest

from salon.clock import SystemClock
from salon.errors import ConfigError
from salon.janus import translate
from salon.janus.config import JanusInstall
from salon.janus.process import JanusProcess, local_config
from salon.janus.transport import JanusTransport
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio

_LISTEN = "0A"


def _listening_sockets(pid: int) -> list[tuple[str, str, int]]:
    """(protocol, address, port) of every TCP socket ``pid`` listens on and every UDP one
    it has bound, read from /proc (no traffic)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{protocol}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode not in inodes or (protocol.startswith("tcp") and state != _LISTEN):
                continue
            address, port = local.split(":")
            if len(address) == 8:
                text = socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
            else:
                raw = bytes.fromhex(address)
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                text = socket.inet_ntop(socket.AF_INET6, words)
            found.append((protocol, text, int(port, 16)))
    return found


async def test_janus_loads_only_the_videoroom_and_the_websockets_transport(
    janus: JanusProcess,
) -> None:
    transport = await JanusTransport.open(janus.node.url, janus.config.api_secret)
    info = (await transport.request(translate.info())).fields
    await transport.close()
    assert set(info["plugins"]) == {"janus.plugin.videoroom"}
    assert set(info["transports"]) == {"janus.transport.websockets"}
    assert info["events"] == {}
    assert info["loggers"] == {}
    assert info["api_secret"] is True
    assert info["event_handlers"] is False
    assert "dependencies" not in info
    assert info["local-ip"] == "127.0.0.1"


async def test_janus_listens_only_on_its_loopback_api_port(janus: JanusProcess) -> None:
    pid = janus.supervisor.pid
    assert pid is not None
    assert _listening_sockets(pid) == [("tcp", "127.0.0.1", janus.config.ws_port)]


async def test_a_janus_that_will_not_start_is_reported(tmp_path: Path) -> None:
    config = local_config(
        tmp_path / "janus", ws_port=free_port(), media_address="127.0.0.1", clock=SystemClock()
    )
    broken = dataclasses.replace(JanusInstall.discover(), binary=Path("/bin/false"))
    process = JanusProcess(config, tmp_path / "janus", install=broken, ready_timeout=5)
    with pytest.raises(ConfigError, match=r"janus .*exited"):
        await process.start()
    await process.stop()

"""Free loopback ports for test servers, never the same one twice in a test run.

The kernel may hand the same ephemeral port to two quick ``bind(0)`` calls once the first
socket is closed, and a server started later (coturn, Janus, ``salon serve``) binds it only
after the test has asked for its next port. Remembering every port handed out rules that
collision out; each port is also checked free for both TCP and UDP, since coturn listens
on both.
"""

from __future__ import annotations

import socket
import threading

_handed_out: set[int] = set()
_lock = threading.Lock()


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` for TCP and UDP that this process has not handed out before."""
    with _lock:
        while True:
            with socket.socket() as tcp:
                tcp.bind((host, 0))
                port = int(tcp.getsockname()[1])
                if port in _handed_out or not _bindable(port, host):
                    continue
            _handed_out.add(port)
            return port

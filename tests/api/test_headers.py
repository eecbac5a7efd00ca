"""Every HTTPS response carries the security headers, signaling's long-polling included."""

from __future__ import annotations

import pytest

from tests.support.server import RunningServer


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/v1/meetings", "/no-such-room", "/socket.io/?EIO=4&transport=polling"],
)
def test_security_headers_everywhere(server: RunningServer, path: str):
    with server.client() as http:
        response = http.get(path, headers={"Origin": server.base_url})
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" in response.headers
    assert response.headers["cache-control"] == "no-store"

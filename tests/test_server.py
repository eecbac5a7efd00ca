"""``salon serve`` as a real process: HTTPS only, redirect-only HTTP, headers, start-up errors."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.process import salon, serve


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_https_only_with_security_headers(data: Path):
    with serve(data) as running:
        with running.client() as http:
            response = http.get("/healthz")
        assert response.status_code == 200
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "server" not in response.headers
        # Plain HTTP on the HTTPS port gets no page.
        port = int(running.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            reply = sock.recv(1024)
        assert b"200 OK" not in reply
        assert b'"ok"' not in reply


def test_http_port_only_redirects(data: Path):
    http_port = free_port()
    with serve(data, "--http-redirect-port", str(http_port)) as running:
        response = httpx.get(f"http://127.0.0.1:{http_port}/v1/meetings?limit=2")
        assert response.status_code == 308
        assert response.headers["location"] == f"{running.base_url}/v1/meetings"
        assert response.content == b""


def test_self_signed_certificate_is_made_once(data: Path):
    with serve(data):
        pass
    first = (data / "tls-cert.pem").read_bytes()
    assert oct((data / "tls-key.pem").stat().st_mode & 0o777) == "0o600"
    with serve(data):
        pass
    assert (data / "tls-cert.pem").read_bytes() == first


def test_given_certificate_is_used(data: Path, tmp_path: Path):
    with serve(tmp_path / "other"):
        pass
    cert, key = tmp_path / "other" / "tls-cert.pem", tmp_path / "other" / "tls-key.pem"
    args = ("--tls-cert", str(cert), "--tls-key", str(key))
    with serve(data, *args, cert=cert) as running, running.client() as http:
        assert http.get("/healthz").status_code == 200
    assert not (data / "tls-cert.pem").exists()


def test_wrong_setting_stops_start_up_with_a_message(data: Path):
    result = salon(data, "serve", "--port", "http", check=False)
    assert result.returncode == 2
    assert "--port='http' must be a whole number from 1 to 65535" in result.stderr
    result = salon(data, "serve", "--tls-cert", "/nonexistent", check=False)
    assert result.returncode == 2
    assert "--tls-key" in result.stderr


def test_data_dir_is_private(data: Path):
    with serve(data):
        pass
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    for name in ("master.key", "room-key.secret", "salon.db", "tls-key.pem"):
        assert oct((data / name).stat().st_mode & 0o777) == "0o600", name

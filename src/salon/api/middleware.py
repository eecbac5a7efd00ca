"""Pure ASGI middleware: security headers on every response, and a bound on request bodies."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "BodyLimit", "SecurityHeaders", "error_body"]

log = logging.getLogger("salon.access")

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
_COMMON = [
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    # Room keys travel in URLs: never let them leak to another site through Referer.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def error_body(message: str, code: str, data: object | None = None) -> bytes:
    body: dict[str, object] = {"error": message, "code": code}
    if data is not None:
        body["data"] = data
    return json.dumps(body).encode()


class SecurityHeaders:
    """Adds HSTS, CSP and friends, plus any ``rate_limit_headers`` a route left in the state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith("/v1") or scope["path"] == "/healthz"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"server", b"cache-control")
                ]
                headers.extend(_COMMON)
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    csp = API_CSP if is_api else PAGE_CSP
                    headers.append((b"content-security-policy", csp.encode()))
                extra: Iterable[tuple[str, str]] = (
                    scope.get("state", {}).get("rate_limit_headers", {}).items()
                )
                headers.extend((k.lower().encode(), v.encode()) for k, v in extra)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses bodies over ``max_bytes`` (413) and non-JSON bodies on /v1 writes (415)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send, status: int, message: str, code: str) -> None:
        body = error_body(message, code)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        too_large = (
            f"Invalid request. body: must be at most {self.max_bytes} bytes; send a smaller body"
        )
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(send, 413, too_large, "payload_too_large")
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["path"].startswith("/v1") and content_type != b"application/json":
            await self._refuse(
                send,
                415,
                "Invalid request. Content-Type: must be application/json",
                "unsupported_content_type",
            )
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, bounded_receive, send)
        except _BodyTooLarge:
            await self._refuse(send, 413, too_large, "payload_too_large")


class _BodyTooLarge(Exception):
    pass


class AccessLog:
    """One line per request: method, path without query (room keys!), status, time. No IPs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            path = scope["path"] if scope["path"].startswith(("/v1", "/healthz")) else "/<room>"
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                path,
                status,
                (time.perf_counter() - start) * 1000,
            )

"""Pure ASGI middleware: security headers on every response, and a bound on request bodies."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from salon.api.errors import error_bytes
from salon.errors import FieldProblem, PayloadTooLarge, SalonError, UnsupportedContentType

__all__ = ["BodyLimit", "Edge", "page_csp", "script_hash"]

log = logging.getLogger("salon.access")

API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors {frame_ancestors}"
)


def page_csp(frame_ancestors: str = "'none'", inline_scripts: tuple[str, ...] = ()) -> str:
    """A page's CSP. A room page passes its organization's allowed embed domains (every other
    page stays unframable), and the one inline script it carries, allowed by its hash alone."""
    hashes = "".join(f" {script_hash(text)}" for text in inline_scripts)
    return _PAGE_CSP.format(scripts=hashes, frame_ancestors=frame_ancestors)


def script_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script."""
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


PAGE_CSP = page_csp().encode()
_COMMON = [
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    # Room keys travel in URLs: never let them leak to another site through Referer.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]

# A route may loosen these: Cross-Origin-Resource-Policy for files other sites load (the embed
# element, the SDK), Cross-Origin-Opener-Policy for the room page (see pages.room_page).
_ROUTE_MAY_SET = frozenset({b"cross-origin-resource-policy", b"cross-origin-opener-policy"})


class Edge:
    """Every HTTP response: security headers, rate-limit headers a route left in the request
    state, and one access-log line (method, path without query, status, time; no client IP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        is_api = path.startswith(("/v1", "/socket.io/")) or path == "/healthz"
        # Static assets may say how long they keep; everything else is never cached.
        static = path.startswith(("/static/", "/embed/")) or path == "/sdk.js"
        dropped = (b"server",) if static else (b"server", b"cache-control")
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k not in dropped]
                # A route may loosen some (_ROUTE_MAY_SET); every other common header is fixed.
                own = {k for k, _ in headers}
                headers.extend(
                    (k, v) for k, v in _COMMON if k not in own or k not in _ROUTE_MAY_SET
                )
                if not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if not any(k == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", API_CSP if is_api else PAGE_CSP))
                extra: Iterable[tuple[str, str]] = (
                    scope.get("state", {}).get("rate_limit_headers", {}).items()
                )
                headers.extend((k.lower().encode(), v.encode()) for k, v in extra)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            # Room names and keys stay out of the log: pages are logged as /<room>.
            logged = path if is_api else "/<room>"
            elapsed = (time.perf_counter() - start) * 1000
            log.info("%s %s %d %.1fms", scope["method"], logged, status, elapsed)


class BodyLimit:
    """Refuses bodies over ``max_bytes`` (413) and non-JSON bodies on /v1 writes (415).

    A body sent without Content-Length (chunked) is read here, within the bound, and replayed
    to the application, so an oversized one is refused before any route sees it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    @staticmethod
    async def _refuse(send: Send, exc: SalonError) -> None:
        body = error_bytes(exc)
        await send(
            {
                "type": "http.response.start",
                "status": exc.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            [FieldProblem("body", f"must be at most {self.max_bytes} bytes; send a smaller body")]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(send, self._too_large())
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["path"].startswith("/v1") and content_type != b"application/json":
            await self._refuse(send, UnsupportedContentType())
            return
        if length is not None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

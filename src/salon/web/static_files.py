"""``/static/<path>``: the room app's files, served from ``salon/web/static/`` and nowhere else.

Only regular files inside that folder, with a known type, are served: no directory listings, no
dot-files, no path that climbs out (``..``, absolute paths, symlinks leading elsewhere).

Customers' pages load the embed element and the JS SDK from here, across origins, as ES
modules: every script is public code, so scripts carry ``Access-Control-Allow-Origin: *`` (no
credentials) and ``Cross-Origin-Resource-Policy: cross-origin``. They also have stable
addresses for customers to write down: ``/embed/salon-embed.js`` and ``/sdk.js``.

The files are small and few (the room app is about a dozen), and a newcomer's browser asks for
all of them at once while the same server answers its join: each is read once into memory and
answered from there on the event loop, with no worker-thread hop (the one worker thread of a
SQLite deployment is the database's). A file that changes on disk (a deploy, a developer
editing) is read again: the cache is keyed by its size and modification time. Each answer
carries a strong ETag of the content, so a browser revalidating (``no-cache``) gets a 304.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

__all__ = ["STABLE_MODULES", "STATIC_ROOT", "cache_control", "resolve", "router"]

STATIC_ROOT = Path(__file__).resolve().parent / "static"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
# One path segment: letters, digits, '.', '_', '-'; never starting with a dot.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_MAX_DEPTH = 4

_SCRIPTS = frozenset({".js", ".mjs"})
# Any page may load these as modules: public code, fetched without credentials.
_SHARED = {"access-control-allow-origin": "*", "cross-origin-resource-policy": "cross-origin"}
# Stable address → the module there. /sdk.js re-exports /static/sdk.js, so that the SDK's own
# relative imports (./salon-client.js) resolve under /static/; the element imports nothing.
STABLE_MODULES = {
    "/embed/salon-embed.js": 'export * from "../static/salon-embed.js";\n',
    "/sdk.js": 'export * from "./static/sdk.js";\n',
}

router = APIRouter(include_in_schema=False)


def resolve(path: str, root: Path = STATIC_ROOT) -> Path | None:
    """The file ``path`` names inside ``root``, or None when it is not one Salon serves."""
    segments = path.split("/")
    if len(segments) > _MAX_DEPTH or not all(_SEGMENT.fullmatch(s) for s in segments):
        return None
    candidate = root.joinpath(*segments)
    if candidate.suffix not in CONTENT_TYPES:
        return None
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root.resolve()) or not real.is_file():
        return None
    return real


def cache_control(path: str) -> str:
    """Salon's files change with every deploy: a browser revalidates them each time (a 304
    when unchanged, see the ETag)."""
    return "no-cache"


@dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: tuple[int, int]  # size and modification time (ns) when read
    body: bytes
    etag: str


_loaded: dict[Path, _Loaded] = {}


def _load(found: Path) -> _Loaded | None:
    """``found``'s bytes, from memory unless the file changed since it was read."""
    try:
        info = os.stat(found)
        stamp = (info.st_size, info.st_mtime_ns)
        cached = _loaded.get(found)
        if cached is not None and cached.stamp == stamp:
            return cached
        body = found.read_bytes()
    except OSError:
        return None
    loaded = _Loaded(stamp, body, f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"')
    _loaded[found] = loaded
    return loaded


def _not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match")
    if wanted is None:
        return False
    return wanted.strip() == "*" or etag in (tag.strip() for tag in wanted.split(","))


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
async def static_file(path: str, request: Request) -> Response:
    found = resolve(path)
    loaded = None if found is None else _load(found)
    if found is None or loaded is None:
        return Response("Not found\n", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": cache_control(path), "ETag": loaded.etag}
    if found.suffix in _SCRIPTS:
        headers |= _SHARED
    if _not_modified(request, loaded.etag):
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else loaded.body
    response = Response(body, media_type=CONTENT_TYPES[Path(path).suffix], headers=headers)
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(loaded.body))
    return response


def _stable_module(path: str) -> Response:
    return Response(
        STABLE_MODULES[path],
        media_type=CONTENT_TYPES[".js"],
        headers={"Cache-Control": "no-cache", **_SHARED},
    )


@router.api_route("/embed/salon-embed.js", methods=["GET", "HEAD"])
def embed_element() -> Response:
    """``<script type="module" src="https://<salon>/embed/salon-embed.js">``."""
    return _stable_module("/embed/salon-embed.js")


@router.api_route("/sdk.js", methods=["GET", "HEAD"])
def sdk() -> Response:
    """``import { createRoomConnection } from "https://<salon>/sdk.js"``."""
    return _stable_module("/sdk.js")

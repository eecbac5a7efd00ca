"""``/static/<path>``: the room app's files, served from ``salon/web/static/`` and nowhere else.

Only regular files inside that folder, with a known type, are served: no directory listings, no
dot-files, no path that climbs out (``..``, absolute paths, symlinks leading elsewhere).

Customers' pages load the embed element and the JS SDK from here, across origins, as ES
modules: every script is public code, so scripts carry ``Access-Control-Allow-Origin: *`` (no
credentials) and ``Cross-Origin-Resource-Policy: cross-origin``. They also have stable
addresses for customers to write down: ``/embed/salon-embed.js`` and ``/sdk.js``.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

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
    """Third-party files are pinned by version (scripts/web-deps.sh) and may be cached long;
    Salon's own files change with every deploy and are revalidated each time."""
    if path.startswith("vendor/"):
        return "public, max-age=604800"
    return "no-cache"


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
def static_file(path: str) -> Response:
    found = resolve(path)
    if found is None:
        return Response("Not found\n", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": cache_control(path)}
    if found.suffix in _SCRIPTS:
        headers |= _SHARED
    return FileResponse(found, media_type=CONTENT_TYPES[Path(path).suffix], headers=headers)


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

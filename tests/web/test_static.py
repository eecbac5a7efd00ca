"""``/static/``: the room app's files with the right types, and nothing outside the folder."""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

import pytest

from salon.web.static_files import STATIC_ROOT, cache_control, resolve
from tests.support.server import RunningServer


def _raw_get(server: RunningServer, path: str, method: str = "GET") -> tuple[int, bytes]:
    """Sends ``path`` exactly as written (httpx would normalise ``..`` away)."""
    host, port = server.base_url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(server.cert))
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/room.js", "text/javascript; charset=utf-8"),
        ("/static/salon-client.js", "text/javascript; charset=utf-8"),
        ("/static/params.js", "text/javascript; charset=utf-8"),
        ("/static/room.css", "text/css; charset=utf-8"),
        ("/static/salon.css", "text/css; charset=utf-8"),
    ],
)
def test_own_files_are_served_with_their_type(
    server: RunningServer, path: str, content_type: str
) -> None:
    with server.client() as http:
        response = http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    # Salon's own files change with each deploy: never cached for long.
    assert "max-age" not in response.headers["cache-control"]
    assert response.content == (STATIC_ROOT / path.removeprefix("/static/")).read_bytes()


def test_head_answers_without_a_body(server: RunningServer) -> None:
    with server.client() as http:
        response = http.head("/static/room.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == b""


def test_other_methods_are_refused(server: RunningServer) -> None:
    with server.client() as http:
        assert http.post("/static/room.js", content=b"x").status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pages.py",
        "/static/%2e%2e/pages.py",
        "/static/..%2fpages.py",
        "/static/%2e%2e%2fpages.py",
        "/static/vendor/../../pages.py",
        "/static/./room.js",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/..%5cpages.py",
        "/static/",
        "/static/vendor",
        "/static/vendor/",
        "/static/package.json",
        "/static/.gitignore",
        "/static/room.js%00.css",
        "/static/nothing-here.js",
    ],
)
def test_nothing_outside_or_unlisted_is_served(server: RunningServer, path: str) -> None:
    status, body = _raw_get(server, path)
    assert status in (400, 404), (path, status)
    assert b"def " not in body
    assert b"import " not in body
    assert b"root:" not in body


def test_resolve_refuses_symlinks_that_leave_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "static"
    root.mkdir()
    (root / "ok.js").write_text("export {};\n")
    (tmp_path / "secret.js").write_text("secret\n")
    (root / "escape.js").symlink_to(tmp_path / "secret.js")
    (root / "dir.js").mkdir()
    assert resolve("ok.js", root) == (root / "ok.js").resolve()
    assert resolve("escape.js", root) is None
    assert resolve("dir.js", root) is None
    assert resolve("ok.exe", root) is None
    assert resolve("a/b/c/d/e.js", root) is None


def test_own_files_revalidate() -> None:
    assert cache_control("room.js") == "no-cache"


def test_revalidation_with_the_etag_gets_a_304_without_a_body(server: RunningServer) -> None:
    with server.client() as http:
        first = http.get("/static/room.js")
        etag = first.headers["etag"]
        again = http.get("/static/room.js", headers={"If-None-Match": f'"other", {etag}'})
        changed = http.get("/static/room.js", headers={"If-None-Match": '"other"'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "no-cache"
    assert changed.status_code == 200
    assert changed.content == first.content


def test_head_gives_the_length_of_the_file(server: RunningServer) -> None:
    with server.client() as http:
        response = http.head("/static/room.js")
    size = (STATIC_ROOT / "room.js").stat().st_size
    assert response.headers["content-length"] == str(size)


def test_a_file_changed_on_disk_is_served_anew(tmp_path: Path) -> None:
    from salon.web.static_files import _load

    target = tmp_path / "app.js"
    target.write_text("export const a = 1;\n")
    first = _load(target)
    assert first is not None
    assert _load(target) is first  # from memory while unchanged
    target.write_text("export const a = 22;\n")
    second = _load(target)
    assert second is not None
    assert second.body == b"export const a = 22;\n"
    assert second.etag != first.etag
    target.unlink()
    assert _load(target) is None

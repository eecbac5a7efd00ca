"""What the benchmarks share: running ``salon`` commands and servers as child processes.

The benchmark scripts run as ``python bench/NAME.py``, so this module is imported as
``common`` (bench/ is the script's directory, first on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


START_TIMEOUT_S = 30.0


def salon_cli(data_dir: Path, env: Mapping[str, str], *args: str) -> str:
    """Runs ``salon --data-dir DATA_DIR ARGS...`` and returns what it printed."""
    salon = Path(sys.executable).with_name("salon")
    result = subprocess.run(
        [str(salon), "--data-dir", str(data_dir), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"salon {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@contextlib.contextmanager
def server_process(
    cmd: list[str],
    log: Path,
    env: Mapping[str, str],
    *,
    preexec_fn: Callable[[], object] | None = None,
    stop_timeout: float = 15.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs ``cmd`` with its output in ``log``; stops it (TERM, then KILL) however we leave."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=REPO,
            preexec_fn=preexec_fn,  # noqa: PLW1509 - callers only set a resource limit
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def client_tls(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def wait_healthy(proc: subprocess.Popen[bytes], port: int, cert: Path, log: Path) -> None:
    """Polls ``GET /healthz`` on HOST:``port`` until it answers 200; fails with the server's
    log otherwise."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if cert.exists():
            conn = http.client.HTTPSConnection(HOST, port, timeout=2, context=client_tls(cert))
            with contextlib.suppress(OSError):
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            conn.close()
        time.sleep(0.1)
    raise RuntimeError(f"server did not become healthy:\n{log.read_text()[-3000:]}")


DOCS = REPO / "docs" / "benchmarks.md"


def record_section(
    script: str, report: str, *, reproduce: str, keep: str | None = None, docs: Path = DOCS
) -> None:
    """Replaces (or appends) the ``## bench/SCRIPT`` section of docs/benchmarks.md with
    ``report``, under a line saying when it was recorded and how to ``reproduce`` it. A
    hand-written subsection headed ``keep`` at the section's end survives; the rest of the file
    is left as it is."""
    heading = f"## bench/{script}"
    text = (
        docs.read_text() if docs.exists() else "# Benchmarks\n\nFigures measured on one machine.\n"
    )
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    found = pattern.search(text)
    kept = ""
    if keep is not None and found is not None and f"\n{keep}" in found.group(0):
        kept = found.group(0)[found.group(0).index(f"\n{keep}") + 1 :].rstrip("\n")
    section = (
        f"{heading}\n\nRecorded {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Reproduce with "
        f"{reproduce}; the script's docstring explains what is measured.\n\n"
        f"{report}\n" + (f"\n{kept}\n" if kept else "")
    )
    if found is not None:
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    docs.write_text(text)

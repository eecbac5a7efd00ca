"""The real ``salon`` command, run as a subprocess, and a real ``salon serve`` process."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.ports import free_port

SALON = [sys.executable, "-m", "salon.cli"]


def salon(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    result = subprocess.run(
        [*SALON, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=clean | dict(env or {}),
        timeout=60,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"salon {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class ServeProcess:
    base_url: str
    data_dir: Path
    process: subprocess.Popen[str]
    log_path: Path
    cert: Path

    def client(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        context = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=self.base_url, verify=context, headers=headers, timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def serve(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None, cert: Path | None = None
) -> Iterator[ServeProcess]:
    """Starts ``salon serve`` and waits until /healthz answers over HTTPS."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    # The embedded coturn gets ports of its own, so servers of tests running side by side
    # (and a developer's own `make run`) never fight over 3478/5349.
    clean |= {"SALON_TURN_PORT": str(free_port()), "SALON_TURN_TLS_PORTS": str(free_port())}
    log_path = data_dir.parent / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SALON, "--data-dir", str(data_dir), "serve", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean | dict(env or {}),
        )
    running = ServeProcess(
        f"https://localhost:{port}", data_dir, process, log_path, cert or data_dir / "tls-cert.pem"
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"salon serve exited:\n{running.log()}")
            try:
                with running.client() as http:
                    if http.get("/healthz").status_code == 200:
                        break
            except (httpx.TransportError, FileNotFoundError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"salon serve did not come up:\n{running.log()}")
            time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

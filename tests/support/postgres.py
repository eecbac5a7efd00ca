"""A throwaway PostgreSQL cluster for the tests: initdb in a temp dir, loopback only.

``SALON_TEST_DATABASE_URL`` points the tests at an existing server instead. PostgreSQL refuses
to run as root, so as root the cluster runs as the ``postgres`` system user (created by
Debian's package).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import psycopg

from tests.support.ports import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> bool:
    return bool(os.environ.get("SALON_TEST_DATABASE_URL")) or _bin("initdb") is not None


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """Yields an admin URL (``postgresql://user@127.0.0.1:port/postgres``)."""
    existing = os.environ.get("SALON_TEST_DATABASE_URL")
    if existing:
        yield existing
        return
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    assert initdb and pg_ctl, "PostgreSQL is not installed (make test installs it)"
    root = os.geteuid() == 0
    user = "postgres" if root else pwd.getpwuid(os.geteuid()).pw_name
    base = tempfile.mkdtemp(prefix="salon-pg-")
    data, sock_dir = os.path.join(base, "data"), os.path.join(base, "sock")
    os.mkdir(sock_dir)
    if root:
        entry = pwd.getpwnam(user)
        for path in (base, sock_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    run_as = ["runuser", "-u", user, "--"] if root else []
    port = free_port()
    subprocess.run(
        [*run_as, initdb, "-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock_dir} -c fsync=off"
    subprocess.run(
        [
            *run_as,
            pg_ctl,
            "-D",
            data,
            "-o",
            options,
            "-l",
            os.path.join(base, "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(admin_url: str) -> str:
    """Creates an empty database and returns its SQLAlchemy URL."""
    name = "salon_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    deadline = time.monotonic() + 10
    while True:
        try:
            with psycopg.connect(f"{base}/{name}"):
                break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return "postgresql+psycopg://" + f"{base}/{name}".removeprefix("postgresql://")

"""Settings: read once, typed, grouped.

This is the only module that reads the environment. A setting comes, in order of precedence,
from a command-line flag, from ``SALON_<NAME>``, or from its default. Secrets are never taken
from a flag: they come from a file (``SALON_<NAME>_FILE``) or, for the database URL, from the
environment, and they print as ``'**********'``. Anything wrong stops start-up with a
``ConfigError`` that says which setting, what was wrong, and what to change.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from salon.errors import ConfigError

__all__ = ["Secret", "ServerSettings", "Settings", "load_settings"]

ENV_PREFIX = "SALON_"
T = TypeVar("T")


class Secret:
    """A value that must not show up in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str
    port: int
    public_url: str
    tls_cert: Path | None
    tls_key: Path | None
    http_redirect_port: int | None
    max_body_bytes: int


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    server: ServerSettings
    database_url: Secret
    master_key_file: Path
    room_key_secret_file: Path
    rate_limit_points: int
    sweep_interval_seconds: int
    log_level: str
    # "embedded" (one machine, landing page on) or "production" (landing page off).
    mode: str = "embedded"
    # STUN servers handed to participants at join (none by default: no third party learns
    # who is in a call). TURN servers arrive with their own settings.
    stun_urls: tuple[str, ...] = ()

    @property
    def landing_page(self) -> bool:
        return self.mode == "embedded"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.reveal().startswith("sqlite")


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}")
        return value

    return parse


def _host(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError("must be an IP address or host name to listen on, e.g. 127.0.0.1")
    return raw


def _public_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL such as https://meet.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be only scheme, host and optional port, with no path or query")
    return raw.rstrip("/")


def _log_level(raw: str) -> str:
    levels = ("debug", "info", "warning", "error")
    if raw.lower() not in levels:
        raise ValueError(f"must be one of {', '.join(levels)}")
    return raw.lower()


def _database_url(raw: str) -> str:
    if not raw.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
        raise ValueError(
            "must start with sqlite:/// or postgresql:// (e.g. postgresql://salon@localhost/salon)"
        )
    if raw.startswith("postgresql://"):
        return "postgresql+psycopg://" + raw.removeprefix("postgresql://")
    return raw


def _mode(raw: str) -> str:
    if raw not in ("embedded", "production"):
        raise ValueError("must be embedded or production")
    return raw


def _stun_urls(raw: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        if not url.startswith(("stun:", "stuns:")) or any(c.isspace() for c in url):
            raise ValueError(f"must be comma-separated stun: URLs; {url!r} is not one")
    return urls


def _display_host(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.is_unspecified or ip.is_loopback:
        return "localhost"
    return f"[{host}]" if ip.version == 6 else host


class _Reader:
    """Looks a setting up in flags, then the environment, and names both in errors."""

    def __init__(self, env: Mapping[str, str], flags: Mapping[str, str | None]) -> None:
        self.env = env
        self.flags = flags

    def raw(self, name: str) -> tuple[str | None, str]:
        flag = self.flags.get(name)
        if flag is not None:
            return flag, f"--{name.replace('_', '-')}"
        env_name = ENV_PREFIX + name.upper()
        if env_name in self.env:
            return self.env[env_name], env_name
        return None, f"--{name.replace('_', '-')} or {env_name}"

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw, source = self.raw(name)
        if raw is None:
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            raise ConfigError(f"Setting {source}={raw!r} {exc}. Change {source}.") from None

    def path(self, name: str, default: Path | None) -> Path | None:
        raw, _ = self.raw(name)
        return Path(raw).expanduser() if raw else default

    def secret_file(self, name: str) -> Secret | None:
        env_name = f"{ENV_PREFIX}{name.upper()}_FILE"
        path = self.env.get(env_name)
        if not path:
            return None
        try:
            return Secret(Path(path).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(
                f"Setting {env_name}={path!r}: the file cannot be read ({exc.strerror}). "
                f"Point {env_name} at a readable file."
            ) from None


def load_settings(
    env: Mapping[str, str] | None = None, flags: Mapping[str, str | None] | None = None
) -> Settings:
    """Settings from flags and environment; raises ``ConfigError`` naming what to change."""
    reader = _Reader(os.environ if env is None else env, flags or {})
    data_dir = reader.path("data_dir", Path("salon-data"))
    assert data_dir is not None
    data_dir = data_dir.resolve()

    host = reader.get("host", _host, "127.0.0.1")
    port = reader.get("port", _int_in(1, 65535), 8443)
    redirect = reader.get("http_redirect_port", _int_in(1, 65535), None)
    if redirect == port:
        raise ConfigError(
            f"--http-redirect-port and --port are both {port}. The redirect listener needs a "
            "port of its own: change one of them, or leave --http-redirect-port unset."
        )
    default_public = f"https://{_display_host(host)}{'' if port == 443 else f':{port}'}"
    public_url = reader.get("public_url", _public_url, default_public)

    tls_cert = reader.path("tls_cert", None)
    tls_key = reader.path("tls_key", None)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError(
            "Only one of --tls-cert / --tls-key is set. Give both (a certificate and its key), "
            "or neither to use a self-signed certificate made in the data dir."
        )
    for label, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{label} {path} does not exist or is not a file. Fix the path.")

    db_secret = reader.secret_file("database_url")
    db_raw, db_source = reader.raw("database_url")
    if db_secret is not None and db_raw is not None:
        raise ConfigError(
            f"The database URL is set twice ({db_source} and SALON_DATABASE_URL_FILE). "
            "Keep one of them."
        )
    if db_secret is not None:
        db_raw, db_source = db_secret.reveal(), "SALON_DATABASE_URL_FILE"
    if db_raw is None:
        database_url = f"sqlite:///{data_dir / 'salon.db'}"
    else:
        try:
            database_url = _database_url(db_raw.strip())
        except ValueError as exc:
            raise ConfigError(f"Setting {db_source} {exc}. Change {db_source}.") from None

    master_key_file = reader.path("master_key_file", data_dir / "master.key")
    room_key_file = reader.path("room_key_secret_file", data_dir / "room-key.secret")
    assert master_key_file is not None
    assert room_key_file is not None

    return Settings(
        data_dir=data_dir,
        server=ServerSettings(
            host=host,
            port=port,
            public_url=public_url,
            tls_cert=tls_cert,
            tls_key=tls_key,
            http_redirect_port=redirect,
            max_body_bytes=reader.get("max_body_bytes", _int_in(1024, 10 * 1024 * 1024), 65536),
        ),
        database_url=Secret(database_url),
        master_key_file=master_key_file,
        room_key_secret_file=room_key_file,
        rate_limit_points=reader.get("rate_limit_points", _int_in(1, 10_000_000), 1000),
        sweep_interval_seconds=reader.get("sweep_interval_seconds", _int_in(1, 86400), 300),
        log_level=reader.get("log_level", _log_level, "info"),
        mode=reader.get("mode", _mode, "embedded"),
        stun_urls=reader.get("stun_urls", _stun_urls, ()),
    )

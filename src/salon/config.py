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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from salon.errors import ConfigError

__all__ = [
    "JanusMode",
    "JanusNodeAddress",
    "JanusSettings",
    "Secret",
    "ServerSettings",
    "Settings",
    "TurnMode",
    "TurnServer",
    "TurnSettings",
    "load_settings",
]

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


class TurnMode(StrEnum):
    """Who runs the TURN relays Salon hands to participants."""

    EMBEDDED = "embedded"  # ``salon serve`` starts and supervises coturn itself
    EXTERNAL = "external"  # the operator runs a pool of coturn servers (``salon turn config``)
    OFF = "off"  # no TURN: STUN only (calls behind strict firewalls may not connect)


@dataclass(frozen=True, slots=True)
class TurnServer:
    """One TURN server as browsers are told about it: where, which ports, which region."""

    host: str  # a DNS name or an IP address (IPv6 without brackets)
    port: int = 3478  # TURN over UDP and TCP
    tls_ports: tuple[int, ...] = (5349,)  # TURN over TLS
    region: str = "default"


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """TURN relays: the mode, the pool browsers are given, and the embedded coturn's config."""

    mode: TurnMode = TurnMode.OFF
    # What participants are told, in every mode but off (embedded: the local coturn).
    servers: tuple[TurnServer, ...] = ()
    # This Salon node's region: its participants get the servers labelled with it (all of
    # them when none is, or when the node has no region).
    region: str | None = None
    # The shared secret of TURN REST credentials (coturn's static-auth-secret), in a file.
    secret_file: Path = Path("turn.secret")
    credential_ttl_seconds: int = 3600
    # The coturn Salon runs (embedded) or prints a config for (``salon turn config``).
    port: int = 3478
    tls_ports: tuple[int, ...] = (5349,)
    listening_ips: tuple[str, ...] = ()  # empty: every interface
    relay_ips: tuple[str, ...] = ()  # empty: coturn picks the address the client came to
    external_ip: str | None = None  # PUBLIC or PUBLIC/PRIVATE, behind a 1:1 NAT
    relay_ports: tuple[int, int] = (49152, 65535)
    realm: str = "localhost"
    user_quota: int = 20
    total_quota: int = 1000
    # Tests only (refused unless Salon and coturn listen on loopback alone): loopback peers
    # may be relayed to.
    allow_loopback_peers: bool = False
    binary: str = "turnserver"

    @property
    def enabled(self) -> bool:
        return self.mode != TurnMode.OFF

    @property
    def embedded(self) -> bool:
        return self.mode == TurnMode.EMBEDDED


class JanusMode(StrEnum):
    """Who runs the Janus nodes (the SFU of group rooms) Salon drives."""

    EMBEDDED = "embedded"  # ``salon serve`` starts and supervises one Janus node itself
    EXTERNAL = "external"  # the operator runs a pool of Janus nodes (``SALON_JANUS_NODES``)
    OFF = "off"  # no SFU: group rooms have no media server


@dataclass(frozen=True, slots=True)
class JanusNodeAddress:
    """One Janus node of an external pool: where Salon reaches its API, and its region."""

    url: str  # ws://HOST:PORT or wss://HOST:PORT (IPv6 in brackets)
    region: str = "default"

    @property
    def node_id(self) -> str:
        """The node's name in placements and logs: ``HOST:PORT`` of its API."""
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port}"


@dataclass(frozen=True, slots=True)
class JanusSettings:
    """Janus: the mode, the external pool, and the embedded node's config."""

    mode: JanusMode = JanusMode.OFF
    # The external pool (``external`` mode only).
    nodes: tuple[JanusNodeAddress, ...] = ()
    # Janus's core ``api_secret`` and the VideoRoom's ``admin_key``, each in a file; the
    # embedded mode creates both (0600) on first start.
    api_secret_file: Path = Path("janus-api.secret")
    admin_key_file: Path = Path("janus-admin.key")
    # The embedded node.
    api_port: int | None = None  # None: a free loopback port picked at each start
    interface: str | None = None  # the media address; None: the default route's, else loopback
    ice_enforce_list: tuple[str, ...] = ()  # empty: the media address alone
    rtp_ports: tuple[int, int] = (20000, 40000)
    public_ips: tuple[str, ...] = ()  # behind a 1:1 NAT: Janus's nat_1_1_mapping
    # Janus's static event loops (threads that serve all handles); 0: a thread per handle.
    # Loaded settings default to one per CPU (bench/sfu.py: about twice the packets per core).
    event_loops: int = 0
    binary: Path = Path("/usr/bin/janus")

    @property
    def enabled(self) -> bool:
        return self.mode != JanusMode.OFF

    @property
    def embedded(self) -> bool:
        return self.mode == JanusMode.EMBEDDED


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
    turn: TurnSettings = field(default_factory=TurnSettings)
    janus: JanusSettings = field(default_factory=JanusSettings)

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


def _turn_mode(raw: str) -> TurnMode:
    try:
        return TurnMode(raw.lower())
    except ValueError:
        raise ValueError(f"must be one of {', '.join(m.value for m in TurnMode)}") from None


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be 1 or 0")


def _ip(raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw.strip("[]")))
    except ValueError:
        raise ValueError(f"{raw!r} is not an IP address") from None


def _ips(raw: str) -> tuple[str, ...]:
    try:
        return tuple(dict.fromkeys(_ip(part.strip()) for part in raw.split(",") if part.strip()))
    except ValueError as exc:
        raise ValueError(f"must be comma-separated IP addresses; {exc}") from None


def _external_ip(raw: str) -> str | None:
    """coturn's ``external-ip``: ``PUBLIC`` or ``PUBLIC/PRIVATE`` (behind a 1:1 NAT)."""
    if not raw:
        return None
    parts = raw.split("/")
    if len(parts) > 2:
        raise ValueError("must be PUBLIC or PUBLIC/PRIVATE, e.g. 203.0.113.7/10.0.0.7")
    try:
        return "/".join(_ip(part) for part in parts)
    except ValueError as exc:
        raise ValueError(f"must be PUBLIC or PUBLIC/PRIVATE IP addresses; {exc}") from None


def _ports(raw: str) -> tuple[int, ...]:
    parse = _int_in(1, 65535)
    try:
        ports = tuple(dict.fromkeys(parse(p.strip()) for p in raw.split(",") if p.strip()))
    except ValueError:
        raise ValueError("must be comma-separated port numbers, e.g. 5349,443") from None
    if not ports:
        raise ValueError("must name at least one port, e.g. 5349")
    return ports


def _port_range(raw: str) -> tuple[int, int]:
    lo, sep, hi = raw.partition("-")
    parse = _int_in(1024, 65535)
    try:
        low, high = parse(lo.strip()), parse(hi.strip())
    except ValueError:
        low = high = 0
    if not sep or not 1024 <= low < high <= 65535:
        raise ValueError("must be LOW-HIGH with 1024 <= LOW < HIGH <= 65535, e.g. 49152-65535")
    return low, high


def _realm(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", raw):
        raise ValueError("must be a domain-like name such as meet.example.com")
    return raw


def _turn_binary(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError("must be the coturn program's name or path, e.g. /usr/bin/turnserver")
    return raw


_REGION = r"[a-z0-9][a-z0-9-]{0,31}"
_TURN_SERVER = re.compile(
    rf"(?:(?P<region>{_REGION})=)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)"
    r"(?::(?P<port>\d{1,5})(?::(?P<tls>\d{1,5}(?:\+\d{1,5})*))?)?"
)
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


def _turn_servers(raw: str) -> tuple[TurnServer, ...]:
    """``[REGION=]HOST[:PORT[:TLS_PORT[+TLS_PORT…]]]``, comma-separated."""
    example = "e.g. eu=turn-eu.example.com,us=turn-us.example.com:3478:5349+443"
    servers: list[TurnServer] = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        match = _TURN_SERVER.fullmatch(entry)
        if match is None:
            raise ValueError(
                "must be [REGION=]HOST[:PORT[:TLS_PORT[+TLS_PORT]]] entries (REGION: a-z, 0-9, "
                f"'-'), {example}"
            )
        host = match["host"]
        if host.startswith("["):
            host = _ip(host)
            if ":" not in host:
                raise ValueError(f"{entry!r}: only IPv6 addresses go in brackets")
        elif not _HOST_NAME.fullmatch(host):
            raise ValueError(f"{entry!r}: {host!r} is not a host name or IP address")
        try:
            port = _int_in(1, 65535)(match["port"] or "3478")
            tls = tuple(_int_in(1, 65535)(p) for p in (match["tls"] or "5349").split("+"))
        except ValueError:
            raise ValueError(f"{entry!r}: ports must be from 1 to 65535") from None
        servers.append(TurnServer(host, port, tls, match["region"] or "default"))
    if not servers:
        raise ValueError(f"must name at least one TURN server, {example}")
    return tuple(servers)


def _region(raw: str) -> str | None:
    if not raw:
        return None
    if not re.fullmatch(_REGION, raw):
        raise ValueError(
            "must be a region label as in SALON_TURN_SERVERS: 1-32 characters a-z, 0-9 and '-', "
            "starting with a letter or digit, e.g. eu"
        )
    return raw


def _janus_mode(raw: str) -> JanusMode:
    try:
        return JanusMode(raw.lower())
    except ValueError:
        raise ValueError(f"must be one of {', '.join(m.value for m in JanusMode)}") from None


_JANUS_NODE = re.compile(r"(?:(?P<region>[a-z0-9][a-z0-9-]{0,31})=)?(?P<url>wss?://\S+)")


def _janus_nodes(raw: str) -> tuple[JanusNodeAddress, ...]:
    """``[REGION=]ws://HOST:PORT``, comma-separated."""
    example = "e.g. eu=ws://10.0.1.5:8188,us=ws://10.1.1.5:8188"
    nodes: dict[str, JanusNodeAddress] = {}
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        match = _JANUS_NODE.fullmatch(entry)
        if match is None:
            raise ValueError(
                f"must be [REGION=]ws://HOST:PORT entries (REGION: a-z, 0-9, '-'), {example}"
            )
        parts = urlsplit(match["url"])
        try:
            port = parts.port
        except ValueError:
            port = None
        host = parts.hostname or ""
        if port is None or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"{entry!r}: give scheme, host and port only, {example}")
        if parts.username is not None or parts.password is not None:
            raise ValueError(f"{entry!r}: the API secret goes in SALON_JANUS_API_SECRET_FILE")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if not _HOST_NAME.fullmatch(host):
                raise ValueError(f"{entry!r}: {host!r} is not a host name or IP address") from None
        else:
            if parts.scheme == "ws" and ip.is_global:
                raise ValueError(
                    f"{entry!r}: the Janus API is not encrypted over ws://; reach the node on a "
                    "private network address, or over wss://"
                )
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        node = JanusNodeAddress(f"{parts.scheme}://{netloc}", match["region"] or "default")
        if node.node_id in nodes:
            raise ValueError(f"{entry!r}: the node {node.node_id} is listed twice")
        nodes[node.node_id] = node
    if not nodes:
        raise ValueError(f"must name at least one Janus node, {example}")
    return tuple(nodes.values())


def _interface_names(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}", name):
            raise ValueError(
                f"must be comma-separated interface names or IP addresses (e.g. eth0,10.0.0.5); "
                f"{name!r} is not one"
            )
    if not names:
        raise ValueError("must name at least one interface or address, e.g. eth0")
    return names


def _program(raw: str) -> Path:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError("must be the path of the Janus program, e.g. /usr/bin/janus")
    return Path(raw)


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


def _default_turn_listening_ips(host: str) -> tuple[str, ...]:
    """Where the embedded coturn listens by default: where Salon listens, or everywhere."""
    if host == "localhost":
        return ("127.0.0.1",)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ()
    return () if ip.is_unspecified else (str(ip),)


def _addresses_overlap(turn_ips: tuple[str, ...], host: str) -> bool:
    if not turn_ips:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name: assume it is one of them
    return ip.is_unspecified or str(ip) in turn_ips


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to anything


def _load_turn(reader: _Reader, data_dir: Path, mode: str, server: ServerSettings) -> TurnSettings:
    default_mode = TurnMode.EMBEDDED if mode == "embedded" else TurnMode.OFF
    turn_mode = reader.get("turn_mode", _turn_mode, default_mode)
    port = reader.get("turn_port", _int_in(1, 65535), 3478)
    default_tls: tuple[int, ...] = (5349,)
    tls_ports = reader.get("turn_tls_ports", _ports, default_tls)
    if port in tls_ports:
        raise ConfigError(
            f"SALON_TURN_PORT and SALON_TURN_TLS_PORTS both name {port}. coturn needs separate "
            "ports for TURN over UDP/TCP and over TLS: change one of them."
        )
    listening_ips = reader.get("turn_listening_ips", _ips, _default_turn_listening_ips(server.host))
    public_host = urlsplit(server.public_url).hostname or "localhost"
    allow_loopback = reader.get("turn_test_allow_loopback_peers", _flag, False)
    # Only safe where nobody but this machine can reach Salon or its coturn: anyone given TURN
    # credentials could otherwise relay to this machine's loopback services (Janus's API, a
    # database...). Tests and bench/join.py run everything on 127.0.0.1.
    if allow_loopback and (
        mode != "embedded"
        or not _is_loopback(server.host)
        or not listening_ips
        or not all(_is_loopback(ip) for ip in listening_ips)
    ):
        raise ConfigError(
            "SALON_TURN_TEST_ALLOW_LOOPBACK_PEERS is for tests only: it lets anyone with TURN "
            "credentials reach this machine's loopback services, so it is refused unless "
            "SALON_MODE is embedded and both Salon (--host / SALON_HOST) and its coturn "
            "(SALON_TURN_LISTENING_IPS) listen on loopback addresses only (e.g. 127.0.0.1). "
            "Remove SALON_TURN_TEST_ALLOW_LOOPBACK_PEERS (or set it to 0)."
        )
    secret_file = reader.path("turn_secret_file", None)
    servers_raw, _ = reader.raw("turn_servers")
    no_servers: tuple[TurnServer, ...] = ()
    servers = reader.get("turn_servers", _turn_servers, no_servers)
    if turn_mode is TurnMode.EXTERNAL:
        if servers_raw is None:
            raise ConfigError(
                "SALON_TURN_MODE=external needs SALON_TURN_SERVERS, the coturn servers to hand "
                "to participants (e.g. eu=turn-eu.example.com,us=turn-us.example.com). Set it, "
                "or use SALON_TURN_MODE=embedded or off."
            )
        if secret_file is None:
            raise ConfigError(
                "SALON_TURN_MODE=external needs SALON_TURN_SECRET_FILE, a file holding the "
                "static-auth-secret your coturn servers use. Set it."
            )
        if not secret_file.is_file():
            raise ConfigError(
                f"SALON_TURN_SECRET_FILE {secret_file} does not exist or is not a file. "
                "Fix the path."
            )
    if turn_mode is TurnMode.EMBEDDED:
        if servers_raw is None:
            advertised = public_host
            if public_host == "localhost":
                advertised = listening_ips[0] if listening_ips else "127.0.0.1"
            servers = (TurnServer(advertised, port, tls_ports, "local"),)
        for salon_port, source in ((server.port, "--port"), (server.http_redirect_port, None)):
            if salon_port is None or salon_port not in (port, *tls_ports):
                continue
            if _addresses_overlap(listening_ips, server.host):
                name = source or "--http-redirect-port"
                raise ConfigError(
                    f"Salon ({name}) and the embedded coturn would both listen on port "
                    f"{salon_port}. Change {name}, SALON_TURN_PORT / SALON_TURN_TLS_PORTS, or "
                    "give coturn an address of its own with SALON_TURN_LISTENING_IPS."
                )
    return TurnSettings(
        mode=turn_mode,
        servers=servers if turn_mode is not TurnMode.OFF else (),
        region=reader.get("turn_region", _region, None),
        secret_file=secret_file or data_dir / "turn.secret",
        credential_ttl_seconds=reader.get("turn_credential_ttl", _int_in(300, 86400), 3600),
        port=port,
        tls_ports=tls_ports,
        listening_ips=listening_ips,
        relay_ips=reader.get("turn_relay_ips", _ips, ()),
        external_ip=reader.get("turn_external_ip", _external_ip, None),
        relay_ports=reader.get("turn_relay_ports", _port_range, (49152, 65535)),
        realm=reader.get("turn_realm", _realm, public_host),
        user_quota=reader.get("turn_user_quota", _int_in(1, 10_000), 20),
        total_quota=reader.get("turn_total_quota", _int_in(1, 1_000_000), 1000),
        allow_loopback_peers=allow_loopback,
        binary=reader.get("turn_binary", _turn_binary, "turnserver"),
    )


_EMBEDDED_JANUS_ONLY = (
    "janus_api_port",
    "janus_interface",
    "janus_ice_enforce_list",
    "janus_rtp_ports",
    "janus_event_loops",
    "janus_public_ips",
    "janus_binary",
)


def _load_janus(
    reader: _Reader, data_dir: Path, mode: str, server: ServerSettings, turn: TurnSettings
) -> JanusSettings:
    default_mode = JanusMode.EMBEDDED if mode == "embedded" else JanusMode.OFF
    janus_mode = reader.get("janus_mode", _janus_mode, default_mode)
    nodes_raw, nodes_source = reader.raw("janus_nodes")
    no_nodes: tuple[JanusNodeAddress, ...] = ()
    nodes = reader.get("janus_nodes", _janus_nodes, no_nodes)
    api_secret_file = reader.path("janus_api_secret_file", None)
    admin_key_file = reader.path("janus_admin_key_file", None)
    if janus_mode is not JanusMode.EXTERNAL and nodes_raw is not None:
        raise ConfigError(
            f"{nodes_source} lists Janus nodes, but SALON_JANUS_MODE is {janus_mode.value}: the "
            "node list is only for SALON_JANUS_MODE=external. Set that mode, or remove the list."
        )
    if janus_mode is JanusMode.EXTERNAL:
        if nodes_raw is None:
            raise ConfigError(
                "SALON_JANUS_MODE=external needs SALON_JANUS_NODES, the Janus nodes Salon drives "
                "(e.g. eu=ws://10.0.1.5:8188,us=ws://10.1.1.5:8188). Set it, or use "
                "SALON_JANUS_MODE=embedded or off."
            )
        for name, path, what in (
            ("SALON_JANUS_API_SECRET_FILE", api_secret_file, "the api_secret of janus.jcfg"),
            ("SALON_JANUS_ADMIN_KEY_FILE", admin_key_file, "the admin_key of the VideoRoom"),
        ):
            if path is None:
                raise ConfigError(
                    f"SALON_JANUS_MODE=external needs {name}, a file holding {what} your Janus "
                    "nodes use. Set it."
                )
            if not path.is_file():
                raise ConfigError(f"{name} {path} does not exist or is not a file. Fix the path.")
        embedded_only = [name for name in _EMBEDDED_JANUS_ONLY if reader.raw(name)[0] is not None]
        if embedded_only:
            names = ", ".join(f"SALON_{name.upper()}" for name in embedded_only)
            raise ConfigError(
                f"{names} configure the Janus node Salon runs itself, but SALON_JANUS_MODE is "
                "external: configure your own Janus nodes instead, and remove them."
            )
    api_port = reader.get("janus_api_port", _int_in(1, 65535), None)
    if janus_mode is JanusMode.EMBEDDED and api_port is not None:
        taken = [(server.port, "--port"), (server.http_redirect_port, "--http-redirect-port")]
        if turn.embedded:
            taken += [(turn.port, "SALON_TURN_PORT")]
            taken += [(port, "SALON_TURN_TLS_PORTS") for port in turn.tls_ports]
        for port, name in taken:
            if port != api_port:
                continue
            # Janus's API listens on 127.0.0.1; only a listener there (or everywhere) clashes.
            if name.startswith("SALON_TURN") or _addresses_overlap(("127.0.0.1",), server.host):
                raise ConfigError(
                    f"SALON_JANUS_API_PORT and {name} are both {port}. Change one of them, or "
                    "leave SALON_JANUS_API_PORT unset to let Salon pick a free port."
                )
    return JanusSettings(
        mode=janus_mode,
        nodes=nodes if janus_mode is JanusMode.EXTERNAL else (),
        api_secret_file=api_secret_file or data_dir / "janus-api.secret",
        admin_key_file=admin_key_file or data_dir / "janus-admin.key",
        api_port=api_port,
        interface=reader.get("janus_interface", _ip, None),
        ice_enforce_list=reader.get("janus_ice_enforce_list", _interface_names, ()),
        rtp_ports=reader.get("janus_rtp_ports", _port_range, (20000, 40000)),
        public_ips=reader.get("janus_public_ips", _ips, ()),
        event_loops=reader.get("janus_event_loops", _int_in(0, 256), os.cpu_count() or 1),
        binary=reader.get("janus_binary", _program, Path("/usr/bin/janus")),
    )


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

    server = ServerSettings(
        host=host,
        port=port,
        public_url=public_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        http_redirect_port=redirect,
        max_body_bytes=reader.get("max_body_bytes", _int_in(1024, 10 * 1024 * 1024), 65536),
    )
    mode = reader.get("mode", _mode, "embedded")
    turn = _load_turn(reader, data_dir, mode, server)
    return Settings(
        data_dir=data_dir,
        server=server,
        database_url=Secret(database_url),
        master_key_file=master_key_file,
        room_key_secret_file=room_key_file,
        rate_limit_points=reader.get("rate_limit_points", _int_in(1, 10_000_000), 1000),
        sweep_interval_seconds=reader.get("sweep_interval_seconds", _int_in(1, 86400), 300),
        log_level=reader.get("log_level", _log_level, "info"),
        mode=mode,
        stun_urls=reader.get("stun_urls", _stun_urls, ()),
        turn=turn,
        janus=_load_janus(reader, data_dir, mode, server, turn),
    )

"""Janus's whole configuration directory, generated from what Salon decides about one node.

Salon never ships or edits Janus's own sample configuration: it writes a directory holding
exactly three files and hands it to ``janus -F DIR``:

- ``janus.jcfg``: the core. Every request needs the API secret; the Admin API has no transport;
  event handlers are off and every external logger, plugin and transport except the VideoRoom
  and the WebSockets transport is disabled by name; every folder is protected, so nothing in
  Janus can write a recording or a packet capture to disk; the DTLS certificate is Salon's
  ECDSA P-256 one (aiortc only speaks ECDHE-ECDSA); ICE uses only the media address.
- ``janus.plugin.videoroom.jcfg``: no static rooms, string ids, an admin key for ``create`` and
  for RTP forwarding, so only Salon makes rooms and forwarders.
- ``janus.transport.websockets.jcfg``: plain ``ws`` on one loopback address and port, with an
  ACL of that address; no ``wss`` and no admin WebSocket.

``render_config`` is pure (text in, text out: the unit tests read it); ``write_config`` puts the
files on disk (0600, they hold secrets) and ``ensure_dtls_certificate`` makes the certificate.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from salon.clock import Clock
from salon.config import Secret
from salon.errors import ConfigError

__all__ = [
    "CONFIG_FILES",
    "DEBIAN_LIB_DIR",
    "PLUGIN",
    "TRANSPORT",
    "JanusConfig",
    "JanusInstall",
    "ensure_dtls_certificate",
    "render_config",
    "write_config",
]

DEBIAN_LIB_DIR = Path("/usr/lib/x86_64-linux-gnu/janus")
PLUGIN = "libjanus_videoroom.so"
TRANSPORT = "libjanus_websockets.so"
CONFIG_FILES = ("janus.jcfg", "janus.plugin.videoroom.jcfg", "janus.transport.websockets.jcfg")

# Strings go between double quotes in Janus's libconfig syntax; anything that could close the
# quote, escape out of it or start a new line is refused rather than escaped.
_SAFE_VALUE = re.compile(r"[^\"\\\x00-\x1f\x7f]*")
_DTLS_VALIDITY = timedelta(days=30)
_DTLS_RENEW_BEFORE = timedelta(days=2)


def _modules(folder: Path) -> tuple[str, ...]:
    """The shared objects Janus would load from ``folder``: it loads every ``*.so`` in it."""
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.name for p in folder.iterdir() if p.name.endswith(".so")))


@dataclass(frozen=True, slots=True)
class JanusInstall:
    """Where Janus's binary and modules are, and which modules each folder holds.

    Janus loads every module in a folder unless its ``disable`` list names it, so the
    generated config disables everything found here except the one plugin and transport.
    """

    binary: Path = Path("/usr/bin/janus")
    lib_dir: Path = DEBIAN_LIB_DIR
    plugins: tuple[str, ...] = ()
    transports: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    loggers: tuple[str, ...] = ()

    @classmethod
    def discover(
        cls, binary: Path = Path("/usr/bin/janus"), lib_dir: Path = DEBIAN_LIB_DIR
    ) -> JanusInstall:
        """The install at ``lib_dir`` as found on disk; fails if Salon's modules are missing."""
        found = cls(
            binary=binary,
            lib_dir=lib_dir,
            plugins=_modules(lib_dir / "plugins"),
            transports=_modules(lib_dir / "transports"),
            events=_modules(lib_dir / "events"),
            loggers=_modules(lib_dir / "loggers"),
        )
        if not binary.is_file():
            raise ConfigError(
                f"Janus is not installed: {binary} is missing (apt-get install janus)."
            )
        if PLUGIN not in found.plugins or TRANSPORT not in found.transports:
            raise ConfigError(
                f"Janus at {lib_dir} lacks {PLUGIN} or {TRANSPORT}; install Debian's janus package."
            )
        return found


def _default_admin_secret() -> Secret:
    # The Admin API has no transport; a random secret nobody keeps still guards it if one
    # were ever switched on by hand.
    return Secret(secrets.token_urlsafe(32))


@dataclass(frozen=True, slots=True)
class JanusConfig:
    """Everything Salon decides about one Janus node.

    ``media_address`` is the address Janus puts in its ICE host candidates (Janus's
    ``interface``); ICE gathers only on ``ice_enforce_list`` (default: that address), so Janus
    never offers an address Salon did not choose. ``nat_1_1_mapping`` is the public address of
    a node behind a 1:1 NAT (a cloud VM).
    """

    api_secret: Secret
    admin_key: Secret
    ws_port: int
    media_address: str
    cert_pem: Path
    cert_key: Path
    ws_host: str = "127.0.0.1"
    ice_enforce_list: tuple[str, ...] = ()
    nat_1_1_mapping: tuple[str, ...] = ()
    keep_private_host: bool = False
    rtp_port_range: tuple[int, int] = (20000, 40000)
    session_timeout: int = 60
    reclaim_session_timeout: int = 15
    debug_level: int = 3
    # Janus's static event loops: 0 gives every handle a thread of its own (Janus's default).
    event_loops: int = 0
    ipv6: bool = False
    server_name: str = "salon-janus"
    admin_secret: Secret = field(default_factory=_default_admin_secret)

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.ws_port <= 65535:
            problems.append(f"the WebSocket port {self.ws_port} is not a port")
        low, high = self.rtp_port_range
        if not 1024 <= low < high <= 65535:
            problems.append(f"the RTP port range {low}-{high} must be within 1024-65535")
        if not 0 <= self.event_loops <= 256:
            problems.append(f"the number of event loops {self.event_loops} must be 0-256")
        if not 0 <= self.debug_level <= 7:
            problems.append(f"the debug level {self.debug_level} must be 0-7")
        if self.session_timeout < 1:
            problems.append("the session timeout must be at least 1 s (0 would keep dead ones)")
        if self.reclaim_session_timeout < 0:
            problems.append("the reclaim timeout cannot be negative")
        try:
            ws = ipaddress.ip_address(self.ws_host)
        except ValueError:
            problems.append(f"the WebSocket host {self.ws_host!r} must be an IP address")
        else:
            if not ws.is_loopback and not ws.is_private:
                problems.append(
                    f"the WebSocket host {self.ws_host} is public; Janus's API must stay on "
                    "loopback or a private network"
                )
        for secret, name in ((self.api_secret, "API secret"), (self.admin_key, "admin key")):
            if len(secret.reveal()) < 16:
                problems.append(f"the Janus {name} must be at least 16 characters")
        if problems:
            raise ConfigError("Janus configuration: " + "; ".join(problems) + ".")

    @property
    def ws_url(self) -> str:
        return f"ws://{self.ws_host}:{self.ws_port}"

    @property
    def enforced_interfaces(self) -> tuple[str, ...]:
        return self.ice_enforce_list or (self.media_address,)


def _quote(value: str | Path) -> str:
    text = str(value)
    if _SAFE_VALUE.fullmatch(text) is None:
        raise ConfigError(f"Janus configuration: the value {text!r} has a quote or control char.")
    return f'"{text}"'


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _category(name: str, items: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"\t{key} = {value}\n" for key, value in items)
    return f"{name}: {{\n{body}}}\n"


def _disable(available: Iterable[str], keep: str | None = None) -> tuple[str, str] | None:
    names = [name for name in available if name != keep]
    return ("disable", _quote(",".join(names))) if names else None


def _present(*items: tuple[str, str] | None) -> list[tuple[str, str]]:
    return [item for item in items if item is not None]


def _janus_jcfg(config: JanusConfig, install: JanusInstall, configs_folder: Path) -> str:
    low, high = config.rtp_port_range
    general = _present(
        ("configs_folder", _quote(configs_folder)),
        ("plugins_folder", _quote(install.lib_dir / "plugins")),
        ("transports_folder", _quote(install.lib_dir / "transports")),
        ("events_folder", _quote(install.lib_dir / "events")),
        ("loggers_folder", _quote(install.lib_dir / "loggers")),
        ("log_to_stdout", "true"),
        ("debug_level", str(config.debug_level)),
        ("debug_timestamps", "true"),
        ("debug_colors", "false"),
        ("server_name", _quote(config.server_name)),
        ("interface", _quote(config.media_address)),
        ("session_timeout", str(config.session_timeout)),
        ("reclaim_session_timeout", str(config.reclaim_session_timeout)),
        ("api_secret", _quote(config.api_secret.reveal())),
        ("admin_secret", _quote(config.admin_secret.reveal())),
        ("token_auth", "false"),
        ("hide_dependencies", "true"),
        ("event_loops", str(config.event_loops)) if config.event_loops else None,
        ("no_webrtc_encryption", "false"),
        # Every path starts with "/": Janus refuses to write recordings or captures anywhere.
        ("protected_folders", '[ "/" ]'),
    )
    certificates = [
        ("cert_pem", _quote(config.cert_pem)),
        ("cert_key", _quote(config.cert_key)),
    ]
    media = [
        ("ipv6", _bool(config.ipv6)),
        ("rtp_port_range", _quote(f"{low}-{high}")),
    ]
    nat = _present(
        ("nice_debug", "false"),
        ("ice_enforce_list", _quote(",".join(config.enforced_interfaces))),
        ("nat_1_1_mapping", _quote(",".join(config.nat_1_1_mapping)))
        if config.nat_1_1_mapping
        else None,
        ("keep_private_host", _bool(config.keep_private_host)) if config.nat_1_1_mapping else None,
    )
    return "".join(
        [
            "# Generated by Salon for this Janus node; edits are overwritten at start.\n",
            _category("general", general),
            _category("certificates", certificates),
            _category("media", media),
            _category("nat", nat),
            _category("plugins", _present(_disable(install.plugins, PLUGIN))),
            _category("transports", _present(_disable(install.transports, TRANSPORT))),
            _category("loggers", _present(_disable(install.loggers))),
            _category("events", _present(("broadcast", "false"), _disable(install.events))),
        ]
    )


def _videoroom_jcfg(config: JanusConfig) -> str:
    general = [
        ("admin_key", _quote(config.admin_key.reveal())),
        ("lock_rtp_forward", "true"),
        ("string_ids", "true"),
        ("events", "false"),
    ]
    return "# Generated by Salon: no static rooms; only Salon creates them.\n" + _category(
        "general", general
    )


def _websockets_jcfg(config: JanusConfig) -> str:
    general = [
        ("json", _quote("compact")),
        ("events", "false"),
        ("ws", "true"),
        ("ws_port", str(config.ws_port)),
        ("ws_ip", _quote(config.ws_host)),
        ("ws_acl", _quote(config.ws_host)),
        ("ws_logging", _quote("err")),
        ("wss", "false"),
    ]
    admin = [("admin_ws", "false"), ("admin_wss", "false")]
    return (
        "# Generated by Salon: the Janus API on one loopback or private address, no admin API.\n"
        + _category("general", general)
        + _category("admin", admin)
    )


def render_config(
    config: JanusConfig, install: JanusInstall, configs_folder: Path
) -> Mapping[str, str]:
    """The text of each file of the config directory, by file name."""
    return {
        "janus.jcfg": _janus_jcfg(config, install, configs_folder),
        "janus.plugin.videoroom.jcfg": _videoroom_jcfg(config),
        "janus.transport.websockets.jcfg": _websockets_jcfg(config),
    }


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def write_config(config: JanusConfig, install: JanusInstall, directory: Path) -> Path:
    """Writes the config directory (mode 0700, files 0600) and returns it.

    Anything else in ``directory`` named like a Janus config file is removed, so a file left
    from another version cannot switch on a plugin or transport.
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for stale in directory.glob("janus*.jcfg"):
        if stale.name not in CONFIG_FILES:
            stale.unlink()
    for name, text in render_config(config, install, directory).items():
        _write_private(directory / name, text.encode())
    return directory


def ensure_dtls_certificate(directory: Path, clock: Clock) -> tuple[Path, Path]:
    """Paths of Janus's DTLS certificate and key in ``directory``, made if missing or expiring.

    ECDSA P-256, self-signed: WebRTC peers check its fingerprint from the SDP, not a chain.
    """
    cert_path, key_path = directory / "dtls-cert.pem", directory / "dtls-key.pem"
    now = clock.now()
    if cert_path.exists() and key_path.exists():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if current.not_valid_after_utc - _DTLS_RENEW_BEFORE > now:
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "salon-janus")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _DTLS_VALIDITY)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path

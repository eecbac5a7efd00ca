"""The Janus config directory Salon generates, read as text."""

from __future__ import annotations

import re
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from salon.clock import FakeClock
from salon.config import Secret
from salon.errors import ConfigError
from salon.janus.config import (
    CONFIG_FILES,
    JanusConfig,
    JanusInstall,
    ensure_dtls_certificate,
    render_config,
    write_config,
)

INSTALL = JanusInstall(
    binary=Path("/usr/bin/janus"),
    lib_dir=Path("/opt/janus/lib"),
    plugins=("libjanus_echotest.so", "libjanus_streaming.so", "libjanus_videoroom.so"),
    transports=("libjanus_http.so", "libjanus_pfunix.so", "libjanus_websockets.so"),
    events=("libjanus_sampleevh.so", "libjanus_wsevh.so"),
    loggers=("libjanus_jsonlog.so",),
)
API_SECRET = "api-secret-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"


def make_config(**overrides: object) -> JanusConfig:
    values: dict[str, object] = {
        "api_secret": Secret(API_SECRET),
        "admin_key": Secret(ADMIN_KEY),
        "ws_port": 18188,
        "media_address": "10.77.0.1",
        "cert_pem": Path("/data/janus/dtls-cert.pem"),
        "cert_key": Path("/data/janus/dtls-key.pem"),
        "admin_secret": Secret("admin-secret-never-used-0123"),
    }
    values.update(overrides)
    return JanusConfig(**values)  # type: ignore[arg-type]


def files(**overrides: object) -> dict[str, str]:
    return dict(render_config(make_config(**overrides), INSTALL, Path("/data/janus")))


def category(text: str, name: str) -> dict[str, str]:
    """The ``key = value`` items of one ``name: { ... }`` category."""
    match = re.search(rf"^{name}: {{\n(.*?)^}}", text, re.S | re.M)
    assert match, f"no category {name}"
    items = {}
    for line in match.group(1).splitlines():
        key, _, value = line.strip().partition(" = ")
        items[key] = value
    return items


def test_exactly_three_files() -> None:
    assert set(files()) == set(CONFIG_FILES)


def test_core_requires_the_api_secret_and_keeps_the_admin_api_shut() -> None:
    general = category(files()["janus.jcfg"], "general")
    assert general["api_secret"] == f'"{API_SECRET}"'
    assert general["admin_secret"] == '"admin-secret-never-used-0123"'
    assert general["token_auth"] == "false"
    assert general["no_webrtc_encryption"] == "false"
    assert general["hide_dependencies"] == "true"
    assert general["protected_folders"] == '[ "/" ]'
    assert general["configs_folder"] == '"/data/janus"'
    assert general["plugins_folder"] == '"/opt/janus/lib/plugins"'
    assert general["debug_level"] == "3"
    assert general["session_timeout"] == "60"


def test_only_the_videoroom_and_websockets_are_loaded() -> None:
    text = files()["janus.jcfg"]
    assert category(text, "plugins") == {"disable": '"libjanus_echotest.so,libjanus_streaming.so"'}
    assert category(text, "transports") == {"disable": '"libjanus_http.so,libjanus_pfunix.so"'}
    assert category(text, "loggers") == {"disable": '"libjanus_jsonlog.so"'}
    assert category(text, "events") == {
        "broadcast": "false",
        "disable": '"libjanus_sampleevh.so,libjanus_wsevh.so"',
    }


def test_static_event_loops_only_when_asked() -> None:
    assert category(files(event_loops=2)["janus.jcfg"], "general")["event_loops"] == "2"
    assert "event_loops" not in category(files(event_loops=0)["janus.jcfg"], "general")


def test_media_goes_through_the_chosen_address_only() -> None:
    text = files(rtp_port_range=(30000, 30999))["janus.jcfg"]
    assert category(text, "general")["interface"] == '"10.77.0.1"'
    nat = category(text, "nat")
    assert nat["ice_enforce_list"] == '"10.77.0.1"'
    assert "nat_1_1_mapping" not in nat
    assert "stun_server" not in nat
    media = category(text, "media")
    assert media["rtp_port_range"] == '"30000-30999"'
    assert media["ipv6"] == "false"
    certificates = category(text, "certificates")
    assert certificates == {
        "cert_pem": '"/data/janus/dtls-cert.pem"',
        "cert_key": '"/data/janus/dtls-key.pem"',
    }


def test_a_node_behind_one_to_one_nat() -> None:
    nat = category(
        files(nat_1_1_mapping=("203.0.113.7",), ice_enforce_list=("eth0",))["janus.jcfg"], "nat"
    )
    assert nat["nat_1_1_mapping"] == '"203.0.113.7"'
    assert nat["keep_private_host"] == "false"
    assert nat["ice_enforce_list"] == '"eth0"'


def test_videoroom_has_no_rooms_and_an_admin_key() -> None:
    text = files()["janus.plugin.videoroom.jcfg"]
    assert category(text, "general") == {
        "admin_key": f'"{ADMIN_KEY}"',
        "lock_rtp_forward": "true",
        "string_ids": "true",
        "events": "false",
    }
    assert re.findall(r"^(\S+): {", text, re.M) == ["general"]


def test_websockets_on_loopback_only_without_admin_or_tls() -> None:
    text = files()["janus.transport.websockets.jcfg"]
    general = category(text, "general")
    assert general["ws"] == "true"
    assert general["ws_port"] == "18188"
    assert general["ws_ip"] == '"127.0.0.1"'
    assert general["ws_acl"] == '"127.0.0.1"'
    assert general["wss"] == "false"
    assert category(text, "admin") == {"admin_ws": "false", "admin_wss": "false"}
    assert re.findall(r"^(\S+): {", text, re.M) == ["general", "admin"]


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"ws_port": 0}, "not a port"),
        ({"rtp_port_range": (40000, 30000)}, "RTP port range"),
        ({"rtp_port_range": (80, 2000)}, "RTP port range"),
        ({"debug_level": 9}, "debug level"),
        ({"event_loops": -1}, "event loops"),
        ({"session_timeout": 0}, "session timeout"),
        ({"ws_host": "1.2.3.4"}, "public"),
        ({"ws_host": "localhost"}, "IP address"),
        ({"api_secret": Secret("short")}, "API secret"),
        ({"admin_key": Secret("short")}, "admin key"),
    ],
)
def test_bad_settings_stop_start_up(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        make_config(**overrides)


@pytest.mark.parametrize("value", ['10.0.0.1"\nadmin_ws = true', "a\\b", "x\ty"])
def test_values_that_could_break_out_of_quotes_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="quote or control"):
        files(media_address=value)


def test_the_secrets_do_not_show_in_a_repr() -> None:
    text = repr(make_config())
    assert API_SECRET not in text
    assert ADMIN_KEY not in text


def test_write_config_is_private_and_removes_stray_files(tmp_path: Path) -> None:
    directory = tmp_path / "janus"
    directory.mkdir()
    (directory / "janus.plugin.echotest.jcfg").write_text("general: {}\n")
    (directory / "keep.txt").write_text("not a Janus file")
    write_config(make_config(), INSTALL, directory)
    assert sorted(p.name for p in directory.iterdir()) == sorted([*CONFIG_FILES, "keep.txt"])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in CONFIG_FILES:
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert category((directory / "janus.jcfg").read_text(), "general")["configs_folder"] == (
        f'"{directory}"'
    )


def test_install_discovery_finds_debian_s_janus() -> None:
    if not Path("/usr/bin/janus").exists():
        pytest.skip("Janus is not installed")
    install = JanusInstall.discover()
    assert "libjanus_videoroom.so" in install.plugins
    assert "libjanus_websockets.so" in install.transports


def test_install_discovery_refuses_a_janus_without_the_videoroom(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "transports").mkdir()
    (tmp_path / "transports" / "libjanus_websockets.so").write_bytes(b"")
    binary = tmp_path / "janus"
    binary.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"libjanus_videoroom\.so"):
        JanusInstall.discover(binary=binary, lib_dir=tmp_path)
    with pytest.raises(ConfigError, match="not installed"):
        JanusInstall.discover(binary=tmp_path / "missing", lib_dir=tmp_path)


def test_dtls_certificate_is_ecdsa_p256_and_renewed_before_it_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    cert_path, key_path = ensure_dtls_certificate(tmp_path, clock)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert cert.not_valid_after_utc > clock.now() + timedelta(days=7)

    clock.advance(timedelta(days=7))
    assert ensure_dtls_certificate(tmp_path, clock)[0].read_bytes() == cert_path.read_bytes()
    original = cert_path.read_bytes()
    clock.advance(timedelta(days=22))
    ensure_dtls_certificate(tmp_path, clock)
    renewed = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert_path.read_bytes() != original
    assert renewed.not_valid_after_utc > clock.now() + timedelta(days=7)

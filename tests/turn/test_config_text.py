"""coturn's config as Salon generates it: a golden file, and the decisions one by one."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from salon import __version__
from salon.config import Secret, Settings, TurnSettings, load_settings
from salon.turn.config import (
    ADDRESS_OPTIONS,
    DENIED_PEER_RANGES,
    CoturnConfig,
    CoturnFiles,
    coturn_config,
)

GOLDEN = Path(__file__).with_name("golden") / "coturn-production.conf"
FILES = CoturnFiles(Path("/etc/salon/tls-cert.pem"), Path("/etc/salon/tls-key.pem"))
SECRET = Secret("golden-secret-" + "0123456789abcdef" * 2)


def production_settings(tmp_path: Path, **env: str) -> Settings:
    secret_file = tmp_path / "turn.secret"
    secret_file.write_text(SECRET.reveal())
    return load_settings(
        env={
            "SALON_DATA_DIR": "/srv/salon",
            "SALON_MODE": "production",
            "SALON_PUBLIC_URL": "https://meet.example.com",
            "SALON_TURN_MODE": "external",
            "SALON_TURN_SERVERS": "eu=turn-eu.example.com:3478:5349+443",
            "SALON_TURN_SECRET_FILE": str(secret_file),
            "SALON_TURN_TLS_PORTS": "5349,443",
            "SALON_TURN_LISTENING_IPS": "10.0.0.5",
            "SALON_TURN_EXTERNAL_IP": "203.0.113.10/10.0.0.5",
        }
        | {f"SALON_{k.upper()}": v for k, v in env.items()}
    )


def options(config: CoturnConfig) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    for name, value in config.options:
        found.setdefault(name, []).append(value)
    return found


def test_production_config_matches_the_golden_file(tmp_path: Path):
    config = coturn_config(production_settings(tmp_path).turn, FILES, SECRET)
    golden = GOLDEN.read_text().replace("<version>", __version__)
    assert config.text(with_secret=False) == golden


def test_printed_config_never_holds_the_secret(tmp_path: Path):
    config = coturn_config(production_settings(tmp_path).turn, FILES, SECRET)
    printed = config.text(with_secret=False)
    assert SECRET.reveal() not in printed
    assert "# static-auth-secret=" in printed
    assert SECRET.reveal() not in repr(config)
    written = config.text(with_secret=True)
    assert f"\nstatic-auth-secret={SECRET.reveal()}\n" in written


def test_the_text_is_what_the_options_say(tmp_path: Path):
    """Parsing the text back gives the options (the secret aside)."""
    config = coturn_config(production_settings(tmp_path).turn, FILES, SECRET)
    parsed: list[tuple[str, str | None]] = []
    for line in config.text().splitlines()[1:]:
        name, sep, value = line.partition("=")
        parsed.append((name, value if sep else None))
    expected = [(n, SECRET.reveal() if n == "static-auth-secret" else v) for n, v in config.options]
    assert parsed == expected


def test_security_options(tmp_path: Path):
    found = options(coturn_config(production_settings(tmp_path).turn, FILES, SECRET))
    for flag in (
        "use-auth-secret",
        "fingerprint",
        "no-cli",
        "no-multicast-peers",
        "no-tlsv1",
        "no-tlsv1_1",
        "no-tcp-relay",
        "no-dtls",
        "no-software-attribute",
        "no-rfc5780",
    ):
        assert found[flag] == [None], flag
    for absent in ("allow-loopback-peers", "verbose", "Verbose", "lt-cred-mech", "no-auth"):
        assert absent not in found
    assert found["log-file"] == ["stdout"]
    assert found["realm"] == ["meet.example.com"]
    assert found["user-quota"] == ["20"] and found["total-quota"] == ["1000"]
    assert found["cert"] == ["/etc/salon/tls-cert.pem"]
    assert found["pkey"] == ["/etc/salon/tls-key.pem"]
    # Listeners: 3478 for UDP and TCP, 5349 for TLS, 443 as an aux-server (TLS detected).
    assert found["listening-port"] == ["3478"]
    assert found["tls-listening-port"] == ["5349"]
    assert found["aux-server"] == ["10.0.0.5:443"]


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "100.64.0.1",
        "169.254.169.254",
        "127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::1",
        "fd00::1",
        "fe80::1",
        "ff02::1",
    ],
)
def test_private_and_special_ranges_are_denied(tmp_path: Path, address: str):
    found = options(coturn_config(production_settings(tmp_path).turn, FILES, SECRET))
    ip = ipaddress.ip_address(address)
    ranges = [value.split("-") for value in found["denied-peer-ip"] if value]
    assert any(
        ipaddress.ip_address(r[0]) <= ip <= ipaddress.ip_address(r[-1])
        for r in ranges
        if ipaddress.ip_address(r[0]).version == ip.version
    )


def test_every_not_globally_reachable_address_family_is_covered():
    """Python's own table of special-purpose ranges agrees with the deny list."""
    networks = [ipaddress.ip_network(c) for c in DENIED_PEER_RANGES]
    for sample in (
        "10.9.8.7",
        "192.0.0.1",
        "198.51.100.7",
        "203.0.113.7",
        "fc12::1",
        "2001:db8::1",
    ):
        ip = ipaddress.ip_address(sample)
        assert not ip.is_global
        assert any(ip in n for n in networks if n.version == ip.version), sample
    for public in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        ip = ipaddress.ip_address(public)
        assert not any(ip in n for n in networks if n.version == ip.version), public


def test_own_private_relay_address_is_allowed_back(tmp_path: Path):
    found = options(coturn_config(production_settings(tmp_path).turn, FILES, SECRET))
    assert found["allowed-peer-ip"] == ["10.0.0.5"]
    public = production_settings(
        tmp_path, turn_listening_ips="8.8.4.4,2001:4860:4860::8844", turn_external_ip=""
    )
    assert "allowed-peer-ip" not in options(coturn_config(public.turn, FILES, SECRET))


def test_loopback_only_with_the_test_setting():
    turn = TurnSettings(listening_ips=("127.0.0.1",))
    plain = options(coturn_config(turn, FILES, SECRET))
    assert "allow-loopback-peers" not in plain
    assert "allowed-peer-ip" not in plain  # loopback is never allowed back implicitly
    testing = options(
        coturn_config(
            TurnSettings(listening_ips=("127.0.0.1",), allow_loopback_peers=True), FILES, SECRET
        )
    )
    assert testing["allow-loopback-peers"] == [None]
    assert testing["allowed-peer-ip"] == ["127.0.0.0-127.255.255.255", "::1"]
    # The rest of the deny list is kept.
    assert testing["denied-peer-ip"] == plain["denied-peer-ip"]


def test_addresses_can_go_on_the_command_line(tmp_path: Path):
    config = coturn_config(production_settings(tmp_path).turn, FILES, SECRET)
    without = config.text(addresses=False)
    for name in ADDRESS_OPTIONS:
        assert f"\n{name}=" not in without
    assert "10.0.0.5" not in without and "203.0.113.10" not in without
    assert config.address_arguments() == [
        "--listening-ip=10.0.0.5",
        "--aux-server=10.0.0.5:443",
        "--external-ip=203.0.113.10/10.0.0.5",
        "--allowed-peer-ip=10.0.0.5",
    ]


def test_all_interfaces_when_no_listening_address():
    config = coturn_config(TurnSettings(tls_ports=(5349, 443)), FILES, SECRET)
    found = options(config)
    assert "listening-ip" not in found
    assert found["aux-server"] == ["0.0.0.0:443"]
    ipv6 = options(
        coturn_config(TurnSettings(listening_ips=("::1",), tls_ports=(1, 2)), FILES, None)
    )
    assert ipv6["aux-server"] == ["[::1]:2"]


def test_embedded_files_are_named(tmp_path: Path):
    files = CoturnFiles(FILES.cert, FILES.key, tmp_path / "turn.pid", tmp_path / "turndb")
    found = options(coturn_config(TurnSettings(), files, SECRET))
    assert found["pidfile"] == [str(tmp_path / "turn.pid")]
    assert found["userdb"] == [str(tmp_path / "turndb")]

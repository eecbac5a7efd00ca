"""Settings: flags over environment over defaults; every mistake names the setting to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from salon.config import Secret, load_settings
from salon.errors import ConfigError


def test_defaults(tmp_path: Path):
    settings = load_settings(env={"SALON_DATA_DIR": str(tmp_path)})
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8443
    assert settings.server.public_url == "https://localhost:8443"
    assert settings.database_url.reveal() == f"sqlite:///{tmp_path / 'salon.db'}"
    assert settings.master_key_file == tmp_path / "master.key"
    assert settings.server.http_redirect_port is None


def test_flags_win_over_environment(tmp_path: Path):
    settings = load_settings(
        env={"SALON_DATA_DIR": str(tmp_path), "SALON_PORT": "9000"}, flags={"port": "9443"}
    )
    assert settings.server.port == 9443
    assert settings.server.public_url == "https://localhost:9443"


def test_public_host_follows_port_443(tmp_path: Path):
    settings = load_settings(env={"SALON_DATA_DIR": str(tmp_path), "SALON_PORT": "443"})
    assert settings.server.public_url == "https://localhost"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SALON_PORT": "abc"}, "SALON_PORT='abc' must be a whole number from 1 to 65535"),
        ({"SALON_PORT": "70000"}, "SALON_PORT"),
        ({"SALON_PUBLIC_URL": "http://meet.example.com"}, "must be an https:// URL"),
        ({"SALON_PUBLIC_URL": "https://meet.example.com/path"}, "no path"),
        ({"SALON_DATABASE_URL": "mysql://x"}, "must start with sqlite:/// or postgresql://"),
        ({"SALON_LOG_LEVEL": "loud"}, "must be one of debug, info, warning, error"),
        ({"SALON_RATE_LIMIT_POINTS": "0"}, "SALON_RATE_LIMIT_POINTS"),
        ({"SALON_TLS_CERT": "/nonexistent.pem"}, "Only one of --tls-cert / --tls-key is set"),
        (
            {"SALON_PORT": "8443", "SALON_HTTP_REDIRECT_PORT": "8443"},
            "--http-redirect-port and --port are both 8443",
        ),
    ],
)
def test_wrong_settings_say_what_to_change(tmp_path: Path, env: dict[str, str], says: str):
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"SALON_DATA_DIR": str(tmp_path), **env})
    assert says in caught.value.message


def test_flag_errors_name_the_flag(tmp_path: Path):
    with pytest.raises(ConfigError, match="--port='x'"):
        load_settings(env={"SALON_DATA_DIR": str(tmp_path)}, flags={"port": "x"})


def test_missing_tls_files_are_named(tmp_path: Path):
    env = {"SALON_TLS_CERT": str(tmp_path / "c.pem"), "SALON_TLS_KEY": str(tmp_path / "k.pem")}
    with pytest.raises(ConfigError, match=r"--tls-cert .*c\.pem does not exist"):
        load_settings(env={"SALON_DATA_DIR": str(tmp_path), **env})


def test_database_url_from_file_is_secret(tmp_path: Path):
    secret_file = tmp_path / "db-url"
    secret_file.write_text("postgresql://salon:hunter2@db.internal/salon\n")
    settings = load_settings(
        env={"SALON_DATA_DIR": str(tmp_path), "SALON_DATABASE_URL_FILE": str(secret_file)}
    )
    assert settings.database_url.reveal() == "postgresql+psycopg://salon:hunter2@db.internal/salon"
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)


def test_database_url_set_twice_is_refused(tmp_path: Path):
    secret_file = tmp_path / "db-url"
    secret_file.write_text("postgresql://a/b")
    env = {
        "SALON_DATA_DIR": str(tmp_path),
        "SALON_DATABASE_URL_FILE": str(secret_file),
        "SALON_DATABASE_URL": "postgresql://c/d",
    }
    with pytest.raises(ConfigError, match="set twice"):
        load_settings(env=env)


def test_unreadable_secret_file(tmp_path: Path):
    env = {"SALON_DATA_DIR": str(tmp_path), "SALON_DATABASE_URL_FILE": str(tmp_path / "nope")}
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(env=env)


def test_secret_prints_masked():
    secret = Secret("s3cr3t")
    assert str(secret) == "**********"
    assert "s3cr3t" not in repr(secret)
    assert secret.reveal() == "s3cr3t"


def test_mode_and_stun_urls(tmp_path: Path):
    settings = load_settings(env={"SALON_DATA_DIR": str(tmp_path)})
    assert settings.mode == "embedded" and settings.landing_page
    assert settings.stun_urls == ()
    settings = load_settings(
        env={
            "SALON_DATA_DIR": str(tmp_path),
            "SALON_MODE": "production",
            "SALON_STUN_URLS": "stun:stun.example.com:3478, stuns:stun.example.com",
        }
    )
    assert not settings.landing_page
    assert settings.stun_urls == ("stun:stun.example.com:3478", "stuns:stun.example.com")
    with pytest.raises(ConfigError, match="SALON_STUN_URLS"):
        load_settings(env={"SALON_DATA_DIR": str(tmp_path), "SALON_STUN_URLS": "http://x"})
    with pytest.raises(ConfigError, match="must be embedded or production"):
        load_settings(env={"SALON_DATA_DIR": str(tmp_path), "SALON_MODE": "dev"})


def test_turn_defaults_follow_the_mode(tmp_path: Path):
    embedded = load_settings(env={"SALON_DATA_DIR": str(tmp_path)}).turn
    assert embedded.mode == "embedded" and embedded.embedded
    assert embedded.port == 3478 and embedded.tls_ports == (5349,)
    assert embedded.listening_ips == ("127.0.0.1",)
    assert embedded.secret_file == tmp_path / "turn.secret"
    assert embedded.credential_ttl_seconds == 3600
    assert embedded.realm == "localhost"
    assert not embedded.allow_loopback_peers
    # Browsers are told the local coturn, by address when Salon is reached as "localhost".
    assert [(s.host, s.port, s.tls_ports, s.region) for s in embedded.servers] == [
        ("127.0.0.1", 3478, (5349,), "local")
    ]
    production = load_settings(env={"SALON_DATA_DIR": str(tmp_path), "SALON_MODE": "production"})
    assert production.turn.mode == "off" and not production.turn.enabled
    assert production.turn.servers == ()


def test_embedded_turn_settings(tmp_path: Path):
    turn = load_settings(
        env={
            "SALON_DATA_DIR": str(tmp_path),
            "SALON_HOST": "0.0.0.0",
            "SALON_PUBLIC_URL": "https://meet.example.com",
            "SALON_TURN_TLS_PORTS": "5349, 443",
            "SALON_TURN_RELAY_IPS": "10.0.0.5",
            "SALON_TURN_EXTERNAL_IP": "203.0.113.7/10.0.0.5",
            "SALON_TURN_RELAY_PORTS": "40000-40100",
            "SALON_TURN_CREDENTIAL_TTL": "600",
            "SALON_TURN_USER_QUOTA": "8",
            "SALON_TURN_TOTAL_QUOTA": "200",
        }
    ).turn
    assert turn.listening_ips == ()  # Salon listens everywhere: so does coturn
    assert turn.tls_ports == (5349, 443)
    assert turn.relay_ips == ("10.0.0.5",)
    assert turn.external_ip == "203.0.113.7/10.0.0.5"
    assert turn.relay_ports == (40000, 40100)
    assert turn.credential_ttl_seconds == 600
    assert (turn.user_quota, turn.total_quota) == (8, 200)
    assert turn.realm == "meet.example.com"
    assert [(s.host, s.tls_ports) for s in turn.servers] == [("meet.example.com", (5349, 443))]


def test_external_turn_pool(tmp_path: Path):
    secret = tmp_path / "turn.secret"
    secret.write_text("x" * 40)
    settings = load_settings(
        env={
            "SALON_DATA_DIR": str(tmp_path),
            "SALON_MODE": "production",
            "SALON_TURN_MODE": "external",
            "SALON_TURN_SECRET_FILE": str(secret),
            "SALON_TURN_SERVERS": "eu=turn-eu.example.com, us=[2001:db8::1]:3479:5350+443",
        }
    )
    eu, us = settings.turn.servers
    assert (eu.host, eu.port, eu.tls_ports, eu.region) == (
        "turn-eu.example.com",
        3478,
        (5349,),
        "eu",
    )
    assert (us.host, us.port, us.tls_ports, us.region) == ("2001:db8::1", 3479, (5350, 443), "us")
    assert settings.turn.secret_file == secret
    assert settings.turn.region is None  # no region of its own: participants get the whole pool
    flag = load_settings(
        env={"SALON_DATA_DIR": str(tmp_path), "SALON_TURN_MODE": "external"}
        | {
            "SALON_TURN_SECRET_FILE": str(secret),
            "SALON_TURN_SERVERS": "turn.example.com",
        },
        flags={"turn_mode": "off"},
    )
    assert flag.turn.mode == "off" and flag.turn.servers == ()


def test_the_nodes_turn_region(tmp_path: Path):
    env = {"SALON_DATA_DIR": str(tmp_path), "SALON_TURN_SERVERS": "eu=turn-eu.example.com"}
    assert load_settings(env=env | {"SALON_TURN_REGION": "eu-west-2"}).turn.region == "eu-west-2"
    assert load_settings(env=env | {"SALON_TURN_REGION": ""}).turn.region is None
    assert load_settings(env=env).turn.region is None


LOOPBACK_PEERS = {"SALON_TURN_TEST_ALLOW_LOOPBACK_PEERS": "1"}


@pytest.mark.parametrize(
    "env",
    [
        {},  # tests and bench/join.py: the defaults, on 127.0.0.1
        {"SALON_HOST": "localhost"},
        {"SALON_HOST": "::1"},
        {"SALON_HOST": "127.0.0.1", "SALON_TURN_LISTENING_IPS": "127.0.0.2,::1"},
    ],
)
def test_loopback_peers_are_allowed_when_only_this_machine_can_reach_salon_and_coturn(
    tmp_path: Path, env: dict[str, str]
):
    settings = load_settings(env={"SALON_DATA_DIR": str(tmp_path), **LOOPBACK_PEERS, **env})
    assert settings.turn.allow_loopback_peers


@pytest.mark.parametrize(
    "env",
    [
        {"SALON_MODE": "production", "SALON_TURN_MODE": "embedded"},
        {"SALON_HOST": "0.0.0.0"},  # coturn then listens everywhere too
        {"SALON_HOST": "10.0.0.5"},
        {"SALON_HOST": "meet.example.com"},
        {"SALON_TURN_LISTENING_IPS": "127.0.0.1,10.0.0.5"},  # Salon on loopback, coturn not
        {"SALON_HOST": "0.0.0.0", "SALON_TURN_LISTENING_IPS": "127.0.0.1"},  # coturn on loopback
    ],
)
def test_loopback_peers_are_refused_where_others_could_reach_salon_or_coturn(
    tmp_path: Path, env: dict[str, str]
):
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"SALON_DATA_DIR": str(tmp_path), **LOOPBACK_PEERS, **env})
    message = caught.value.message
    assert "SALON_TURN_TEST_ALLOW_LOOPBACK_PEERS is for tests only" in message
    assert "listen on loopback addresses only" in message
    assert "Remove SALON_TURN_TEST_ALLOW_LOOPBACK_PEERS" in message


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SALON_TURN_MODE": "sometimes"}, "must be one of embedded, external, off"),
        ({"SALON_TURN_MODE": "external"}, "SALON_TURN_MODE=external needs SALON_TURN_SERVERS"),
        (
            {"SALON_TURN_MODE": "external", "SALON_TURN_SERVERS": "turn.example.com"},
            "needs SALON_TURN_SECRET_FILE",
        ),
        (
            {
                "SALON_TURN_MODE": "external",
                "SALON_TURN_SERVERS": "turn.example.com",
                "SALON_TURN_SECRET_FILE": "/nonexistent/secret",
            },
            "SALON_TURN_SECRET_FILE /nonexistent/secret does not exist",
        ),
        ({"SALON_TURN_SERVERS": "eu=bad host"}, "SALON_TURN_SERVERS='eu=bad host'"),
        ({"SALON_TURN_SERVERS": "[10.0.0.1]"}, "only IPv6 addresses go in brackets"),
        ({"SALON_TURN_SERVERS": "turn.example.com:0"}, "ports must be from 1 to 65535"),
        ({"SALON_TURN_PORT": "5349"}, "both name 5349"),
        ({"SALON_TURN_TLS_PORTS": "a,b"}, "must be comma-separated port numbers"),
        ({"SALON_TURN_LISTENING_IPS": "localhost"}, "'localhost' is not an IP address"),
        ({"SALON_TURN_EXTERNAL_IP": "1.2.3.4/5.6.7.8/9"}, "must be PUBLIC or PUBLIC/PRIVATE"),
        ({"SALON_TURN_RELAY_PORTS": "60000-50000"}, "must be LOW-HIGH"),
        ({"SALON_TURN_CREDENTIAL_TTL": "30"}, "from 300 to 86400"),
        ({"SALON_TURN_USER_QUOTA": "0"}, "SALON_TURN_USER_QUOTA"),
        ({"SALON_TURN_REALM": "bad realm"}, "domain-like name"),
        ({"SALON_TURN_REGION": "EU"}, "SALON_TURN_REGION='EU' must be a region label"),
        ({"SALON_TURN_REGION": "eu west"}, "SALON_TURN_REGION"),
        ({"SALON_TURN_REGION": "-eu"}, "a-z, 0-9 and '-'"),
        ({"SALON_TURN_REGION": "x" * 33}, "1-32 characters"),
        ({"SALON_TURN_TEST_ALLOW_LOOPBACK_PEERS": "maybe"}, "must be 1 or 0"),
        ({"SALON_PORT": "3478"}, "Salon (--port) and the embedded coturn would both listen"),
        (
            {"SALON_PORT": "443", "SALON_TURN_TLS_PORTS": "5349,443"},
            "would both listen on port 443",
        ),
    ],
)
def test_wrong_turn_settings_say_what_to_change(tmp_path: Path, env: dict[str, str], says: str):
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"SALON_DATA_DIR": str(tmp_path), **env})
    assert says in caught.value.message


def test_turn_ports_may_match_salon_on_another_address(tmp_path: Path):
    settings = load_settings(
        env={
            "SALON_DATA_DIR": str(tmp_path),
            "SALON_HOST": "10.0.0.4",
            "SALON_PORT": "443",
            "SALON_TURN_LISTENING_IPS": "10.0.0.5",
            "SALON_TURN_TLS_PORTS": "5349,443",
        }
    )
    assert settings.turn.tls_ports == (5349, 443)

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

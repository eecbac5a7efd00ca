"""Janus settings: the modes, the external pool, the embedded node, and clear refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from salon.config import JanusMode, JanusNodeAddress, load_settings
from salon.errors import ConfigError
from salon.janus.credentials import load_janus_credentials, load_secret_file
from salon.janus.pool import pool_from_settings
from salon.media.sfu import SfuNode


def _settings(tmp_path: Path, flags: dict[str, str | None] | None = None, **env: str):
    values = {"SALON_DATA_DIR": str(tmp_path)} | {f"SALON_{k.upper()}": v for k, v in env.items()}
    return load_settings(env=values, flags=flags)


def _external(tmp_path: Path, **env: str) -> dict[str, str]:
    secret, key = tmp_path / "api.secret", tmp_path / "admin.key"
    secret.write_text("s" * 32 + "\n")
    key.write_text("k" * 32 + "\n")
    return {
        "janus_mode": "external",
        "janus_api_secret_file": str(secret),
        "janus_admin_key_file": str(key),
    } | env


def test_embedded_by_default_in_embedded_mode_off_in_production(tmp_path: Path):
    janus = _settings(tmp_path).janus
    assert janus.mode is JanusMode.EMBEDDED and janus.embedded and janus.enabled
    assert janus.nodes == ()
    assert janus.api_port is None  # a free loopback port at each start
    assert janus.interface is None  # the default route's address
    assert janus.rtp_ports == (20000, 40000)
    assert janus.api_secret_file == tmp_path / "janus-api.secret"
    assert janus.admin_key_file == tmp_path / "janus-admin.key"
    assert janus.binary == Path("/usr/bin/janus")
    assert janus.event_loops == (os.cpu_count() or 1)  # static loops, one per CPU
    production = _settings(tmp_path, mode="production").janus
    assert production.mode is JanusMode.OFF and not production.enabled


def test_the_mode_comes_from_a_flag_too(tmp_path: Path):
    janus = _settings(tmp_path, flags={"janus_mode": "off"}, janus_mode="embedded").janus
    assert janus.mode is JanusMode.OFF


def test_embedded_node_settings(tmp_path: Path):
    janus = _settings(
        tmp_path,
        janus_api_port="18188",
        janus_interface="10.0.0.5",
        janus_ice_enforce_list="eth0, 10.0.0.5",
        janus_rtp_ports="30000-30999",
        janus_public_ips="203.0.113.7",
        janus_binary="/opt/janus/bin/janus",
        janus_event_loops="0",
    ).janus
    assert janus.api_port == 18188
    assert janus.interface == "10.0.0.5"
    assert janus.ice_enforce_list == ("eth0", "10.0.0.5")
    assert janus.rtp_ports == (30000, 30999)
    assert janus.public_ips == ("203.0.113.7",)
    assert janus.binary == Path("/opt/janus/bin/janus")
    assert janus.event_loops == 0  # a thread per handle, Janus's own default


def test_external_pool_with_regions(tmp_path: Path):
    janus = _settings(
        tmp_path,
        **_external(
            tmp_path,
            janus_nodes="eu=ws://10.0.1.5:8188, us=ws://10.1.1.5:8188,ws://[fd00::5]:8188,"
            "wss://janus-3.example.com:443",
        ),
    ).janus
    assert janus.mode is JanusMode.EXTERNAL
    assert janus.nodes == (
        JanusNodeAddress("ws://10.0.1.5:8188", "eu"),
        JanusNodeAddress("ws://10.1.1.5:8188", "us"),
        JanusNodeAddress("ws://[fd00::5]:8188", "default"),
        JanusNodeAddress("wss://janus-3.example.com:443", "default"),
    )
    assert [node.node_id for node in janus.nodes] == [
        "10.0.1.5:8188",
        "10.1.1.5:8188",
        "fd00::5:8188",
        "janus-3.example.com:443",
    ]
    assert janus.api_secret_file == tmp_path / "api.secret"
    pool = pool_from_settings(janus, load_janus_credentials(janus, b"r" * 32))
    assert [status.node for status in pool.nodes()] == [
        SfuNode("10.0.1.5:8188", "ws://10.0.1.5:8188", "eu"),
        SfuNode("10.1.1.5:8188", "ws://10.1.1.5:8188", "us"),
        SfuNode("fd00::5:8188", "ws://[fd00::5]:8188", "default"),
        SfuNode("janus-3.example.com:443", "wss://janus-3.example.com:443", "default"),
    ]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"janus_mode": "sometimes"}, "SALON_JANUS_MODE='sometimes' must be one of embedded"),
        (
            {"janus_mode": "external"},
            "SALON_JANUS_MODE=external needs SALON_JANUS_NODES",
        ),
        (
            {"janus_nodes": "ws://10.0.0.5:8188"},
            "the node list is only for SALON_JANUS_MODE=external",
        ),
        ({"janus_api_port": "0"}, "SALON_JANUS_API_PORT='0' must be a whole number"),
        ({"janus_interface": "eth0"}, "SALON_JANUS_INTERFACE='eth0' 'eth0' is not an IP address"),
        (
            {"janus_rtp_ports": "40000-20000"},
            "SALON_JANUS_RTP_PORTS='40000-20000' must be LOW-HIGH",
        ),
        ({"janus_public_ips": "nat"}, "SALON_JANUS_PUBLIC_IPS='nat' must be comma-separated IP"),
        ({"janus_ice_enforce_list": "eth0;rm"}, "SALON_JANUS_ICE_ENFORCE_LIST"),
        ({"janus_event_loops": "many"}, "SALON_JANUS_EVENT_LOOPS='many' must be a whole number"),
        ({"janus_event_loops": "300"}, "SALON_JANUS_EVENT_LOOPS='300' must be a whole number"),
        ({"janus_api_port": "8443"}, "SALON_JANUS_API_PORT and --port are both 8443"),
        ({"janus_api_port": "3478"}, "SALON_JANUS_API_PORT and SALON_TURN_PORT are both 3478"),
    ],
)
def test_wrong_settings_say_what_to_change(tmp_path: Path, env: dict[str, str], says: str):
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, **env)
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("nodes", "says"),
    [
        ("ws://10.0.0.5", "give scheme, host and port only"),
        ("http://10.0.0.5:8188", "must be [REGION=]ws://HOST:PORT entries"),
        ("EU=ws://10.0.0.5:8188", "must be [REGION=]ws://HOST:PORT entries"),
        ("ws://10.0.0.5:8188/janus", "give scheme, host and port only"),
        ("ws://user:pw@10.0.0.5:8188", "the API secret goes in SALON_JANUS_API_SECRET_FILE"),
        ("ws://8.8.4.4:8188", "the Janus API is not encrypted over ws://"),
        ("ws://10.0.0.5:8188,ws://10.0.0.5:8188", "the node 10.0.0.5:8188 is listed twice"),
        ("ws://bad_host:8188", "'bad_host' is not a host name"),
        (",", "must name at least one Janus node"),
    ],
)
def test_wrong_node_lists_are_refused(tmp_path: Path, nodes: str, says: str):
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, **_external(tmp_path, janus_nodes=nodes))
    assert says in caught.value.message
    assert "SALON_JANUS_NODES" in caught.value.message


def test_external_mode_needs_the_secret_files(tmp_path: Path):
    env = _external(tmp_path, janus_nodes="ws://10.0.0.5:8188")
    del env["janus_admin_key_file"]
    with pytest.raises(ConfigError, match="needs SALON_JANUS_ADMIN_KEY_FILE"):
        _settings(tmp_path, **env)
    env = _external(tmp_path, janus_nodes="ws://10.0.0.5:8188")
    env["janus_api_secret_file"] = str(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"SALON_JANUS_API_SECRET_FILE .*missing does not exist"):
        _settings(tmp_path, **env)


def test_external_mode_refuses_settings_of_the_embedded_node(tmp_path: Path):
    env = _external(tmp_path, janus_nodes="ws://10.0.0.5:8188", janus_interface="10.0.0.9")
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, **env)
    assert (
        "SALON_JANUS_INTERFACE configure the Janus node Salon runs itself" in caught.value.message
    )


def test_embedded_secret_files_are_made_once_private(tmp_path: Path):
    janus = _settings(tmp_path).janus
    first = load_janus_credentials(janus, b"r" * 32)
    for path in (janus.api_secret_file, janus.admin_key_file):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = load_janus_credentials(janus, b"r" * 32)
    assert again.api_secret.reveal() == first.api_secret.reveal()
    assert again.admin_key.reveal() == first.admin_key.reveal()
    assert first.api_secret.reveal() != first.admin_key.reveal()
    # The room key is Salon's own, derived from the room-key secret, and never in a file.
    assert again.room_key.reveal() == first.room_key.reveal()
    assert load_janus_credentials(janus, b"x" * 32).room_key.reveal() != first.room_key.reveal()
    assert first.api_secret.reveal() not in repr(first)


def test_a_bad_secret_file_names_the_setting(tmp_path: Path):
    bad = tmp_path / "short"
    bad.write_text("abc\n")
    with pytest.raises(ConfigError, match="SALON_JANUS_API_SECRET_FILE"):
        load_secret_file(bad, create=False, setting="SALON_JANUS_API_SECRET_FILE")


def test_external_secret_files_are_never_created(tmp_path: Path):
    env = _external(tmp_path, janus_nodes="ws://10.0.0.5:8188")
    janus = _settings(tmp_path, **env).janus
    Path(env["janus_admin_key_file"]).unlink()
    with pytest.raises(ConfigError, match="SALON_JANUS_ADMIN_KEY_FILE"):
        load_janus_credentials(janus, b"r" * 32)
    assert not Path(env["janus_admin_key_file"]).exists()

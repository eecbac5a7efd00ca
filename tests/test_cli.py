"""The ``salon`` command as an operator uses it."""

from __future__ import annotations

from pathlib import Path

from tests.support.process import salon


def test_org_and_key_lifecycle(tmp_path: Path):
    data = tmp_path / "data"
    assert "created organization acme" in salon(data, "org", "create", "acme").stdout
    created = salon(data, "keys", "create", "--org", "acme").stdout
    key = created.strip().splitlines()[-1]
    assert key.startswith("salon_")
    listed = salon(data, "keys", "list", "--org", "acme").stdout
    assert key[:12] in listed and "active" in listed
    assert key not in listed
    key_id = listed.split()[0]
    assert "revoked" in salon(data, "keys", "revoke", key_id).stdout
    assert "revoked" in salon(data, "keys", "list", "--org", "acme").stdout
    # The key itself is nowhere in the data dir: only its hash is stored.
    for path in data.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_errors_are_clear_and_exit_non_zero(tmp_path: Path):
    data = tmp_path / "data"
    missing = salon(data, "keys", "create", "--org", "nope", check=False)
    assert missing.returncode == 1
    assert "No organization named 'nope'" in missing.stderr
    salon(data, "org", "create", "acme")
    duplicate = salon(data, "org", "create", "acme", check=False)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    bad_name = salon(data, "org", "create", "<script>", check=False)
    assert bad_name.returncode == 1
    assert "name:" in bad_name.stderr
    bad_env = salon(data, "org", "list", env={"SALON_RATE_LIMIT_POINTS": "lots"}, check=False)
    assert bad_env.returncode == 2
    assert "SALON_RATE_LIMIT_POINTS='lots'" in bad_env.stderr


def test_delete_needs_yes_then_shreds(tmp_path: Path):
    data = tmp_path / "data"
    salon(data, "org", "create", "acme", "--contact-email", "dpo@acme.example")
    refused = salon(data, "org", "delete", "acme", check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "acme" in salon(data, "org", "list").stdout
    assert "data key is destroyed" in salon(data, "org", "delete", "acme", "--yes").stdout
    assert "acme" not in salon(data, "org", "list").stdout


def test_find_by_contact_email(tmp_path: Path):
    data = tmp_path / "data"
    salon(data, "org", "create", "acme", "--contact-email", "DPO@acme.example")
    salon(data, "org", "create", "beta", "--contact-email", "dpo@beta.example")
    found = salon(data, "org", "find", "--email", "dpo@acme.example").stdout
    assert "acme" in found and "beta" not in found


def test_rotate_master_keeps_data_readable(tmp_path: Path):
    data = tmp_path / "data"
    salon(data, "org", "create", "acme", "--contact-email", "dpo@acme.example")
    before = (data / "master.key").read_text()
    out = salon(data, "keys", "rotate-master").stdout
    assert "re-wrapped 1 data keys" in out
    assert (data / "master.key").read_text() != before
    assert "acme" in salon(data, "org", "find", "--email", "dpo@acme.example").stdout


def test_privacy_inventory_prints_markdown(tmp_path: Path):
    out = salon(tmp_path / "data", "privacy", "inventory").stdout
    assert out.startswith("# Salon data inventory")
    assert "| `organizations.contact_email_enc` | contact data | yes |" in out

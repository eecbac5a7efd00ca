"""Envelope encryption: per-org keys, column binding, one opaque failure, master key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from salon.errors import ConfigError, DecryptionError
from salon.storage.envelope import (
    MasterKey,
    OrgCipher,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)


@pytest.fixture
def cipher() -> OrgCipher:
    return OrgCipher("org-a", new_data_key())


def test_seal_open_round_trip(cipher: OrgCipher):
    sealed = cipher.seal("meetings.recording", b"secret")
    assert b"secret" not in sealed
    assert cipher.open("meetings.recording", sealed) == b"secret"


def test_each_seal_uses_a_fresh_nonce(cipher: OrgCipher):
    assert cipher.seal("c", b"x") != cipher.seal("c", b"x")


def test_value_moved_to_another_column_does_not_open(cipher: OrgCipher):
    sealed = cipher.seal("meetings.recording", b"secret")
    with pytest.raises(DecryptionError):
        cipher.open("meetings.streaming", sealed)


def test_value_moved_to_another_org_does_not_open():
    key = new_data_key()
    sealed = OrgCipher("org-a", key).seal("c", b"secret")
    # Even with the very same key bytes, the org id is bound into the ciphertext.
    with pytest.raises(DecryptionError):
        OrgCipher("org-b", key).open("c", sealed)


@pytest.mark.parametrize("mangle", [lambda b: b[:-1], lambda b: b"\x02" + b[1:], lambda b: b[:5]])
def test_tampering_gives_one_opaque_error(cipher: OrgCipher, mangle):
    sealed = cipher.seal("c", b"secret")
    with pytest.raises(DecryptionError) as caught:
        cipher.open("c", mangle(sealed))
    assert caught.value.message == "Stored data could not be decrypted."


def test_wrapped_key_is_bound_to_its_org():
    master = MasterKey.generate()
    data_key = new_data_key()
    wrapped = wrap_data_key(master, "org-a", data_key)
    assert unwrap_data_key(master, "org-a", wrapped) == data_key
    with pytest.raises(DecryptionError):
        unwrap_data_key(master, "org-b", wrapped)
    with pytest.raises(DecryptionError):
        unwrap_data_key(MasterKey.generate(), "org-a", wrapped)


def test_blind_index_is_keyed_and_normalised(cipher: OrgCipher):
    one = cipher.blind_index("organizations.contact_email", "Privacy@Example.com ")
    assert one == cipher.blind_index("organizations.contact_email", "privacy@example.com")
    assert one != cipher.blind_index("organizations.contact_email", "other@example.com")
    assert one != OrgCipher("org-a", new_data_key()).blind_index(
        "organizations.contact_email", "privacy@example.com"
    )
    assert one != cipher.blind_index("other.column", "privacy@example.com")


def test_master_key_file_is_private(tmp_path: Path):
    path = tmp_path / "keys" / "master.key"
    created = MasterKey.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert MasterKey.load_or_create(path).key_id == created.key_id
    assert created.key.hex() not in repr(created)


def test_broken_master_key_file_says_what_to_do(tmp_path: Path):
    path = tmp_path / "master.key"
    path.write_text("not a key")
    with pytest.raises(ConfigError, match="is not a Salon master key"):
        MasterKey.load(path)

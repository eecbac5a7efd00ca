from __future__ import annotations

from salon.auth.api_keys import KEY_PREFIX, generate_api_key, hash_api_key


def test_keys_are_random_and_only_their_hash_is_kept():
    one, two = generate_api_key(), generate_api_key()
    assert one.plaintext != two.plaintext
    assert one.plaintext.startswith(KEY_PREFIX)
    assert len(one.plaintext) >= len(KEY_PREFIX) + 43
    assert one.key_hash == hash_api_key(one.plaintext)
    assert one.plaintext not in repr(one)
    assert one.plaintext.startswith(one.display_prefix)

from __future__ import annotations

import re

import pytest

from salon.rooms.names import RoomNamePattern, generate_room_name, normalise_prefix


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Example Prefix", "exampleprefix"), ("/legacy-prefix", "legacy-prefix"), ("", "")],
)
def test_normalise_prefix(raw: str, expected: str):
    assert normalise_prefix(raw) == expected


@pytest.mark.parametrize("raw", ["a" * 40, "under_score", "ünïcode", "dot.ted", "//x"])
def test_bad_prefixes(raw: str):
    with pytest.raises(ValueError, match=r"must be|may contain"):
        normalise_prefix(raw)


def test_uuid_names():
    name = generate_room_name("clinic", RoomNamePattern.UUID)
    assert re.fullmatch(
        r"/clinic-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", name
    )
    assert generate_room_name("clinic-", RoomNamePattern.UUID).startswith("/clinic-")
    assert not generate_room_name("clinic-", RoomNamePattern.UUID).startswith("/clinic--")


def test_human_short_names_avoid_lookalikes():
    names = {generate_room_name("", RoomNamePattern.HUMAN_SHORT) for _ in range(200)}
    assert len(names) > 190
    for name in names:
        assert re.fullmatch(r"/[a-z2-9]{6}", name)
        assert not set(name) & set("01ilo")

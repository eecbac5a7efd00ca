"""People in a normal room see and hear each other, peer to peer (issue 3, "Proof")."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Participants, Salon
from tests.e2e.media import assert_full_mesh

NAMES = ["Ann", "Bob", "Cleo", "Dev"]


@pytest.mark.parametrize("count", [2, 4])
def test_everyone_decodes_everyone_peer_to_peer(
    salon_server: Salon, participants: Participants, count: int
):
    meeting = salon_server.create_meeting(roomMode="normal")
    people = [participants(meeting.room_url, name) for name in NAMES[:count]]
    for person in people:
        person.wait_screen("in_room")
    assert_full_mesh(people)

"""The room lifecycle table: open from creation, deactivated at end + 1 h, purged by end + 24 h."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from salon.rooms.lifecycle import (
    ALLOWED,
    RoomAction,
    RoomPhase,
    allows,
    phase_at,
)

END = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "phase"),
    [
        (timedelta(days=-3), RoomPhase.OPEN),
        (timedelta(0), RoomPhase.OPEN),
        (timedelta(minutes=59, seconds=59), RoomPhase.OPEN),
        (timedelta(hours=1), RoomPhase.DEACTIVATED),
        (timedelta(hours=22, minutes=59), RoomPhase.DEACTIVATED),
        (timedelta(hours=23), RoomPhase.PURGED),
        (timedelta(hours=24), RoomPhase.PURGED),
    ],
)
def test_phase_at(offset: timedelta, phase: RoomPhase):
    assert phase_at(END, END + offset) is phase


def test_every_phase_and_action_is_in_the_table():
    assert set(ALLOWED) == set(RoomPhase)
    for phase in RoomPhase:
        for action in RoomAction:
            allows(phase, action)


def test_deactivated_rooms_allow_nothing_but_being_listed():
    assert {a for a in RoomAction if allows(RoomPhase.DEACTIVATED, a)} == {RoomAction.SHOW_IN_API}
    assert not any(allows(RoomPhase.PURGED, a) for a in RoomAction)
    assert all(allows(RoomPhase.OPEN, a) for a in RoomAction)

"""The lifecycle and permission tables, cell by cell: a new row or column is tested here without
anyone writing a test for it."""

from __future__ import annotations

import itertools

import pytest

from salon.auth.room_keys import RoomRole
from salon.errors import Forbidden
from salon.rooms.participants import (
    FINAL_STATES,
    IN_ROOM,
    PARTICIPANT_TRANSITIONS,
    PERMISSIONS,
    ROOM_TRANSITIONS,
    IllegalTransition,
    ParticipantEvent,
    ParticipantState,
    Permission,
    RoomEvent,
    RoomState,
    may,
    participant_transition,
    require,
    room_transition,
)

P = ParticipantState
E = ParticipantEvent

PARTICIPANT_CELLS = list(itertools.product(ParticipantState, ParticipantEvent))
ROOM_CELLS = list(itertools.product(RoomState, RoomEvent))


def test_every_state_has_a_row():
    assert set(PARTICIPANT_TRANSITIONS) == set(ParticipantState)
    assert set(ROOM_TRANSITIONS) == set(RoomState)


@pytest.mark.parametrize(("state", "event"), PARTICIPANT_CELLS)
def test_participant_cell(state: ParticipantState, event: ParticipantEvent):
    role = RoomRole.VISITOR if state in IN_ROOM else None
    row = PARTICIPANT_TRANSITIONS[state]
    if event in row:
        assert participant_transition(state, event, role) is row[event]
        return
    with pytest.raises(IllegalTransition) as raised:
        participant_transition(state, event, role)
    error = raised.value
    assert (error.event, error.role, error.state) == (event, role, state)
    assert error.code == "illegal_transition"
    assert error.signal_code == ("invalid_message" if state in IN_ROOM else "not_in_room")
    assert error.message.endswith(".")
    assert error.message[0].isupper()


@pytest.mark.parametrize(
    ("state", "event", "role", "message"),
    [
        (P.JOINED, E.JOIN, RoomRole.HOST, "A host who is in the room cannot join."),
        (P.ABSENT, E.LEAVE, None, "Someone who is not in the room cannot leave."),
        (P.KNOCKING, E.KNOCK, None, "Someone who is waiting to be let in cannot knock."),
        (
            P.RECONNECTING,
            E.CONNECTION_LOST,
            RoomRole.VIEWER,
            "A viewer who is reconnecting cannot lose the connection.",
        ),
        (
            P.JOINED,
            E.ADMIT,
            RoomRole.GRANTED_VISITOR,
            "An admitted visitor who is in the room cannot be let in.",
        ),
    ],
)
def test_illegal_transition_messages_name_event_role_and_state(
    state: ParticipantState, event: ParticipantEvent, role: RoomRole | None, message: str
):
    with pytest.raises(IllegalTransition, match=f"^{message}$"):
        participant_transition(state, event, role)


def test_final_states_are_the_rows_without_ways_out():
    assert {ParticipantState.LEFT, ParticipantState.ADMITTED} == FINAL_STATES


def test_every_state_is_reachable_and_every_live_state_can_end():
    reachable = {ParticipantState.ABSENT}
    frontier = [ParticipantState.ABSENT]
    while frontier:
        for target in PARTICIPANT_TRANSITIONS[frontier.pop()].values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(ParticipantState)
    for state in ParticipantState:
        if state not in FINAL_STATES and state is not ParticipantState.ABSENT:
            assert ParticipantEvent.MEETING_END in PARTICIPANT_TRANSITIONS[state]


@pytest.mark.parametrize(("state", "event"), ROOM_CELLS)
def test_room_cell(state: RoomState, event: RoomEvent):
    row = ROOM_TRANSITIONS[state]
    if event in row:
        assert room_transition(state, event) is row[event]
        return
    with pytest.raises(IllegalTransition) as raised:
        room_transition(state, event)
    assert (raised.value.event, raised.value.role, raised.value.state) == (event, None, state)
    assert raised.value.message.startswith("A room that is ")


def test_an_ended_room_stays_ended():
    assert ROOM_TRANSITIONS[RoomState.ENDED] == {}
    assert all(RoomEvent.END_MEETING in ROOM_TRANSITIONS[s] for s in RoomState if s != "ended")


def test_every_role_has_permissions():
    assert set(PERMISSIONS) == set(RoomRole)


@pytest.mark.parametrize(("role", "permission"), list(itertools.product(RoomRole, Permission)))
def test_permission_cell(role: RoomRole, permission: Permission):
    if permission in PERMISSIONS[role]:
        assert may(role, permission)
        require(role, permission)
        return
    assert not may(role, permission)
    with pytest.raises(Forbidden) as raised:
        require(role, permission)
    assert raised.value.signal_code == "forbidden"
    assert raised.value.message.endswith(".")


def test_roles_at_a_glance():
    assert PERMISSIONS[RoomRole.HOST] == frozenset(Permission)
    assert PERMISSIONS[RoomRole.VIEWER] == frozenset()
    assert PERMISSIONS[RoomRole.VISITOR] == {Permission.PUBLISH}
    assert PERMISSIONS[RoomRole.GRANTED_VISITOR] == {
        Permission.PUBLISH,
        Permission.JOIN_LOCKED_ROOM,
    }


@pytest.mark.parametrize(
    ("permission", "message"),
    [
        (Permission.LOCK, "Only hosts can lock or unlock the room."),
        (Permission.REMOVE, "Only hosts can remove participants."),
        (Permission.END_MEETING, "Only hosts can end the meeting."),
    ],
)
def test_refusals_say_who_may(permission: Permission, message: str):
    with pytest.raises(Forbidden, match=f"^{message}$"):
        require(RoomRole.VISITOR, permission)

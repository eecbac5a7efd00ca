"""The room engine, driven event by event with explicit times: no event loop, no sleeping."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from salon.auth.room_keys import RoomRole
from salon.rooms.engine import CAPACITY, ParticipantView, Room
from salon.rooms.events import (
    AdmitKnocker,
    Broadcast,
    CancelKnock,
    ChatDelete,
    ChatRelay,
    ConnectionLost,
    Disconnect,
    Effect,
    EndMeeting,
    Event,
    GrantKey,
    HoldKnocker,
    Join,
    Knock,
    Leave,
    MediaState,
    MuteKind,
    ParticipantJoinedSession,
    ParticipantLeftSession,
    RejectKnocker,
    RemoveParticipant,
    Reply,
    RequestMute,
    Resume,
    Send,
    SessionEnded,
    SessionStarted,
    SetLock,
    Signal,
    Tick,
)
from salon.rooms.participants import (
    FINAL_STATES,
    IN_ROOM,
    PARTICIPANT_TRANSITIONS,
    IllegalTransition,
    ParticipantEvent,
    ParticipantState,
    participant_transition,
)
from salon.services.meetings import RoomMode
from tests.rooms.test_sdp import CHROME_OFFER, RECVONLY_ANSWER

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)
HOST, VISITOR, GRANTED, VIEWER = (
    RoomRole.HOST,
    RoomRole.VISITOR,
    RoomRole.GRANTED_VISITOR,
    RoomRole.VIEWER,
)
HOSTS = frozenset({HOST})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_room(mode: RoomMode = RoomMode.NORMAL, *, locked: bool = False) -> Room:
    return Room("/clinic-abc", "m-1", mode, locked)


def join(
    room: Room, pid: str, role: RoomRole = VISITOR, when: datetime = T0, **media: bool
) -> list[Effect]:
    return room.handle(Join(pid, role, display_name=pid.title(), **media), when)


def ok(to: str, **data: Any) -> Reply:
    return Reply(to, ok=True, data=data)


def reply(effects: list[Effect]) -> Reply:
    """The one reply in ``effects``."""
    replies = [e for e in effects if isinstance(e, Reply)]
    assert len(replies) == 1, effects
    return replies[0]


def refusal(effects: list[Effect]) -> tuple[str | None, str | None]:
    """The one error reply in ``effects``: (code, message)."""
    errors = [e for e in effects if isinstance(e, Reply) and not e.ok]
    assert len(errors) == 1, effects
    return errors[0].error_code, errors[0].error_message


def wire(pid: str, role: RoomRole = VISITOR, **changes: Any) -> dict[str, Any]:
    participant = {
        "id": pid,
        "displayName": pid.title(),
        "role": role.value,
        "audio": False,
        "video": False,
        "screenshare": False,
        "connection": "stable",
    }
    return participant | changes


def without_sessions(effects: list[Effect]) -> list[Effect]:
    attendance = (SessionStarted, SessionEnded, ParticipantJoinedSession, ParticipantLeftSession)
    return [e for e in effects if not isinstance(e, attendance)]


def attendance(effects: list[Effect]) -> list[tuple[str, str | None, datetime]]:
    """Session effects as (kind, participant, time), ids left out."""
    out: list[tuple[str, str | None, datetime]] = []
    for e in effects:
        match e:
            case SessionStarted():
                out.append(("started", None, e.at))
            case SessionEnded():
                out.append(("ended", None, e.at))
            case ParticipantJoinedSession():
                out.append(("joined", e.participant_id, e.at))
            case ParticipantLeftSession():
                out.append(("left", e.participant_id, e.at))
    return out


# --- joining ---------------------------------------------------------------------------------


def test_first_join_gets_the_room_and_nobody_else():
    room = new_room()
    assert join(room, "ann", HOST, audio=True, video=True) == [
        ok(
            "ann",
            self=wire("ann", HOST, audio=True, video=True),
            participants=[],
            room={"roomName": "/clinic-abc", "mode": "normal", "locked": False},
            knocks=[],
        ),
        Broadcast(
            "participant_joined",
            {"participant": wire("ann", HOST, audio=True, video=True)},
            exclude="ann",
        ),
    ]
    assert room.participants == [
        ParticipantView(
            "ann", "Ann", HOST, ParticipantState.JOINED, audio=True, video=True, joined_at=T0
        )
    ]


def test_second_join_sees_the_first_and_starts_a_session():
    room = new_room()
    join(room, "ann", HOST, when=at(0))
    effects = join(room, "bob", when=at(5))
    assert without_sessions(effects) == [
        ok(
            "bob",
            self=wire("bob"),
            participants=[wire("ann", HOST)],
            room={"roomName": "/clinic-abc", "mode": "normal", "locked": False},
        ),
        Broadcast("participant_joined", {"participant": wire("bob")}, exclude="bob"),
    ]
    assert attendance(effects) == [
        ("started", None, at(5)),
        ("joined", "ann", at(5)),  # the session started after Ann came in
        ("joined", "bob", at(5)),
    ]
    started = effects[2]
    assert isinstance(started, SessionStarted)
    assert room.session_id == started.session_id
    assert {e.session_id for e in effects[2:] if hasattr(e, "session_id")} == {room.session_id}
    joined = [e for e in effects if isinstance(e, ParticipantJoinedSession)]
    assert [(j.role, j.external_id) for j in joined] == [(HOST, None), (VISITOR, None)]


def test_external_id_reaches_the_attendance_record():
    room = new_room()
    join(room, "ann")
    effects = room.handle(Join("bob", VIEWER, "Bob", external_id="crm-42"), T0)
    assert [
        (e.participant_id, e.role, e.external_id)
        for e in effects
        if isinstance(e, ParticipantJoinedSession)
    ] == [("ann", VISITOR, None), ("bob", VIEWER, "crm-42")]


def test_a_normal_room_refuses_the_fifth_person_viewers_included():
    room = new_room()
    for pid in ["a", "b", "c"]:
        join(room, pid)
    join(room, "viewer", VIEWER)
    for role in RoomRole:
        effects = join(room, "fifth", role)
        assert effects == [
            Reply(
                "fifth",
                ok=False,
                error_code="room_full",
                error_message="This room is full (4 people).",
            )
        ]
    assert len(room.participants) == 4
    assert room.participant("fifth") is None


def test_a_group_room_holds_200_people_and_400_viewers():
    room = new_room(RoomMode.GROUP)
    for n in range(200):
        join(room, f"p{n}")
    assert refusal(join(room, "p200")) == ("room_full", "This room is full (200 people).")
    assert refusal(join(room, "late-host", HOST))[0] == "room_full"
    for n in range(400):
        assert reply(join(room, f"v{n}", VIEWER)).ok
    assert refusal(join(room, "v400", VIEWER)) == (
        "max_viewer_limit_reached",
        "This room has reached its limit of 400 viewers.",
    )
    assert len(room.participants) == 600
    room.handle(Leave("v0"), T0)
    assert reply(join(room, "v400", VIEWER)).ok


def test_capacity_table_covers_every_mode():
    assert set(CAPACITY) == set(RoomMode)


def test_leaving_frees_a_place():
    room = new_room()
    for pid in "abcd":
        join(room, pid)
    room.handle(Leave("a"), T0)
    assert reply(join(room, "e")).ok
    assert [p.id for p in room.participants] == ["b", "c", "d", "e"]


@pytest.mark.parametrize(
    ("role", "joins"), [(HOST, True), (GRANTED, True), (VISITOR, False), (VIEWER, False)]
)
def test_a_locked_room_lets_in_hosts_and_admitted_visitors(role: RoomRole, joins: bool):
    room = new_room(locked=True)
    effects = join(room, "x", role)
    if joins:
        assert reply(effects).ok
        assert reply(effects).data["room"]["locked"] is True
    else:
        assert effects == [
            Reply(
                "x",
                ok=False,
                error_code="room_locked",
                error_message="This room is locked; knock to ask a host to let you in.",
            )
        ]


@pytest.mark.parametrize(
    "media", [{"audio": True}, {"video": True}, {"audio": True, "video": True}]
)
def test_a_viewer_cannot_join_with_media(media: dict[str, bool]):
    room = new_room()
    assert refusal(join(room, "v", VIEWER, **media))[0] == "forbidden"
    assert room.participants == []
    assert reply(join(room, "v", VIEWER)).ok


def test_joining_twice_is_refused_and_changes_nothing():
    room = new_room()
    join(room, "ann", HOST)
    assert refusal(join(room, "ann", HOST, at(1))) == (
        "invalid_message",
        "A host who is in the room cannot join.",
    )
    assert room.participant("ann") == ParticipantView(
        "ann", "Ann", HOST, ParticipantState.JOINED, joined_at=T0
    )


# --- knocking --------------------------------------------------------------------------------


def locked_room_with_host() -> Room:
    room = new_room(locked=True)
    join(room, "host", HOST)
    return room


def knock(room: Room, pid: str = "kim", when: datetime = T0) -> list[Effect]:
    return room.handle(Knock(pid, display_name=pid.title()), when)


def test_a_knock_reaches_the_hosts():
    room = locked_room_with_host()
    assert knock(room) == [
        ok("kim", knockId="kim"),
        Broadcast("knock_received", {"knockId": "kim", "displayName": "Kim"}, roles=HOSTS),
    ]
    assert room.knockers == [ParticipantView("kim", "Kim", None, ParticipantState.KNOCKING)]
    assert room.participants == [room.participant("host")]


def test_admitting_a_knocker_grants_a_key_and_clears_the_knock():
    room = locked_room_with_host()
    knock(room)
    assert room.handle(AdmitKnocker(by="host", knocker_id="kim"), at(1)) == [
        ok("host"),
        GrantKey("kim", GRANTED),
        Broadcast("knock_cancelled", {"knockId": "kim"}, roles=HOSTS),
    ]
    assert room.knockers == []
    assert room.participant("kim") is None
    # The admitted knocker comes back with the granted key and gets in, lock or not.
    assert reply(join(room, "kim", GRANTED, at(2))).ok
    assert [p.id for p in room.participants] == ["host", "kim"]


def test_holding_a_knocker_sends_the_message_and_keeps_them_waiting():
    room = locked_room_with_host()
    knock(room)
    effects = room.handle(HoldKnocker(by="host", knocker_id="kim", message="Two minutes"), at(1))
    assert effects == [ok("host"), Send("kim", "knock_held", {"message": "Two minutes"})]
    assert [k.id for k in room.knockers] == ["kim"]


def test_rejecting_a_knocker_says_why_and_sends_them_away():
    room = locked_room_with_host()
    knock(room)
    effects = room.handle(RejectKnocker(by="host", knocker_id="kim", message="Not today"), at(1))
    assert effects == [
        ok("host"),
        Send("kim", "knock_rejected", {"message": "Not today"}),
        Disconnect("kim", "knock_rejected"),
        Broadcast("knock_cancelled", {"knockId": "kim"}, roles=HOSTS),
    ]
    assert room.knockers == []


@pytest.mark.parametrize(
    "event", [CancelKnock("kim"), ConnectionLost("kim")], ids=["cancel", "connection-lost"]
)
def test_a_knock_withdrawn_or_dropped_leaves_the_hosts_list(event: Event):
    room = locked_room_with_host()
    knock(room)
    effects = room.handle(event, at(1))
    gone = Broadcast("knock_cancelled", {"knockId": "kim"}, roles=HOSTS)
    assert effects == ([ok("kim"), gone] if isinstance(event, CancelKnock) else [gone])
    assert room.knockers == []


def test_knocks_wait_for_a_host_who_joins_later():
    room = new_room(locked=True)
    knock(room, "kim")
    knock(room, "lou")
    assert room.knockers == [
        ParticipantView("kim", "Kim", None, ParticipantState.KNOCKING),
        ParticipantView("lou", "Lou", None, ParticipantState.KNOCKING),
    ]
    welcome = join(room, "host", HOST, at(1))[0]
    assert isinstance(welcome, Reply)
    assert welcome.data["knocks"] == [
        {"knockId": "kim", "displayName": "Kim"},
        {"knockId": "lou", "displayName": "Lou"},
    ]
    # Only hosts see who is knocking.
    visitor = join(room, "vic", GRANTED, at(2))[0]
    assert isinstance(visitor, Reply)
    assert "knocks" not in visitor.data


def test_a_knocker_may_join_once_the_room_is_unlocked():
    room = locked_room_with_host()
    knock(room)
    room.handle(SetLock(by="host", locked=False), at(1))
    effects = join(room, "kim", VISITOR, at(2))
    assert without_sessions(effects)[1:] == [
        Broadcast("participant_joined", {"participant": wire("kim")}, exclude="kim"),
        Broadcast("knock_cancelled", {"knockId": "kim"}, roles=HOSTS),
    ]
    assert room.knockers == []


def test_a_knocker_in_a_still_locked_room_keeps_knocking():
    room = locked_room_with_host()
    knock(room)
    assert refusal(join(room, "kim", VISITOR, at(1)))[0] == "room_locked"
    assert [k.id for k in room.knockers] == ["kim"]


@pytest.mark.parametrize(
    "answer",
    [
        AdmitKnocker(by="host", knocker_id="nobody"),
        HoldKnocker(by="host", knocker_id="nobody"),
        RejectKnocker(by="host", knocker_id="nobody"),
        AdmitKnocker(by="host", knocker_id="host"),  # present, not knocking
    ],
)
def test_answering_a_knock_nobody_made(answer: Event):
    room = locked_room_with_host()
    assert refusal(room.handle(answer, T0)) == (
        "unknown_participant",
        "No one with that knock id is waiting to be let in.",
    )


# --- host controls and who may use them ------------------------------------------------------


def busy_room() -> Room:
    """A host, a visitor, a viewer and someone knocking."""
    room = new_room()
    join(room, "host", HOST)
    join(room, "vic", VISITOR)
    join(room, "val", VIEWER)
    room.handle(SetLock(by="host", locked=True), T0)
    knock(room, "kim")
    return room


ANSWER_KNOCKS = "Only hosts can let people in or turn them away."
NO_PUBLISHING = "Viewers can watch and listen but cannot send audio, video or a screen."
HOST_ONLY: list[tuple[Callable[[str], Event], str]] = [
    (lambda by: SetLock(by=by, locked=False), "Only hosts can lock or unlock the room."),
    (lambda by: AdmitKnocker(by=by, knocker_id="kim"), ANSWER_KNOCKS),
    (lambda by: HoldKnocker(by=by, knocker_id="kim", message="wait"), ANSWER_KNOCKS),
    (lambda by: RejectKnocker(by=by, knocker_id="kim"), ANSWER_KNOCKS),
    (lambda by: RemoveParticipant(by=by, target_id="host"), "Only hosts can remove participants."),
    (
        lambda by: RequestMute(by=by, target_id="host", kind=MuteKind.AUDIO),
        "Only hosts can ask others to mute or turn off their camera.",
    ),
    (lambda by: EndMeeting(by=by), "Only hosts can end the meeting."),
    (lambda by: ChatDelete(by=by, message_id="m1"), "Only hosts can delete chat messages."),
]


@pytest.mark.parametrize(("make", "message"), HOST_ONLY)
@pytest.mark.parametrize("by", ["vic", "val"], ids=["visitor", "viewer"])
def test_only_hosts_use_host_controls(make: Callable[[str], Event], message: str, by: str):
    room = busy_room()
    before = (room.participants, room.knockers, room.locked, room.state, room.session_id)
    assert room.handle(make(by), at(1)) == [
        Reply(by, ok=False, error_code="forbidden", error_message=message)
    ]
    assert (room.participants, room.knockers, room.locked, room.state, room.session_id) == before


@pytest.mark.parametrize(("make", "message"), HOST_ONLY)
def test_host_controls_need_presence(make: Callable[[str], Event], message: str):
    room = busy_room()
    assert refusal(room.handle(make("stranger"), at(1))) == (
        "not_in_room",
        "You are not in this room; join it first.",
    )


def test_locking_and_unlocking_tells_everyone_once():
    room = busy_room()
    assert room.locked
    assert room.handle(SetLock(by="host", locked=False), at(1)) == [
        ok("host"),
        Broadcast("room_updated", {"locked": False}),
    ]
    assert not room.locked
    assert room.handle(SetLock(by="host", locked=False), at(2)) == [ok("host")]
    assert reply(join(room, "new", VISITOR, at(3))).ok


def test_removing_a_participant():
    room = busy_room()
    assert room.handle(RemoveParticipant(by="host", target_id="vic"), at(1)) == [
        ok("host"),
        Send("vic", "removed", {}),
        Disconnect("vic", "removed"),
        Broadcast("participant_left", {"participantId": "vic", "reason": "removed"}, exclude="vic"),
        ParticipantLeftSession(room.session_id or "", "vic", at(1)),
    ]
    assert [p.id for p in room.participants] == ["host", "val"]
    # The shell closes the connection; the close that follows is no news.
    assert room.handle(ConnectionLost("vic"), at(2)) == []


@pytest.mark.parametrize("target", ["nobody", "kim"], ids=["unknown", "knocker"])
def test_removing_someone_not_in_the_room(target: str):
    room = busy_room()
    assert refusal(room.handle(RemoveParticipant(by="host", target_id=target), at(1))) == (
        "unknown_participant",
        "No one with that id is in the room.",
    )


@pytest.mark.parametrize("kind", list(MuteKind))
def test_asking_to_mute(kind: MuteKind):
    room = busy_room()
    assert room.handle(RequestMute(by="host", target_id="vic", kind=kind), at(1)) == [
        ok("host"),
        Send("vic", "mute_requested", {"kind": kind.value}),
    ]
    assert refusal(room.handle(RequestMute(by="host", target_id="zed", kind=kind), at(1)))[0] == (
        "unknown_participant"
    )


def test_ending_the_meeting_sends_everyone_away_for_good():
    room = busy_room()
    join(room, "hal", HOST, at(1))
    room.handle(ConnectionLost("hal"), at(2))
    session = room.session_id or ""
    effects = room.handle(EndMeeting(by="host"), at(3))
    assert effects == [
        ok("host"),
        Broadcast("meeting_ended", {}),
        Send("kim", "meeting_ended", {}),
        Disconnect("host", "meeting_ended"),
        Disconnect("vic", "meeting_ended"),
        Disconnect("val", "meeting_ended"),
        Disconnect("hal", "meeting_ended"),
        Disconnect("kim", "meeting_ended"),
        ParticipantLeftSession(session, "host", at(3)),
        ParticipantLeftSession(session, "vic", at(3)),
        ParticipantLeftSession(session, "val", at(3)),
        ParticipantLeftSession(session, "hal", at(3)),
        SessionEnded(session, at(3)),
    ]
    assert room.ended
    assert room.is_idle
    assert (room.participants, room.knockers, room.session_id, room.next_deadline) == (
        [],
        [],
        None,
        None,
    )
    ended = ("meeting_ended", "This meeting has ended.")
    assert refusal(join(room, "host", HOST, at(4))) == ended
    assert refusal(knock(room, "kim", at(4))) == ended
    assert refusal(room.handle(Resume("hal"), at(4))) == ended
    assert room.handle(Tick(), at(1000)) == []


# --- media, signaling, chat ------------------------------------------------------------------


def test_media_state_is_shared_when_it_changes():
    room = busy_room()
    change = MediaState("vic", audio=True, video=False, screenshare=True)
    assert room.handle(change, at(1)) == [
        ok("vic"),
        Broadcast(
            "participant_updated",
            {"participant": wire("vic", audio=True, screenshare=True)},
            exclude="vic",
        ),
    ]
    assert room.handle(change, at(2)) == [ok("vic")]


@pytest.mark.parametrize(
    "media",
    [(True, False, False), (False, True, False), (False, False, True)],
    ids=["audio", "video", "screenshare"],
)
def test_a_viewer_cannot_report_sending_media(media: tuple[bool, bool, bool]):
    room = busy_room()
    assert refusal(room.handle(MediaState("val", *media), at(1))) == ("forbidden", NO_PUBLISHING)
    assert room.participant("val") == ParticipantView(
        "val", "Val", VIEWER, ParticipantState.JOINED, joined_at=T0
    )
    assert room.handle(MediaState("val", False, False, False), at(1)) == [ok("val")]


def offer(sdp: str, kind: str = "offer") -> dict[str, str]:
    return {"type": kind, "sdp": sdp}


def test_signals_are_relayed_to_one_participant():
    room = busy_room()
    candidate = {
        "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host",
        "sdpMid": "0",
    }
    assert room.handle(Signal("vic", to="host", description=offer(CHROME_OFFER)), at(1)) == [
        ok("vic"),
        Send("host", "signal", {"from": "vic", "description": offer(CHROME_OFFER)}),
    ]
    assert room.handle(Signal("host", to="vic", candidate=candidate), at(1)) == [
        ok("host"),
        Send("vic", "signal", {"from": "host", "candidate": candidate}),
    ]


@pytest.mark.parametrize(
    ("description", "relayed"),
    [
        (offer(CHROME_OFFER), False),
        (offer(CHROME_OFFER, "answer"), False),
        (offer(CHROME_OFFER, "pranswer"), False),
        (offer(RECVONLY_ANSWER, "answer"), True),
        (offer(RECVONLY_ANSWER), True),
        ({"type": "rollback", "sdp": ""}, True),
        (offer("v=0\r\ns=-\r\na=sendonly\r\nm=audio 9 RTP/AVP 0\r\n"), False),
        (
            offer("v=0\r\nm=video 0 RTP/AVP 96\r\na=sendrecv\r\nm=audio 9 RTP/AVP 0\r\na=recvonly"),
            True,
        ),
        (offer("certainly not sdp"), False),
        ({"type": "offer"}, False),
    ],
    ids=[
        "offer",
        "answer",
        "pranswer",
        "recvonly-answer",
        "recvonly-offer",
        "rollback",
        "session-sendonly",
        "port-0-video",
        "junk",
        "no-sdp",
    ],
)
def test_viewers_never_publish(description: dict[str, str], relayed: bool):
    room = busy_room()
    effects = room.handle(Signal("val", to="host", description=description), at(1))
    if relayed:
        assert effects == [
            ok("val"),
            Send("host", "signal", {"from": "val", "description": description}),
        ]
    else:
        assert effects == [
            Reply(
                "val",
                ok=False,
                error_code="forbidden",
                error_message=NO_PUBLISHING,
            )
        ]


def test_viewers_may_send_ice_candidates():
    room = busy_room()
    effects = room.handle(Signal("val", to="host", candidate={"candidate": ""}), at(1))
    assert effects[0] == ok("val")


@pytest.mark.parametrize(
    ("signal", "code"),
    [
        (Signal("stranger", to="host", candidate={}), "not_in_room"),
        (Signal("kim", to="host", candidate={}), "not_in_room"),
        (Signal("vic", to="nobody", candidate={}), "unknown_participant"),
        (Signal("vic", to="kim", candidate={}), "unknown_participant"),
        (Signal("vic", to="vic", candidate={}), "unknown_participant"),
        (Signal("vic", to="host"), "invalid_message"),
        (
            Signal("vic", to="host", description=offer(CHROME_OFFER), candidate={}),
            "invalid_message",
        ),
    ],
    ids=["stranger", "knocker", "unknown-target", "knocker-target", "self", "empty", "both"],
)
def test_signal_routing_errors(signal: Signal, code: str):
    room = busy_room()
    effects = room.handle(signal, at(1))
    assert refusal(effects)[0] == code
    assert not any(isinstance(e, Send) for e in effects)


def test_signals_reach_a_reconnecting_participant():
    room = busy_room()
    room.handle(ConnectionLost("host"), at(1))
    assert room.handle(Signal("vic", to="host", candidate={}), at(2))[1] == Send(
        "host", "signal", {"from": "vic", "candidate": {}}
    )


def test_chat_is_relayed_and_forgotten():
    room = busy_room()
    canary = "canary-7f3a chat text"
    effects = room.handle(ChatRelay("val", message_id="m1", text=canary), at(1.5))
    assert effects == [
        ok("val"),
        Broadcast(
            "chat",
            {
                "messageId": "m1",
                "from": "val",
                "displayName": "Val",
                "text": canary,
                "sentAt": "2030-01-01T12:00:01.500Z",
            },
            exclude="val",
        ),
    ]
    assert canary not in repr(vars(room))
    assert refusal(room.handle(ChatRelay("kim", message_id="m2", text="hi"), at(2)))[0] == (
        "not_in_room"
    )


def test_chat_sent_at_is_utc_whatever_the_clock_zone():
    room = busy_room()
    elsewhere = at(0).astimezone(timezone(timedelta(hours=2)))
    chat = room.handle(ChatRelay("vic", message_id="m1", text="hi"), elsewhere)[1]
    assert isinstance(chat, Broadcast)
    assert chat.data["sentAt"] == "2030-01-01T12:00:00.000Z"


def test_hosts_delete_chat_for_everyone():
    room = busy_room()
    assert room.handle(ChatDelete(by="host", message_id="m1"), at(1)) == [
        ok("host"),
        Broadcast("chat_deleted", {"messageId": "m1"}),
    ]


def test_leaving():
    room = busy_room()
    effects = room.handle(Leave("vic"), at(1))
    assert without_sessions(effects) == [
        ok("vic"),
        Broadcast("participant_left", {"participantId": "vic", "reason": "left"}, exclude="vic"),
    ]
    assert refusal(room.handle(Leave("vic"), at(2))) == (
        "not_in_room",
        "Someone who is not in the room cannot leave.",
    )


# --- reconnecting ----------------------------------------------------------------------------


def two_in_a_room() -> Room:
    room = new_room()
    join(room, "ann", HOST, at(0))
    join(room, "bob", VISITOR, at(0))
    return room


def test_a_reconnect_within_the_grace_keeps_the_place():
    room = two_in_a_room()
    assert room.handle(ConnectionLost("bob"), at(10)) == [
        Broadcast(
            "participant_updated",
            {"participant": wire("bob", connection="reconnecting")},
            exclude="bob",
        )
    ]
    assert room.participant("bob") == ParticipantView(
        "bob",
        "Bob",
        VISITOR,
        ParticipantState.RECONNECTING,
        joined_at=T0,
        reconnecting_since=at(10),
    )
    assert room.next_deadline == at(40)
    assert room.handle(Tick(), at(39)) == []
    assert room.handle(Resume("bob"), at(39.9)) == [
        ok(
            "bob",
            self=wire("bob"),
            participants=[wire("ann", HOST)],
            room={"roomName": "/clinic-abc", "mode": "normal", "locked": False},
        ),
        Broadcast("participant_updated", {"participant": wire("bob")}, exclude="bob"),
    ]
    assert [p.id for p in room.participants] == ["ann", "bob"]
    assert room.next_deadline is None


def test_a_resume_before_the_server_noticed_the_drop():
    room = two_in_a_room()
    effects = room.handle(Resume("bob"), at(5))
    assert effects == [reply(effects)]
    assert reply(effects).ok


def test_a_host_resuming_sees_pending_knocks():
    room = new_room(locked=True)
    join(room, "ann", HOST)
    room.handle(ConnectionLost("ann"), at(1))
    knock(room, "kim", at(2))
    welcome = room.handle(Resume("ann"), at(3))[0]
    assert isinstance(welcome, Reply)
    assert welcome.data["knocks"] == [{"knockId": "kim", "displayName": "Kim"}]


def test_after_the_grace_a_lost_participant_is_gone():
    room = two_in_a_room()
    room.handle(ConnectionLost("bob"), at(10))
    session = room.session_id
    assert room.handle(Tick(), at(40)) == [
        Broadcast(
            "participant_left", {"participantId": "bob", "reason": "disconnected"}, exclude="bob"
        ),
        ParticipantLeftSession(session or "", "bob", at(40)),
    ]
    assert room.participant("bob") is None
    assert refusal(room.handle(Resume("bob"), at(41))) == (
        "not_in_room",
        "Someone who is not in the room cannot resume.",
    )


def test_a_late_resume_first_expires_then_refuses_without_a_tick():
    room = two_in_a_room()
    room.handle(ConnectionLost("bob"), at(10))
    effects = room.handle(Resume("bob"), at(45))
    assert isinstance(effects[0], Broadcast)
    assert effects[0].data == {"participantId": "bob", "reason": "disconnected"}
    assert refusal(effects)[0] == "not_in_room"


def test_custom_grace_periods():
    room = Room(
        "/r",
        "m",
        RoomMode.NORMAL,
        False,
        reconnect_grace=timedelta(seconds=5),
        session_end_grace=timedelta(0),
    )
    join(room, "ann")
    join(room, "bob")
    room.handle(ConnectionLost("bob"), at(1))
    assert attendance(room.handle(Tick(), at(6))) == [
        ("left", "bob", at(6)),
        ("left", "ann", at(6)),
        ("ended", None, at(6)),
    ]
    with pytest.raises(ValueError, match="negative"):
        Room("/r", "m", RoomMode.NORMAL, False, reconnect_grace=timedelta(seconds=-1))


# --- sessions --------------------------------------------------------------------------------


def test_a_session_ends_a_grace_after_fewer_than_two_remain():
    room = two_in_a_room()
    session = room.session_id
    assert attendance(room.handle(Leave("bob"), at(100))) == [("left", "bob", at(100))]
    assert room.session_id == session
    assert not room.is_idle
    assert room.next_deadline == at(160)
    assert room.handle(Tick(), at(159)) == []
    effects = room.handle(Tick(), at(175))
    assert attendance(effects) == [("left", "ann", at(100)), ("ended", None, at(100))]
    assert {
        e.session_id for e in effects if isinstance(e, SessionEnded | ParticipantLeftSession)
    } == {session}
    assert room.session_id is None
    assert room.handle(Tick(), at(500)) == []


def test_a_session_continues_when_someone_is_back_within_the_grace():
    room = two_in_a_room()
    session = room.session_id
    room.handle(Leave("bob"), at(100))
    effects = join(room, "cat", VISITOR, at(130))
    assert attendance(effects) == [("joined", "cat", at(130))]
    assert room.session_id == session
    assert room.next_deadline is None
    assert room.handle(Tick(), at(1000)) == []


def test_whoever_left_during_the_grace_is_recorded_once_the_outcome_is_known():
    room = two_in_a_room()
    room.handle(Leave("bob"), at(100))
    assert attendance(room.handle(Leave("ann"), at(110))) == []
    assert room.participants == []
    assert not room.is_idle  # the session might still go on
    assert attendance(join(room, "cat", VISITOR, at(120))) == []
    assert attendance(join(room, "dan", VISITOR, at(125))) == [
        ("left", "ann", at(110)),
        ("joined", "cat", at(120)),
        ("joined", "dan", at(125)),
    ]


def test_whoever_left_during_the_grace_left_when_the_session_ended():
    room = two_in_a_room()
    room.handle(Leave("bob"), at(100))
    room.handle(Leave("ann"), at(110))
    join(room, "cat", VISITOR, at(120))  # alone: not part of the session
    assert attendance(room.handle(Tick(), at(160))) == [
        ("left", "ann", at(100)),
        ("ended", None, at(100)),
    ]
    assert room.state == "open"
    assert attendance(join(room, "dan", VISITOR, at(200))) == [
        ("started", None, at(200)),
        ("joined", "cat", at(200)),
        ("joined", "dan", at(200)),
    ]


def test_reconnecting_participants_count_as_present():
    room = two_in_a_room()
    room.handle(ConnectionLost("bob"), at(10))
    room.handle(ConnectionLost("ann"), at(20))
    session = room.session_id
    # One late tick settles everything in the order it happened, each at its own time.
    effects = room.handle(Tick(), at(1000))
    assert effects == [
        Broadcast(
            "participant_left", {"participantId": "bob", "reason": "disconnected"}, exclude="bob"
        ),
        ParticipantLeftSession(session or "", "bob", at(40)),
        Broadcast(
            "participant_left", {"participantId": "ann", "reason": "disconnected"}, exclude="ann"
        ),
        ParticipantLeftSession(session or "", "ann", at(40)),
        SessionEnded(session or "", at(40)),
    ]
    assert room.is_idle


def test_ending_the_meeting_during_the_grace_ends_the_session_when_it_emptied():
    room = two_in_a_room()
    room.handle(Leave("bob"), at(100))
    effects = room.handle(EndMeeting(by="ann"), at(120))
    assert attendance(effects) == [("left", "ann", at(100)), ("ended", None, at(100))]


def test_knockers_and_viewers_in_sessions():
    room = new_room(locked=True)
    join(room, "ann", HOST)
    assert attendance(knock(room, "kim", at(1))) == []  # knockers are not present
    room.handle(SetLock(by="ann", locked=False), at(1))
    assert [a[0] for a in attendance(join(room, "val", VIEWER, at(2)))] == [
        "started",
        "joined",
        "joined",
    ]


def test_idle_and_deadlines():
    room = new_room()
    assert room.is_idle
    assert room.next_deadline is None
    assert room.handle(Tick(), T0) == []
    join(room, "ann")
    assert not room.is_idle
    room.handle(Leave("ann"), at(1))
    assert room.is_idle  # nobody came, no session was opened
    knock(room, "kim", at(2))
    assert not room.is_idle


def test_time_must_carry_a_zone():
    with pytest.raises(ValueError, match="timezone-aware"):
        new_room().handle(Tick(), datetime(2030, 1, 1))


def test_same_events_same_effects():
    script: list[tuple[Event, float]] = [
        (Join("ann", HOST, "Ann"), 0),
        (Join("bob", VISITOR, "Bob", audio=True), 1),
        (SetLock(by="ann", locked=True), 2),
        (Knock("kim", "Kim"), 3),
        (HoldKnocker(by="ann", knocker_id="kim", message="soon"), 4),
        (ConnectionLost("bob"), 5),
        (AdmitKnocker(by="ann", knocker_id="kim"), 6),
        (Join("kim", GRANTED, "Kim"), 7),
        (Tick(), 60),
        (Leave("kim"), 61),
        (Tick(), 200),
    ]

    def run() -> list[Effect]:
        room = new_room()
        effects = [e for event, t in script for e in room.handle(event, at(t))]
        attendance_kinds = (
            SessionStarted,
            SessionEnded,
            ParticipantJoinedSession,
            ParticipantLeftSession,
        )
        ids = {e.session_id for e in effects if isinstance(e, attendance_kinds)}
        assert len(ids) == 1
        return [
            replace(e, session_id="S") if isinstance(e, attendance_kinds) else e for e in effects
        ]

    first = run()
    assert first == run()
    assert len(first) > 20


# --- every cell of the participant table, through the engine ---------------------------------


def room_with_p_in(state: ParticipantState) -> Room:
    """A locked room with a host "h" and a participant "p" in ``state``."""
    room = new_room(locked=True)
    join(room, "h", HOST)
    match state:
        case ParticipantState.KNOCKING:
            knock(room, "p")
        case ParticipantState.JOINED:
            join(room, "p", GRANTED)
        case ParticipantState.RECONNECTING:
            join(room, "p", GRANTED)
            room.handle(ConnectionLost("p"), T0)
    p = room.participant("p")
    assert (p.state if p else ParticipantState.ABSENT) is state
    return room


# How each participant event happens to "p"; the host "h" answers, removes, ends.
TRIGGERS: dict[ParticipantEvent, tuple[Event, datetime]] = {
    ParticipantEvent.JOIN: (Join("p", GRANTED, "P"), at(1)),
    ParticipantEvent.KNOCK: (Knock("p", "P"), at(1)),
    ParticipantEvent.ADMIT: (AdmitKnocker(by="h", knocker_id="p"), at(1)),
    ParticipantEvent.HOLD: (HoldKnocker(by="h", knocker_id="p"), at(1)),
    ParticipantEvent.REJECT: (RejectKnocker(by="h", knocker_id="p"), at(1)),
    ParticipantEvent.CANCEL: (CancelKnock("p"), at(1)),
    ParticipantEvent.LEAVE: (Leave("p"), at(1)),
    ParticipantEvent.CONNECTION_LOST: (ConnectionLost("p"), at(1)),
    ParticipantEvent.RESUME: (Resume("p"), at(1)),
    ParticipantEvent.REMOVE: (RemoveParticipant(by="h", target_id="p"), at(1)),
    ParticipantEvent.MEETING_END: (EndMeeting(by="h"), at(1)),
    ParticipantEvent.RECONNECT_EXPIRED: (Tick(), at(30)),
}
# Final states are forgotten at once: to the engine they are ABSENT again.
LIVE_STATES = [s for s in ParticipantState if s not in FINAL_STATES]


def test_every_participant_event_has_a_trigger():
    assert set(TRIGGERS) == set(ParticipantEvent)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(LIVE_STATES, ParticipantEvent)))
def test_every_table_cell_through_the_engine(state: ParticipantState, event: ParticipantEvent):
    room = room_with_p_in(state)
    before = room.participant("p")
    trigger, when = TRIGGERS[event]
    effects = room.handle(trigger, when)
    after = room.participant("p")
    observed = after.state if after else ParticipantState.ABSENT

    expected = PARTICIPANT_TRANSITIONS[state].get(event)
    if expected is not None:
        assert observed is (ParticipantState.ABSENT if expected in FINAL_STATES else expected)
        assert all(e.ok for e in effects if isinstance(e, Reply)), effects
        return
    # Not in the table: nothing about "p" changes, and whoever asked hears why.
    assert after == before
    if event is ParticipantEvent.RECONNECT_EXPIRED:
        assert effects == []  # no timer was running for "p"
    elif event is ParticipantEvent.MEETING_END:
        assert state is ParticipantState.ABSENT  # the meeting ended without "p"
        assert room.ended
    elif event in HOST_TRIGGERED:
        assert refusal(effects)[0] == "unknown_participant"
    else:
        role = GRANTED if state in IN_ROOM or event is ParticipantEvent.JOIN else None
        with pytest.raises(IllegalTransition) as illegal:
            participant_transition(state, event, role)
        assert refusal(effects) == (illegal.value.signal_code, illegal.value.message)


HOST_TRIGGERED = {
    ParticipantEvent.ADMIT,
    ParticipantEvent.HOLD,
    ParticipantEvent.REJECT,
    ParticipantEvent.REMOVE,
}

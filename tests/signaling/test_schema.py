"""The wire schema: every client event accepts what docs/signaling.md allows and names what is
wrong otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from salon.errors import InvalidInput
from salon.signaling.schema import (
    MAX_MESSAGE_BYTES,
    MODELS,
    AdmitMessage,
    JoinMessage,
    SignalMessage,
    parse,
)

ROOM = "/room-1a2b3c"
SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

GOOD: dict[str, list[dict[str, Any]]] = {
    "join": [
        {"roomName": ROOM, "displayName": "Ann", "audio": True, "video": False},
        {
            "roomName": ROOM,
            "roomKey": "a.b.c",
            "displayName": "Ann Æsir 🎉",
            "externalId": "user-42",
            "audio": False,
            "video": True,
            "resumeToken": "tok",
        },
        {"roomName": ROOM, "displayName": "x" * 100, "audio": False, "video": False},
    ],
    "knock": [
        {"roomName": ROOM, "displayName": "Gus"},
        {"roomName": ROOM, "roomKey": "k", "displayName": "Gus", "externalId": "e"},
    ],
    "cancel_knock": [{}],
    "leave": [{}],
    "signal": [
        {"to": "abc", "description": {"type": "offer", "sdp": SDP}},
        {"to": "abc", "description": {"type": "answer", "sdp": SDP}},
        {"to": "abc", "description": {"type": "rollback"}},
        {"to": "abc", "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ host"}},
        {
            "to": "abc",
            "candidate": {
                "candidate": "",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
                "usernameFragment": None,
            },
        },
    ],
    "media_state": [{"audio": True, "video": False, "screenshare": True}],
    "chat": [{"messageId": "m-1", "text": "hi"}, {"messageId": "m_2", "text": "x" * 4000}],
    "chat_delete": [{"messageId": "m-1"}],
    "set_lock": [{"locked": True}, {"locked": False}],
    "admit": [{"knockId": "k1"}],
    "hold": [{"knockId": "k1"}, {"knockId": "k1", "message": "wait, please"}],
    "reject": [{"knockId": "k1", "message": "x" * 500}],
    "remove": [{"participantId": "p1"}],
    "request_mute": [
        {"participantId": "p1", "kind": "audio"},
        {"participantId": "p1", "kind": "video"},
    ],
    "end_meeting": [{}],
    "sfu_publish": [
        {"description": {"type": "offer", "sdp": SDP}},
        {"description": {"type": "offer", "sdp": SDP}, "kinds": {"0": "audio", "2": "screen"}},
    ],
    "sfu_subscribe": [{}],
    "sfu_answer": [{"description": {"type": "answer", "sdp": SDP}}],
    "sfu_candidate": [
        {"target": "publisher", "candidate": None},
        {
            "target": "subscriber",
            "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ host", "sdpMid": "0"},
        },
    ],
    "sfu_unpublish": [{}],
    "sfu_restart_ice": [{}],
    "sfu_view": [
        {"tiles": []},
        {
            "tiles": [
                {"participantId": "p1", "kind": "video", "width": 640, "height": 360},
                {
                    "participantId": "p1",
                    "kind": "screen",
                    "width": 0,
                    "height": 0,
                    "visible": False,
                },
                {"participantId": "p2", "kind": "video", "width": 16_384, "height": 16_384},
            ],
            "bandwidth": 2_500_000,
            "loss": 0.02,
        },
        {"tiles": [], "bandwidth": 0, "loss": 0},
        {"tiles": [], "loss": 1},
        {
            "tiles": [
                {"participantId": f"p{n}", "kind": "video", "width": 160, "height": 90}
                for n in range(400)
            ]
        },
    ],
}

_JOIN = {"roomName": ROOM, "displayName": "Ann", "audio": False, "video": False}

BAD: dict[str, list[tuple[dict[str, Any], str]]] = {
    "join": [
        ({"displayName": "Ann", "audio": False, "video": False}, "roomName"),
        (_JOIN | {"roomName": "room"}, "roomName"),
        (_JOIN | {"roomName": "/a/b"}, "roomName"),
        (_JOIN | {"displayName": ""}, "displayName"),
        (_JOIN | {"displayName": "   "}, "displayName"),
        (_JOIN | {"displayName": "x" * 101}, "displayName"),
        (_JOIN | {"displayName": "a\nb"}, "displayName"),
        (_JOIN | {"externalId": "x" * 256}, "externalId"),
        (_JOIN | {"audio": "true"}, "audio"),
        (_JOIN | {"video": 1}, "video"),
        (_JOIN | {"roomKey": "k" * 2049}, "roomKey"),
        (_JOIN | {"role": "host"}, "role"),
        ({k: v for k, v in _JOIN.items() if k != "audio"}, "audio"),
    ],
    "knock": [
        ({"roomName": ROOM}, "displayName"),
        ({"roomName": ROOM, "displayName": "Gus", "audio": True}, "audio"),
    ],
    "cancel_knock": [({"knockId": "k"}, "knockId")],
    "leave": [({"reason": "bye"}, "reason")],
    "signal": [
        ({"to": "abc"}, "exactly one"),
        (
            {
                "to": "abc",
                "description": {"type": "offer", "sdp": SDP},
                "candidate": {"candidate": ""},
            },
            "exactly one",
        ),
        ({"to": "a b", "candidate": {}}, "to"),
        ({"to": "x" * 65, "candidate": {}}, "to"),
        ({"to": "abc", "description": {"type": "pranswer", "sdp": SDP}}, "description.type"),
        ({"to": "abc", "description": {"type": "offer"}}, "sdp"),
        ({"to": "abc", "description": {"type": "offer", "sdp": "x" * 60_001}}, "description.sdp"),
        ({"to": "abc", "candidate": {"candidate": "", "extra": 1}}, "candidate.extra"),
        ({"to": "abc", "candidate": {"sdpMLineIndex": True}}, "candidate.sdpMLineIndex"),
        ({"to": "abc", "candidate": {"sdpMLineIndex": -1}}, "candidate.sdpMLineIndex"),
        ({"to": "abc", "candidate": "candidate:1"}, "candidate"),
    ],
    "media_state": [
        ({"audio": True, "video": False}, "screenshare"),
        ({"audio": True, "video": False, "screenshare": None}, "screenshare"),
    ],
    "chat": [
        ({"messageId": "m", "text": ""}, "text"),
        ({"messageId": "m", "text": "x" * 4001}, "text"),
        ({"messageId": "", "text": "hi"}, "messageId"),
        ({"messageId": "x" * 65, "text": "hi"}, "messageId"),
        ({"text": "hi"}, "messageId"),
    ],
    "chat_delete": [({}, "messageId"), ({"messageId": 5}, "messageId")],
    "set_lock": [({}, "locked"), ({"locked": "yes"}, "locked"), ({"locked": 0}, "locked")],
    "admit": [({}, "knockId"), ({"knockId": "k", "message": "hi"}, "message")],
    "hold": [({"knockId": "k", "message": "x" * 501}, "message")],
    "reject": [({"knockId": "k", "message": "bad\x00byte"}, "message")],
    "remove": [({"participantId": ["p"]}, "participantId")],
    "request_mute": [
        ({"participantId": "p", "kind": "screen"}, "kind"),
        ({"participantId": "p"}, "kind"),
    ],
    "end_meeting": [({"everyone": True}, "everyone")],
    "sfu_publish": [
        ({}, "description"),
        ({"description": {"type": "answer", "sdp": SDP}}, "description"),
        ({"description": {"type": "offer", "sdp": SDP}, "kinds": {"0": "data"}}, "kinds"),
    ],
    "sfu_subscribe": [({"feeds": []}, "feeds")],
    "sfu_answer": [({"description": {"type": "offer", "sdp": SDP}}, "description")],
    "sfu_candidate": [
        ({"target": "publisher"}, "candidate"),
        ({"target": "x", "candidate": None}, "target"),
    ],
    "sfu_unpublish": [({"now": True}, "now")],
    "sfu_restart_ice": [({"target": "publisher"}, "target")],
    "sfu_view": [
        ({}, "tiles"),
        ({"tiles": {}}, "tiles"),
        ({"tiles": [{"participantId": "p1", "kind": "audio", "width": 1, "height": 1}]}, "kind"),
        ({"tiles": [{"participantId": "p 1", "kind": "video", "width": 1, "height": 1}]}, "tiles"),
        ({"tiles": [{"participantId": "p1", "kind": "video", "width": -1, "height": 1}]}, "width"),
        (
            {"tiles": [{"participantId": "p1", "kind": "video", "width": 1, "height": 16_385}]},
            "height",
        ),
        ({"tiles": [{"participantId": "p1", "kind": "video", "width": 1.5, "height": 1}]}, "width"),
        ({"tiles": [{"participantId": "p1", "kind": "video", "width": 1}]}, "height"),
        (
            {"tiles": [{"participantId": "p1", "kind": "video", "width": 1, "height": 1, "x": 1}]},
            "x",
        ),
        (
            {
                "tiles": [
                    {"participantId": "p1", "kind": "video", "width": 1, "height": 1},
                    {"participantId": "p1", "kind": "video", "width": 2, "height": 2},
                ]
            },
            "twice",
        ),
        (
            {
                "tiles": [
                    {"participantId": f"p{n}", "kind": "video", "width": 1, "height": 1}
                    for n in range(401)
                ]
            },
            "at most 400",
        ),
        ({"tiles": [], "bandwidth": -1}, "bandwidth"),
        ({"tiles": [], "bandwidth": 10_000_000_001}, "bandwidth"),
        ({"tiles": [], "bandwidth": 1.5}, "bandwidth"),
        ({"tiles": [], "loss": 1.01}, "loss"),
        ({"tiles": [], "loss": -0.1}, "loss"),
        ({"tiles": [], "loss": "0.1"}, "loss"),
        ({"tiles": [], "loss": True}, "loss"),
    ],
}


def test_every_event_has_good_and_bad_cases():
    assert set(GOOD) == set(MODELS) == set(BAD)


@pytest.mark.parametrize(
    ("event", "payload"),
    [(event, payload) for event, payloads in GOOD.items() for payload in payloads],
)
def test_good_messages_parse(event: str, payload: dict[str, Any]):
    message = parse(event, payload)
    assert isinstance(message, MODELS[event])


@pytest.mark.parametrize(
    ("event", "payload", "field"),
    [(event, payload, field) for event, cases in BAD.items() for payload, field in cases],
)
def test_bad_messages_name_the_field(event: str, payload: dict[str, Any], field: str):
    with pytest.raises(InvalidInput) as refused:
        parse(event, payload)
    assert field in refused.value.message
    assert refused.value.signal_code == "invalid_message"


@pytest.mark.parametrize("payload", [None, [], "text", 5, True])
def test_a_payload_must_be_an_object(payload: Any):
    with pytest.raises(InvalidInput, match="payload"):
        parse("leave", payload)


def test_the_size_is_checked_before_parsing():
    huge = {"messageId": "m", "text": "x" * MAX_MESSAGE_BYTES}
    with pytest.raises(InvalidInput) as refused:
        parse("chat", huge)
    assert [p.field for p in refused.value.problems] == ["payload"]
    # Multi-byte characters count as bytes, not characters.
    wide = {"to": "abc", "description": {"type": "offer", "sdp": "é" * 33_000}}
    with pytest.raises(InvalidInput, match="bytes"):
        parse("signal", wide)


def test_unknown_events_are_refused():
    with pytest.raises(InvalidInput, match="not a known event"):
        parse("make_coffee", {})


def test_messages_are_frozen_values():
    message = parse("join", _JOIN)
    assert isinstance(message, JoinMessage)
    with pytest.raises(ValueError, match="frozen"):
        message.displayName = "Eve"  # type: ignore[misc]
    assert parse("admit", {"knockId": "k"}) == AdmitMessage(knockId="k")


def test_a_rollback_needs_no_sdp_and_candidates_keep_what_was_sent():
    message = parse("signal", {"to": "abc", "description": {"type": "rollback"}})
    assert isinstance(message, SignalMessage)
    assert message.description is not None
    assert message.description.sdp == ""
    sent = {"to": "abc", "candidate": {"candidate": "c", "sdpMid": None}}
    candidate = parse("signal", sent)
    assert isinstance(candidate, SignalMessage)
    assert candidate.candidate is not None
    assert candidate.candidate.model_dump(exclude_unset=True) == sent["candidate"]

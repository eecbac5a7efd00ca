"""The golden Janus transcripts (recorded from Janus 1.1.2 by record_transcripts.py) replayed
through ``salon.janus.translate``: every frame round-trips, every request Salon sent is what
the builders make from Salon's values, and every reply and event reads as the Salon values it
stands for."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from salon.errors import (
    SfuError,
    SfuRefusal,
    SfuRefused,
    SfuRoomNotFound,
    SfuUnavailable,
)
from salon.janus import translate
from salon.janus.backend import MONITOR_ID
from salon.janus.translate import JanusError, JanusMessage
from salon.media.sfu import (
    FeedKind,
    FeedSelection,
    FeedsPublished,
    FeedsUnpublished,
    HandleRole,
    IceCandidate,
    MediaHandle,
    PeerConnectionDown,
    PeerConnectionUp,
    PublishedFeed,
    PublisherJoined,
    PublisherLeft,
    RoomDestroyed,
    RoomSpec,
    SdpType,
    SessionDescription,
    SfuEvent,
    SfuParticipant,
    SfuRoom,
    SimulcastLayer,
    StreamSetting,
    SubscribedStream,
    SubscriptionOffer,
    SubscriptionRestarted,
    TalkingChanged,
)

FIXTURES = Path(__file__).parent / "fixtures"
TRANSCRIPTS = ("control.json", "media.json", "layers.json", "restart.json")
ROOM_ID = "room-1"
ROOM = SfuRoom("local", ROOM_ID)
SECRET, PIN, MONITOR_TOKEN = f"<{ROOM_ID}:secret>", f"<{ROOM_ID}:pin>", f"<{ROOM_ID}:monitor-token>"


@cache
def transcript(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


def frames(name: str, direction: str | None = None, step: str | None = None) -> list[JanusMessage]:
    return [
        translate.parse_message(json.dumps(frame["message"]))
        for frame in transcript(name)["frames"]
        if direction in (None, frame["dir"]) and step in (None, frame["step"])
    ]


def reply(name: str, step: str, request: str = "message", nth: int = -1) -> JanusMessage:
    """Janus's final reply to the ``nth`` ``request`` Salon sent during ``step``."""
    sent = [m for m in frames(name, "send", step) if m.janus == request]
    assert sent, f"no {request} sent in step {step} of {name}"
    transaction = sent[nth].transaction
    return next(
        m for m in frames(name, "recv") if m.transaction == transaction and m.janus != "ack"
    )


def handle(name: str, role: str) -> int:
    handle_id: int = transcript(name)["handles"][role]
    return handle_id


ALL_FRAMES = [
    pytest.param(frame["message"], id=f"{name}:{i}:{frame['step']}:{frame['dir']}")
    for name in TRANSCRIPTS
    for i, frame in enumerate(transcript(name)["frames"])
]


@pytest.mark.parametrize("message", ALL_FRAMES)
def test_every_frame_round_trips(message: dict[str, Any]) -> None:
    for text in (json.dumps(message), json.dumps(message, separators=(",", ":"))):
        parsed = translate.parse_message(text)
        assert translate.encode_message(parsed) == message
        assert json.loads(translate.to_json(parsed)) == message


def test_the_transcripts_hold_no_secrets() -> None:
    for name in TRANSCRIPTS:
        text = (FIXTURES / name).read_text()
        for frame in transcript(name)["frames"]:
            if frame["dir"] == "send" and frame["step"] != "wrong_apisecret":
                assert frame["message"]["apisecret"] == "<apisecret>", "every request has it"
        assert "a=ice-pwd:ICEPWDSCRUBBEDFORFIXTURE" in text or name == "control.json"
        for key in ("admin_key", "secret", "pin", "token"):
            for match in _values_of(transcript(name), key):
                assert match.startswith("<") or match == "not-a-salon-token", (key, match)


def _values_of(node: object, key: str) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == key and isinstance(v, str)]
        return found + [x for v in node.values() for x in _values_of(v, key)]
    if isinstance(node, list):
        return [x for v in node for x in _values_of(v, key)]
    return []


def _framed(built: JanusMessage, recorded: JanusMessage) -> dict[str, Any]:
    """``built`` with what the transport adds, as it was recorded."""
    return translate.encode_message(
        replace(
            built,
            transaction=recorded.transaction,
            session_id=recorded.session_id,
            apisecret="<apisecret>",
        )
    )


def _jsep(message: JanusMessage, kind: SdpType) -> SessionDescription:
    assert message.jsep is not None
    assert message.jsep["type"] == kind.value
    return SessionDescription(kind, message.jsep["sdp"])


def _publishing(name: str) -> list[JanusMessage]:
    """What every media transcript opens with: the session, the room and its monitor, then
    alice publishing."""
    control, monitor = handle(name, "control"), handle(name, f"monitor:{ROOM_ID}")
    offer = _jsep(frames(name, "send", "publish")[-1], SdpType.OFFER)
    return [
        translate.create_session(),
        translate.attach(),
        translate.create_room(
            control,
            RoomSpec(ROOM_ID, max_publishers=3),
            admin_key="<admin_key>",
            secret=SECRET,
            pin=PIN,
            allowed=[MONITOR_TOKEN],
        ),
        translate.attach(),
        translate.join_monitor(monitor, ROOM_ID, MONITOR_ID, pin=PIN, token=MONITOR_TOKEN),
        translate.allowed(control, ROOM_ID, secret=SECRET, action="add", tokens=["<token:alice>"]),
        translate.attach(),
        translate.publish(
            handle(name, "publisher:alice"),
            ROOM_ID,
            "alice",
            offer,
            pin=PIN,
            token="<token:alice>",
            kinds={"0": FeedKind.AUDIO, "1": FeedKind.VIDEO},
        ),
    ]


def _subscribing(name: str) -> list[JanusMessage]:
    """bob subscribing to alice, answering Janus's first offer."""
    subscriber = handle(name, "subscriber:bob")
    answer = _jsep(frames(name, "send", "subscribe")[-1], SdpType.ANSWER)
    return [
        translate.attach(),
        translate.join_subscriber(subscriber, ROOM_ID, [FeedSelection("alice")], pin=PIN),
        translate.start_subscription(subscriber, answer),
    ]


def _closing(name: str) -> list[JanusMessage]:
    """What every media transcript ends with: handles detached, the room and session gone."""
    return [
        translate.detach(handle(name, "subscriber:bob")),
        translate.detach(handle(name, "publisher:alice")),
        translate.destroy_room(handle(name, "control"), ROOM_ID, secret=SECRET),
        translate.detach(handle(name, f"monitor:{ROOM_ID}")),
        translate.destroy_session(),
    ]


def _assert_sent(name: str, expected: list[JanusMessage]) -> None:
    """Salon's builders make exactly the requests the transcript recorded, in order."""
    sent = frames(name, "send")
    assert len(sent) == len(expected)
    for built, recorded in zip(expected, sent, strict=True):
        assert _framed(built, recorded) == translate.encode_message(recorded)


def test_media_requests_are_what_the_builders_make() -> None:
    name = "media.json"
    control = handle(name, "control")
    publisher = handle(name, "publisher:alice")
    _assert_sent(
        name,
        [
            *_publishing(name),
            translate.trickle(
                publisher,
                IceCandidate("candidate:1 1 udp 2130706431 10.77.0.2 9 typ host", "0", 0),
            ),
            translate.trickle(publisher, None),
            *_subscribing(name),
            translate.list_participants(control, ROOM_ID),
            translate.unpublish(publisher),
            translate.allowed(
                control, ROOM_ID, secret=SECRET, action="remove", tokens=["<token:alice>"]
            ),
            translate.kick(control, ROOM_ID, "alice", secret=SECRET),
            *_closing(name),
        ],
    )


LOW, HIGH = SimulcastLayer.LOW, SimulcastLayer.HIGH
# What tests/janus/record_transcripts.py asked of the subscription in each step of layers.json.
LAYER_STEPS = {
    "set_layer": [StreamSetting("1", LOW)],
    "pause": [StreamSetting("0", paused=True), StreamSetting("1", paused=True)],
    "resume": [StreamSetting("0", paused=False), StreamSetting("1", HIGH, paused=False)],
    "set_unknown_mid": [StreamSetting("9", LOW)],
}


def test_layer_requests_are_what_the_builders_make() -> None:
    name = "layers.json"
    subscriber = handle(name, "subscriber:bob")
    _assert_sent(
        name,
        [
            *_publishing(name),
            *_subscribing(name),
            *(translate.configure_subscription(subscriber, s) for s in LAYER_STEPS.values()),
            *_closing(name),
        ],
    )


def test_a_subscription_s_streams_are_set_by_their_mid() -> None:
    # Janus's substream 0 is the lowest encoding; send false pauses the m-line.
    body = translate.configure_subscription(7, LAYER_STEPS["resume"]).body
    assert body == {
        "request": "configure",
        "streams": [{"mid": "0", "send": True}, {"mid": "1", "substream": 2, "send": True}],
    }
    for step in ("set_layer", "pause", "resume"):
        translate.configured(reply("layers.json", step))
    with pytest.raises(SfuRefused) as refused:
        translate.configured(reply("layers.json", "set_unknown_mid"))
    assert refused.value.reason is SfuRefusal.NO_SUCH_FEED
    with pytest.raises(SfuError):
        translate.configured(reply("layers.json", "subscribe", nth=0))  # an "attached" event
    # The replies are answers to Salon's requests, never events about the handle.
    bob = MediaHandle(ROOM, "bob", HandleRole.SUBSCRIBER, handle("layers.json", "subscriber:bob"))
    for step in LAYER_STEPS:
        assert translate.handle_events(bob, reply("layers.json", step)) == ()


def test_a_stream_setting_changes_something() -> None:
    with pytest.raises(ValueError, match="layer, pausing, or both"):
        StreamSetting("1")
    with pytest.raises(ValueError, match="mid"):
        StreamSetting("", LOW)
    with pytest.raises(ValueError, match="SimulcastLayer"):
        StreamSetting("1", 2)  # type: ignore[arg-type]


def test_restart_requests_are_what_the_builders_make() -> None:
    name = "restart.json"
    subscriber = handle(name, "subscriber:bob")
    publisher = handle(name, "publisher:alice")
    answers = [
        _jsep(frames(name, "send", step)[-1], SdpType.ANSWER)
        for step in ("answer_restart", "answer_then_restart")
    ]
    _assert_sent(
        name,
        [
            *_publishing(name),
            *_subscribing(name),
            translate.restart_subscription(subscriber),
            translate.start_subscription(subscriber, answers[0]),
            translate.unpublish(publisher),
            translate.restart_subscription(subscriber),
            translate.start_subscription(subscriber, answers[1]),
            *_closing(name),
        ],
    )
    assert translate.restart_subscription(7).body == {"request": "configure", "restart": True}


def _ufrag(description: SessionDescription) -> str:
    found = re.search(r"a=ice-ufrag:(\S+)", description.sdp)
    assert found is not None
    return found[1]


def test_an_ice_restart_reads_as_the_same_subscription_offered_anew() -> None:
    name = "restart.json"
    bob = MediaHandle(ROOM, "bob", HandleRole.SUBSCRIBER, handle(name, "subscriber:bob"))
    first, _ = translate.subscription_of(reply(name, "subscribe", nth=0))
    # Janus answers the restart with the offer (new ICE credentials, no streams: they are
    # the previous offer's); as the reply to the request, or as an event after its ack.
    answered = reply(name, "restart")
    (restarted,) = translate.handle_events(bob, answered)
    assert restarted == SubscriptionRestarted(bob, translate.restarted_offer_of(answered))
    assert _ufrag(restarted.offer) != _ufrag(first)
    with pytest.raises(SfuError):
        translate.restarted_offer_of(reply(name, "answer_restart"))  # "started", no offer

    # Asked while its offer without alice's streams was unanswered, Janus only acks ...
    (held,) = [m for m in frames(name, "send", "restart_held") if m.janus == "message"]
    assert [m.janus for m in frames(name, "recv") if m.transaction == held.transaction] == ["ack"]
    # ... and offers with the restart in an "updated" event once that offer is answered.
    offers = [e for e in _replayed_events(name) if isinstance(e, SubscriptionOffer)]
    unpublished, restarted_later = offers
    assert restarted_later.handle == bob
    assert restarted_later.streams == unpublished.streams == ()  # alice's are gone
    assert _ufrag(restarted_later.offer) not in {_ufrag(unpublished.offer), _ufrag(first)}
    assert _ufrag(unpublished.offer) == _ufrag(restarted.offer)


def test_control_requests_are_what_the_builders_make() -> None:
    name = "control.json"
    control = handle(name, "control")
    checks = {
        "info": [translate.info(), translate.list_rooms(control, admin_key="<admin_key>")],
        "participants": [translate.list_participants(control, ROOM_ID)],
        "keepalive": [translate.keepalive()],
        "destroy_room_again": [translate.destroy_room(control, ROOM_ID, secret=SECRET)],
        "close": [translate.destroy_session()],
        "wrong_apisecret": [translate.create_session()],
    }
    for step, expected in checks.items():
        sent = frames(name, "send", step)
        assert len(sent) == len(expected), step
        for built, recorded in zip(expected, sent, strict=True):
            framed = _framed(built, recorded)
            if step == "wrong_apisecret":
                framed["apisecret"] = recorded.apisecret
            assert framed == translate.encode_message(recorded), step


def test_replies_read_as_salon_values() -> None:
    name = "media.json"
    assert (
        translate.session_id_of(frames(name, "recv", "open")[0])
        == frames(name, "send")[1].session_id
    )
    assert translate.handle_id_of(reply(name, "open", "attach")) == handle(name, "control")
    assert translate.created_room(reply(name, "create_room", nth=0)) == ROOM_ID
    publish_reply = reply(name, "publish")
    answer = translate.answer_of(publish_reply)
    assert answer.type is SdpType.ANSWER
    assert "a=fingerprint:sha-256" in answer.sdp
    offer, streams = translate.subscription_of(reply(name, "subscribe", nth=0))
    assert offer.type is SdpType.OFFER
    assert streams == (
        SubscribedStream("0", "alice", "0", FeedKind.AUDIO),
        SubscribedStream("1", "alice", "1", FeedKind.VIDEO),
    )
    assert translate.participants_of(reply(name, "participants"), hidden=MONITOR_ID) == (
        SfuParticipant("alice", publishing=True, talking=True),
    )
    assert translate.joined_feeds(reply(name, "create_room", nth=1)) == {}


def test_server_info_and_load() -> None:
    info = translate.server_info_of(reply("control.json", "info", "info"))
    assert info.version == "1.1.2"
    assert info.accepting_sessions
    load = translate.room_load_of(reply("control.json", "info"))
    assert (load.rooms, load.participants) == (0, 0)


@pytest.mark.parametrize(
    ("step", "error", "reason"),
    [
        ("create_room_again", SfuRefused, SfuRefusal.ROOM_EXISTS),
        ("publish_without_grant", SfuRefused, SfuRefusal.UNAUTHORIZED),
        ("publish_bad_offer", SfuRefused, SfuRefusal.INVALID_OFFER),
        ("revoke_publisher_absent", SfuRefused, SfuRefusal.NO_SUCH_FEED),
        ("destroy_room_again", SfuRoomNotFound, None),
        ("participants_missing_room", SfuRoomNotFound, None),
        ("wrong_apisecret", SfuUnavailable, None),
    ],
)
def test_failed_replies_raise_typed_errors(
    step: str, error: type[SfuError], reason: SfuRefusal | None
) -> None:
    request = "create" if step == "wrong_apisecret" else "message"
    with pytest.raises(error) as raised:
        translate.check(reply("control.json", step, request))
    if reason is not None:
        assert isinstance(raised.value, SfuRefused)
        assert raised.value.reason is reason
    # What Janus said is kept for the log, never shown to a caller.
    assert raised.value.detail
    assert raised.value.detail not in raised.value.message
    assert ROOM_ID not in raised.value.message


def _replayed_events(name: str) -> list[SfuEvent]:
    """Every unsolicited message routed the way JanusBackend routes it."""
    monitor = handle(name, f"monitor:{ROOM_ID}")
    media = {
        handle(name, "publisher:alice"): MediaHandle(
            ROOM, "alice", HandleRole.PUBLISHER, handle(name, "publisher:alice")
        ),
        handle(name, "subscriber:bob"): MediaHandle(
            ROOM, "bob", HandleRole.SUBSCRIBER, handle(name, "subscriber:bob")
        ),
    }
    events: list[SfuEvent] = []
    for message in frames(name, "recv"):
        if message.transaction is not None:
            continue
        if message.sender == monitor:
            events += translate.room_events(ROOM, message, monitor_id=MONITOR_ID)
        elif message.sender in media:
            events += translate.handle_events(media[message.sender], message)
    return events


def test_media_events_read_as_salon_events() -> None:
    name = "media.json"
    alice = MediaHandle(ROOM, "alice", HandleRole.PUBLISHER, handle(name, "publisher:alice"))
    bob = MediaHandle(ROOM, "bob", HandleRole.SUBSCRIBER, handle(name, "subscriber:bob"))
    events = _replayed_events(name)
    renegotiation = next(e for e in events if isinstance(e, SubscriptionOffer))
    assert renegotiation.streams == ()  # alice's feeds went away: both m-lines are inactive
    assert renegotiation.offer.type is SdpType.OFFER
    assert events == [
        PublisherJoined(ROOM, "alice"),
        FeedsPublished(
            ROOM,
            "alice",
            (
                PublishedFeed("alice", "0", FeedKind.AUDIO, "opus"),
                PublishedFeed("alice", "1", FeedKind.VIDEO, "vp8"),
            ),
        ),
        PeerConnectionUp(alice),
        PeerConnectionUp(bob),
        TalkingChanged(ROOM, "alice", talking=True, level_dbov=7),
        renegotiation,
        FeedsUnpublished(ROOM, "alice"),
        PeerConnectionDown(alice, "kicked"),
        PublisherLeft(ROOM, "alice", kicked=True),
        RoomDestroyed(ROOM),
    ]


def test_control_events_ignore_salon_s_own_monitor() -> None:
    assert _replayed_events_control() == [RoomDestroyed(ROOM)]


def _replayed_events_control() -> list[SfuEvent]:
    monitor = handle("control.json", f"monitor:{ROOM_ID}")
    events: list[SfuEvent] = []
    for message in frames("control.json", "recv"):
        if message.transaction is None and message.sender == monitor:
            events += translate.room_events(ROOM, message, monitor_id=MONITOR_ID)
    return events


# --- hand-made messages: what the transcripts do not show --------------------------------


def _event(data: dict[str, Any], sender: int = 1) -> JanusMessage:
    return JanusMessage("event", sender=sender, plugin=translate.PLUGIN, data=data)


def test_a_screen_share_is_told_apart_by_its_description() -> None:
    published = _event(
        {
            "videoroom": "event",
            "room": ROOM_ID,
            "publishers": [
                {
                    "id": "carol",
                    "streams": [
                        {"type": "video", "mid": "2", "description": "screen", "codec": "vp8"},
                        {"type": "video", "mid": "1", "simulcast": True, "codec": "vp8"},
                        {"type": "data", "mid": "3"},
                        {"type": "audio", "mid": "0", "disabled": True},
                    ],
                }
            ],
        }
    )
    assert translate.room_events(ROOM, published, monitor_id=MONITOR_ID) == (
        FeedsPublished(
            ROOM,
            "carol",
            (
                PublishedFeed("carol", "2", FeedKind.SCREEN, "vp8"),
                PublishedFeed("carol", "1", FeedKind.VIDEO, "vp8", simulcast=True),
            ),
        ),
    )


def test_room_events_name_others_not_the_monitor_itself() -> None:
    for data in (
        {"videoroom": "event", "leaving": MONITOR_ID},
        {"videoroom": "event", "leaving": "ok"},
        {"videoroom": "event", "unpublished": "ok"},
        {"videoroom": "event", "joining": {"id": MONITOR_ID}},
        {"videoroom": "talking", "id": MONITOR_ID},
        {"videoroom": "slow_link"},
    ):
        assert translate.room_events(ROOM, _event(data), monitor_id=MONITOR_ID) == ()
    leaving = _event({"videoroom": "event", "leaving": "dave"})
    stopped = _event({"videoroom": "stopped-talking", "id": "dave"})
    assert translate.room_events(ROOM, leaving, monitor_id=MONITOR_ID) == (
        PublisherLeft(ROOM, "dave"),
    )
    assert translate.room_events(ROOM, stopped, monitor_id=MONITOR_ID) == (
        TalkingChanged(ROOM, "dave", talking=False),
    )


def test_hangup_closes_the_handle() -> None:
    bob = MediaHandle(ROOM, "bob", HandleRole.SUBSCRIBER, 7)
    hangup = JanusMessage("hangup", sender=7, fields={"reason": "DTLS alert"})
    assert translate.handle_events(bob, hangup) == (PeerConnectionDown(bob, "DTLS alert"),)
    assert translate.handle_events(bob, JanusMessage("media", sender=7)) == ()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (JanusMessage("error", error=JanusError(458, "No such session")), SfuUnavailable),
        (JanusMessage("error", error=JanusError(472, "not accepting")), SfuUnavailable),
        (JanusMessage("error", error=JanusError(456, "Missing element")), SfuRefused),
        (JanusMessage("error", error=JanusError(490, "Unknown")), SfuError),
        (_event({"videoroom": "event", "error_code": 432, "error": "full"}), SfuRefused),
        (_event({"videoroom": "event", "error_code": 499, "error": "?"}), SfuError),
    ],
)
def test_error_codes(message: JanusMessage, error: type[SfuError]) -> None:
    with pytest.raises(error) as raised:
        translate.check(message)
    assert type(raised.value) is error


@pytest.mark.parametrize(
    "text",
    [b"not json", "[]", '{"transaction": "x"}', '{"janus": "event", "plugindata": 3}'],
)
def test_frames_that_are_not_janus_messages(text: str | bytes) -> None:
    with pytest.raises(SfuError):
        translate.parse_message(text)


def test_replies_of_the_wrong_shape() -> None:
    with pytest.raises(SfuError):
        translate.created_room(_event({"videoroom": "joined"}))
    with pytest.raises(SfuError):
        translate.answer_of(_event({"videoroom": "joined"}))
    not_an_answer = replace(_event({"videoroom": "event"}), jsep={"type": "offer", "sdp": "v=0"})
    with pytest.raises(SfuError):
        translate.answer_of(not_an_answer)


def test_values_are_validated_at_the_edge() -> None:
    with pytest.raises(ValueError, match="v=0"):
        SessionDescription(SdpType.OFFER, "hello")
    with pytest.raises(ValueError, match="at most"):
        SessionDescription(SdpType.OFFER, "v=0\r\n" + "a" * 70_000)
    with pytest.raises(ValueError, match="candidate:"):
        IceCandidate("foo", "0")
    with pytest.raises(ValueError, match="one line"):
        IceCandidate("candidate:1\nm=audio", "0")
    with pytest.raises(ValueError, match="m-line"):
        IceCandidate("candidate:1 1 udp 1 10.0.0.1 9 typ host")
    with pytest.raises(ValueError, match="room_id"):
        RoomSpec("_salon_monitor", 3)
    with pytest.raises(ValueError, match="room_id"):
        RoomSpec("a b", 3)
    with pytest.raises(ValueError, match="max_publishers"):
        RoomSpec("ok", 0)
    with pytest.raises(ValueError, match="add or remove"):
        translate.allowed(1, "r", secret="s", action="enable", tokens=[])

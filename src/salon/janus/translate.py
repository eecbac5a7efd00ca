"""Every Janus JSON message in and out of Salon, translated to and from Salon's own types.

This is the only module that knows the shape of Janus's API (the core WebSocket protocol and
the VideoRoom plugin, Janus 1.1.2). Three layers:

- **Envelopes.** ``parse_message`` turns one WebSocket text frame into a ``JanusMessage`` and
  ``encode_message`` turns it back into exactly the same JSON value; the golden transcripts in
  ``tests/janus/fixtures`` check both directions. The transport works on these.
- **Requests.** Builders such as ``create_room`` or ``publish`` take Salon's values and return
  the ``JanusMessage`` to send (the transport adds transaction, session and API secret).
- **Replies and events.** ``check`` raises the ``SfuError`` a failed reply stands for; the
  readers (``created_room``, ``answer_of``, ``subscription_of``…) pull Salon values out of a
  good reply; ``room_events`` and ``handle_events`` turn Janus's unsolicited events into
  ``SfuEvent`` values.

VideoRoom runs with ``string_ids``: room and participant ids are Salon's strings on both sides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from salon.errors import SfuError, SfuRefusal, SfuRefused, SfuRoomNotFound, SfuUnavailable
from salon.media.sfu import (
    FeedKind,
    FeedSelection,
    FeedsPublished,
    FeedsUnpublished,
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
    StreamSetting,
    SubscribedStream,
    SubscriptionOffer,
    SubscriptionRestarted,
    TalkingChanged,
)

__all__ = [
    "PLUGIN",
    "JanusError",
    "JanusMessage",
    "RoomLoad",
    "ServerInfo",
    "allowed",
    "answer_of",
    "attach",
    "check",
    "claim_session",
    "configure",
    "configure_subscription",
    "configured",
    "create_room",
    "create_session",
    "created_room",
    "destroy_room",
    "destroy_session",
    "detach",
    "encode_message",
    "handle_events",
    "handle_id_of",
    "info",
    "is_session_timeout",
    "join_monitor",
    "join_subscriber",
    "joined_feeds",
    "keepalive",
    "kick",
    "list_participants",
    "list_rooms",
    "parse_message",
    "participants_of",
    "publish",
    "restart_subscription",
    "restarted_offer_of",
    "room_events",
    "room_load_of",
    "server_info_of",
    "session_id_of",
    "start_subscription",
    "subscription_of",
    "to_json",
    "trickle",
    "unpublish",
    "update_subscription",
]

PLUGIN: Final = "janus.plugin.videoroom"

# Core API error codes (janus/apierror.h) and VideoRoom error codes (janus_videoroom.c).
_CORE_UNAVAILABLE = {
    403,  # wrong API secret: this node is not configured the way Salon thinks
    458,  # session not found: it timed out or the node restarted
    460,  # plugin not found
    461,  # plugin attach failed
    472,  # not accepting new sessions (draining)
}
_CORE_BAD_OFFER = {464, 465, 469}  # unknown JSEP type, invalid SDP, unexpected answer
_CORE_BAD_REQUEST = {452, 453, 454, 455, 456, 457, 467}
_ROOM_REFUSALS = {
    425: SfuRefusal.ALREADY_JOINED,
    436: SfuRefusal.ALREADY_JOINED,
    427: SfuRefusal.ROOM_EXISTS,
    428: SfuRefusal.NO_SUCH_FEED,
    432: SfuRefusal.PUBLISHERS_FULL,
    433: SfuRefusal.UNAUTHORIZED,
    431: SfuRefusal.INVALID_OFFER,
    437: SfuRefusal.INVALID_OFFER,
    421: SfuRefusal.INVALID_REQUEST,
    422: SfuRefusal.INVALID_REQUEST,
    423: SfuRefusal.INVALID_REQUEST,
    424: SfuRefusal.INVALID_REQUEST,
    429: SfuRefusal.INVALID_REQUEST,
    430: SfuRefusal.INVALID_REQUEST,
    434: SfuRefusal.INVALID_REQUEST,
    435: SfuRefusal.INVALID_REQUEST,
}
_NO_SUCH_ROOM = 426
_SCREEN = FeedKind.SCREEN.value
# Room events name a participant; these values name the receiving handle itself instead.
_SELF = "ok"


# --- envelopes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JanusError:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class JanusMessage:
    """One message of the Janus API, either way.

    ``handle_id`` is how a request names its handle and ``sender`` how a reply or event does;
    ``data`` is the plugin's payload (``plugindata.data``); ``fields`` keeps every other member
    as Janus sent it, so encoding gives back the same JSON value.
    """

    janus: str
    transaction: str | None = None
    session_id: int | None = None
    handle_id: int | None = None
    sender: int | None = None
    plugin: str | None = None
    data: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    jsep: Mapping[str, Any] | None = None
    error: JanusError | None = None
    apisecret: str | None = field(default=None, repr=False)
    fields: Mapping[str, Any] = field(default_factory=dict)


_ENVELOPE_KEYS = frozenset(
    {
        "janus",
        "transaction",
        "session_id",
        "handle_id",
        "sender",
        "plugindata",
        "body",
        "jsep",
        "error",
        "apisecret",
    }
)


def _bad(detail: str) -> SfuError:
    return SfuError("The media server sent a message Salon does not understand.", detail=detail)


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{what} is not an integer: {value!r}")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _bad(f"{what} is not a string: {value!r}")
    return value


def _obj(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{what} is not an object: {value!r}")
    return value


def _opt_int(raw: Mapping[str, Any], key: str) -> int | None:
    return None if key not in raw else _int(raw[key], key)


def parse_message(text: str | bytes) -> JanusMessage:
    """The message in one WebSocket frame; ``SfuError`` if it is not a Janus message."""
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"not JSON: {exc}") from None
    raw = _obj(raw, "message")
    plugindata = _obj(raw["plugindata"], "plugindata") if "plugindata" in raw else None
    error = _obj(raw["error"], "error") if "error" in raw else None
    return JanusMessage(
        janus=_str(raw.get("janus"), "janus"),
        transaction=_str(raw["transaction"], "transaction") if "transaction" in raw else None,
        session_id=_opt_int(raw, "session_id"),
        handle_id=_opt_int(raw, "handle_id"),
        sender=_opt_int(raw, "sender"),
        plugin=_str(plugindata.get("plugin"), "plugin") if plugindata is not None else None,
        data=_obj(plugindata.get("data"), "plugindata.data") if plugindata is not None else None,
        body=_obj(raw["body"], "body") if "body" in raw else None,
        jsep=_obj(raw["jsep"], "jsep") if "jsep" in raw else None,
        error=(
            JanusError(_int(error.get("code"), "error.code"), str(error.get("reason", "")))
            if error is not None
            else None
        ),
        apisecret=_str(raw["apisecret"], "apisecret") if "apisecret" in raw else None,
        fields={k: v for k, v in raw.items() if k not in _ENVELOPE_KEYS},
    )


def encode_message(message: JanusMessage) -> dict[str, Any]:
    """The JSON value of ``message``: ``encode_message(parse_message(t)) == json.loads(t)``."""
    out: dict[str, Any] = {"janus": message.janus}
    optional: list[tuple[str, Any]] = [
        ("transaction", message.transaction),
        ("session_id", message.session_id),
        ("handle_id", message.handle_id),
        ("sender", message.sender),
        ("body", message.body),
        ("jsep", message.jsep),
        ("apisecret", message.apisecret),
    ]
    out.update((key, value) for key, value in optional if value is not None)
    if message.plugin is not None or message.data is not None:
        out["plugindata"] = {"plugin": message.plugin, "data": message.data}
    if message.error is not None:
        out["error"] = {"code": message.error.code, "reason": message.error.reason}
    out.update(message.fields)
    return out


def to_json(message: JanusMessage) -> str:
    return json.dumps(encode_message(message), separators=(",", ":"))


# --- requests -------------------------------------------------------------------------------


def create_session() -> JanusMessage:
    return JanusMessage("create")


def claim_session(session_id: int) -> JanusMessage:
    """Takes a session over on a new connection (after the old one dropped)."""
    return JanusMessage("claim", session_id=session_id)


def destroy_session() -> JanusMessage:
    return JanusMessage("destroy")


def keepalive() -> JanusMessage:
    return JanusMessage("keepalive")


def info() -> JanusMessage:
    return JanusMessage("info")


def attach() -> JanusMessage:
    return JanusMessage("attach", fields={"plugin": PLUGIN})


def detach(handle_id: int) -> JanusMessage:
    return JanusMessage("detach", handle_id=handle_id)


def _message(
    handle_id: int, body: Mapping[str, Any], jsep: SessionDescription | None = None
) -> JanusMessage:
    return JanusMessage(
        "message",
        handle_id=handle_id,
        body=body,
        jsep={"type": jsep.type.value, "sdp": jsep.sdp} if jsep is not None else None,
    )


def trickle(handle_id: int, candidate: IceCandidate | None) -> JanusMessage:
    if candidate is None:
        return JanusMessage(
            "trickle", handle_id=handle_id, fields={"candidate": {"completed": True}}
        )
    value: dict[str, Any] = {"candidate": candidate.candidate}
    if candidate.sdp_mid is not None:
        value["sdpMid"] = candidate.sdp_mid
    if candidate.sdp_mline_index is not None:
        value["sdpMLineIndex"] = candidate.sdp_mline_index
    return JanusMessage("trickle", handle_id=handle_id, fields={"candidate": value})


def create_room(
    handle_id: int,
    spec: RoomSpec,
    *,
    admin_key: str,
    secret: str,
    pin: str,
    allowed: Sequence[str],
) -> JanusMessage:
    """``create``: private, never recorded (and locked so), tokens required to join as a
    publisher, talking events on when asked, VP8 and Opus (simulcast needs VP8 or H.264)."""
    body: dict[str, Any] = {
        "request": "create",
        "room": spec.room_id,
        "admin_key": admin_key,
        "permanent": False,
        "is_private": True,
        "secret": secret,
        "pin": pin,
        "allowed": list(allowed),
        "publishers": spec.max_publishers,
        "bitrate": spec.bitrate_bps,
        "bitrate_cap": True,
        "fir_freq": 10,
        "audiocodec": "opus",
        "videocodec": "vp8",
        "record": False,
        "lock_record": True,
        "notify_joining": True,
        "require_pvtid": False,
        "audiolevel_ext": True,
        "audiolevel_event": spec.audio_levels,
        "audio_active_packets": 50,
        "audio_level_average": 25,
    }
    return _message(handle_id, body)


def destroy_room(handle_id: int, room_id: str, *, secret: str) -> JanusMessage:
    body = {"request": "destroy", "room": room_id, "secret": secret, "permanent": False}
    return _message(handle_id, body)


def allowed(
    handle_id: int, room_id: str, *, secret: str, action: str, tokens: Sequence[str]
) -> JanusMessage:
    """``allowed``: ``action`` is ``add`` or ``remove``."""
    if action not in {"add", "remove"}:
        raise ValueError(f"allowed action must be add or remove, not {action!r}")
    body = {
        "request": "allowed",
        "room": room_id,
        "secret": secret,
        "action": action,
        "allowed": list(tokens),
    }
    return _message(handle_id, body)


def kick(handle_id: int, room_id: str, participant_id: str, *, secret: str) -> JanusMessage:
    body = {"request": "kick", "room": room_id, "secret": secret, "id": participant_id}
    return _message(handle_id, body)


def list_participants(handle_id: int, room_id: str) -> JanusMessage:
    return _message(handle_id, {"request": "listparticipants", "room": room_id})


def list_rooms(handle_id: int, *, admin_key: str) -> JanusMessage:
    return _message(handle_id, {"request": "list", "admin_key": admin_key})


def join_monitor(
    handle_id: int, room_id: str, monitor_id: str, *, pin: str, token: str
) -> JanusMessage:
    """Salon's own participant in a room: joins, never publishes, hears every room event."""
    body = {
        "request": "join",
        "ptype": "publisher",
        "room": room_id,
        "id": monitor_id,
        "pin": pin,
        "token": token,
    }
    return _message(handle_id, body)


def _descriptions(kinds: Mapping[str, FeedKind] | None) -> list[dict[str, str]]:
    # Janus carries a free-text description per mid to every subscriber; Salon puts the feed
    # kind there, which is how a screen share stays a screen share on the other side.
    return [{"mid": mid, "description": kind.value} for mid, kind in (kinds or {}).items()]


def publish(
    handle_id: int,
    room_id: str,
    participant_id: str,
    offer: SessionDescription,
    *,
    pin: str,
    token: str,
    kinds: Mapping[str, FeedKind] | None = None,
) -> JanusMessage:
    """``joinandconfigure`` as a publisher with the browser's offer: one round trip."""
    body: dict[str, Any] = {
        "request": "joinandconfigure",
        "ptype": "publisher",
        "room": room_id,
        "id": participant_id,
        "pin": pin,
        "token": token,
    }
    if kinds:
        body["descriptions"] = _descriptions(kinds)
    return _message(handle_id, body, offer)


def configure(
    handle_id: int, offer: SessionDescription, *, kinds: Mapping[str, FeedKind] | None = None
) -> JanusMessage:
    """``configure`` with a new offer: renegotiates (or re-publishes after ``unpublish``)."""
    body: dict[str, Any] = {"request": "configure"}
    if kinds:
        body["descriptions"] = _descriptions(kinds)
    return _message(handle_id, body, offer)


def unpublish(handle_id: int) -> JanusMessage:
    return _message(handle_id, {"request": "unpublish"})


def _streams(feeds: Iterable[FeedSelection]) -> list[dict[str, Any]]:
    streams = []
    for feed in feeds:
        stream: dict[str, Any] = {"feed": feed.publisher_id}
        if feed.mid is not None:
            stream["mid"] = feed.mid
        if feed.layer is not None:
            stream["substream"] = int(feed.layer)
        streams.append(stream)
    return streams


def join_subscriber(
    handle_id: int, room_id: str, feeds: Sequence[FeedSelection], *, pin: str
) -> JanusMessage:
    body = {
        "request": "join",
        "ptype": "subscriber",
        "room": room_id,
        "pin": pin,
        "streams": _streams(feeds),
        "use_msid": False,
        "autoupdate": True,
    }
    return _message(handle_id, body)


def update_subscription(
    handle_id: int, *, add: Sequence[FeedSelection], remove: Sequence[FeedSelection]
) -> JanusMessage:
    body: dict[str, Any] = {"request": "update"}
    if add:
        body["subscribe"] = _streams(add)
    if remove:
        body["unsubscribe"] = _streams(remove)
    return _message(handle_id, body)


def configure_subscription(handle_id: int, streams: Sequence[StreamSetting]) -> JanusMessage:
    """A subscriber's ``configure`` with one entry per m-line: ``substream`` picks the
    simulcast layer (0 is the lowest), ``send`` false pauses the m-line, true resumes it."""
    entries = []
    for setting in streams:
        entry: dict[str, Any] = {"mid": setting.mid}
        if setting.layer is not None:
            entry["substream"] = int(setting.layer)
        if setting.paused is not None:
            entry["send"] = not setting.paused
        entries.append(entry)
    return _message(handle_id, {"request": "configure", "streams": entries})


def start_subscription(handle_id: int, answer: SessionDescription) -> JanusMessage:
    return _message(handle_id, {"request": "start"}, answer)


def restart_subscription(handle_id: int) -> JanusMessage:
    """A subscriber's ``configure`` with ``restart``: Janus offers the subscription again with
    new ICE credentials (an ``event`` that says ``configured``, with the offer), or, while its
    previous offer is unanswered, holds the request back (only the ``ack`` comes) and offers
    with the restart in an ``updated`` event once that offer is answered."""
    return _message(handle_id, {"request": "configure", "restart": True})


# --- replies --------------------------------------------------------------------------------


def check(message: JanusMessage) -> JanusMessage:
    """``message`` if it reports success; otherwise raises the ``SfuError`` it stands for."""
    if message.janus == "error" or message.error is not None:
        error = message.error or JanusError(0, "error without a body")
        detail = f"janus {error.code}: {error.reason}"
        if error.code in _CORE_UNAVAILABLE:
            raise SfuUnavailable(detail=detail)
        if error.code in _CORE_BAD_OFFER:
            raise SfuRefused(SfuRefusal.INVALID_OFFER, detail=detail)
        if error.code in _CORE_BAD_REQUEST:
            raise SfuRefused(SfuRefusal.INVALID_REQUEST, detail=detail)
        raise SfuError(detail=detail)
    data = message.data
    if data is not None and "error_code" in data:
        code = _int(data["error_code"], "error_code")
        detail = f"videoroom {code}: {data.get('error', '')}"
        if code == _NO_SUCH_ROOM:
            raise SfuRoomNotFound(detail=detail)
        if code in _ROOM_REFUSALS:
            raise SfuRefused(_ROOM_REFUSALS[code], detail=detail)
        raise SfuError(detail=detail)
    return message


def _data(message: JanusMessage, *expected: str) -> Mapping[str, Any]:
    data = check(message).data
    if data is None or data.get("videoroom") not in expected:
        raise _bad(f"expected videoroom {' or '.join(expected)}, got {data!r}")
    return data


def _id_of(message: JanusMessage) -> int:
    data = _obj(check(message).fields.get("data"), "data")
    return _int(data.get("id"), "data.id")


def session_id_of(message: JanusMessage) -> int:
    """The new session's id in the reply to ``create``."""
    return _id_of(message)


def handle_id_of(message: JanusMessage) -> int:
    """The new handle's id in the reply to ``attach``."""
    return _id_of(message)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version: str
    accepting_sessions: bool
    session_timeout: int


def server_info_of(message: JanusMessage) -> ServerInfo:
    fields = check(message).fields
    if message.janus != "server_info":
        raise _bad(f"expected server_info, got {message.janus}")
    return ServerInfo(
        version=_str(fields.get("version_string"), "version_string"),
        accepting_sessions=fields.get("accepting-new-sessions") is True,
        session_timeout=_int(fields.get("session-timeout"), "session-timeout"),
    )


def created_room(message: JanusMessage) -> str:
    return _str(_data(message, "created")["room"], "room")


@dataclass(frozen=True, slots=True)
class RoomLoad:
    rooms: int
    participants: int


def room_load_of(message: JanusMessage, *, own_per_room: int = 1) -> RoomLoad:
    """Rooms on the node and participants in them (less Salon's own ``own_per_room`` each)."""
    rooms = _data(message, "success").get("list", [])
    if not isinstance(rooms, list):
        raise _bad("list is not a list")
    people = sum(
        max(0, _int(_obj(r, "room")["num_participants"], "n") - own_per_room) for r in rooms
    )
    return RoomLoad(rooms=len(rooms), participants=people)


def participants_of(message: JanusMessage, *, hidden: str) -> tuple[SfuParticipant, ...]:
    """Who ``listparticipants`` says is in the room, leaving out the participant ``hidden``."""
    rows = _data(message, "participants").get("participants", [])
    out = []
    for row in rows:
        entry = _obj(row, "participant")
        participant_id = _str(entry.get("id"), "id")
        if participant_id == hidden:
            continue
        talking = entry.get("talking")
        out.append(
            SfuParticipant(
                participant_id,
                publishing=entry.get("publisher") is True,
                talking=talking if isinstance(talking, bool) else None,
            )
        )
    return tuple(out)


def configured(message: JanusMessage) -> None:
    """Checks the reply to a subscriber's ``configure``: ``SfuError`` unless it took it."""
    data = _data(message, "event")
    if data.get("configured") != "ok":
        raise _bad(f"expected configured ok, got {data!r}")


def _description(jsep: Mapping[str, Any] | None, expected: SdpType) -> SessionDescription:
    if jsep is None:
        raise _bad(f"expected an SDP {expected.value}, got none")
    try:
        sdp_type = SdpType(_str(jsep.get("type"), "type"))
        description = SessionDescription(sdp_type, _str(jsep.get("sdp"), "sdp"))
    except ValueError as exc:
        raise _bad(f"bad SDP: {exc}") from None
    if description.type is not expected:
        raise _bad(f"expected an SDP {expected.value}, got {description.type.value}")
    return description


def answer_of(message: JanusMessage) -> SessionDescription:
    """The SDP answer in the reply to ``publish`` or ``configure``."""
    _data(message, "joined", "event")
    return _description(message.jsep, SdpType.ANSWER)


def _feed_kind(kind: object, description: object) -> FeedKind | None:
    if kind == "audio":
        return FeedKind.AUDIO
    if kind == "video":
        return FeedKind.SCREEN if description == _SCREEN else FeedKind.VIDEO
    return None  # data channels: Salon relays chat itself


def _published_feeds(publisher: Mapping[str, Any]) -> tuple[PublishedFeed, ...]:
    publisher_id = _str(publisher.get("id"), "publisher id")
    feeds = []
    for raw in publisher.get("streams", []):
        stream = _obj(raw, "stream")
        kind = _feed_kind(stream.get("type"), stream.get("description"))
        if kind is None or stream.get("disabled") is True:
            continue
        codec = stream.get("codec")
        feeds.append(
            PublishedFeed(
                publisher_id=publisher_id,
                mid=_str(stream.get("mid"), "mid"),
                kind=kind,
                codec=codec if isinstance(codec, str) else None,
                simulcast=stream.get("simulcast") is True,
            )
        )
    return tuple(feeds)


def joined_feeds(message: JanusMessage) -> dict[str, tuple[PublishedFeed, ...]]:
    """What is already published when the monitor joins, by publisher."""
    data = _data(message, "joined")
    out = {}
    for raw in data.get("publishers", []):
        publisher = _obj(raw, "publisher")
        out[_str(publisher.get("id"), "id")] = _published_feeds(publisher)
    return out


def _subscribed(streams: object) -> tuple[SubscribedStream, ...]:
    if not isinstance(streams, list):
        return ()
    out = []
    for raw in streams:
        stream = _obj(raw, "stream")
        if "feed_id" not in stream or stream.get("active") is False:
            continue  # an m-line whose feed went away stays in the SDP, inactive
        kind = _feed_kind(stream.get("type"), stream.get("feed_description"))
        if kind is None:
            continue
        out.append(
            SubscribedStream(
                mid=_str(stream.get("mid"), "mid"),
                publisher_id=_str(stream.get("feed_id"), "feed_id"),
                feed_mid=_str(stream.get("feed_mid"), "feed_mid"),
                kind=kind,
            )
        )
    return tuple(out)


def restarted_offer_of(message: JanusMessage) -> SessionDescription:
    """The SFU's offer in the ``configured`` event that answers ``restart_subscription``."""
    data = _data(message, "event")
    if data.get("configured") != "ok":
        raise _bad(f"expected configured ok, got {data!r}")
    return _description(message.jsep, SdpType.OFFER)


def subscription_of(
    message: JanusMessage,
) -> tuple[SessionDescription, tuple[SubscribedStream, ...]]:
    """The SFU's offer and what each m-line carries, in an ``attached`` or ``updated`` event."""
    data = _data(message, "attached", "updated")
    return _description(message.jsep, SdpType.OFFER), _subscribed(data.get("streams"))


# --- events ---------------------------------------------------------------------------------


def room_events(room: SfuRoom, message: JanusMessage, *, monitor_id: str) -> tuple[SfuEvent, ...]:
    """The room events in one message to the room's monitor handle (none for anything else)."""
    data = message.data
    if message.janus != "event" or data is None:
        return ()
    kind = data.get("videoroom")
    events: list[SfuEvent] = []
    if kind in {"talking", "stopped-talking"}:
        level = data.get("audio-level-dBov-avg")
        who = _str(data.get("id"), "id")
        if who != monitor_id:
            events.append(
                TalkingChanged(
                    room,
                    who,
                    talking=kind == "talking",
                    level_dbov=round(level) if isinstance(level, int | float) else None,
                )
            )
    elif kind == "destroyed":
        events.append(RoomDestroyed(room))
    elif kind == "event":
        joining = data.get("joining")
        if isinstance(joining, dict) and joining.get("id") != monitor_id:
            events.append(PublisherJoined(room, _str(joining.get("id"), "joining.id")))
        for raw in data.get("publishers", []) if isinstance(data.get("publishers"), list) else []:
            publisher = _obj(raw, "publisher")
            if publisher.get("id") != monitor_id:
                feeds = _published_feeds(publisher)
                events.append(FeedsPublished(room, _str(publisher.get("id"), "id"), feeds))
        for key in ("unpublished", "leaving", "kicked"):
            value = data.get(key)
            if value is None or value in (_SELF, monitor_id):
                continue
            who = _str(value, key)
            if key == "unpublished":
                events.append(FeedsUnpublished(room, who))
            else:
                events.append(PublisherLeft(room, who, kicked=key == "kicked"))
    return tuple(events)


def handle_events(handle: MediaHandle, message: JanusMessage) -> tuple[SfuEvent, ...]:
    """The events about one publisher's or subscriber's own peer connection in ``message``.

    Room-wide events that every publisher handle also hears are left to the monitor.
    """
    if message.janus == "webrtcup":
        return (PeerConnectionUp(handle),)
    if message.janus == "hangup":
        return (PeerConnectionDown(handle, str(message.fields.get("reason", "hangup"))),)
    data = message.data
    if message.janus == "event" and data is not None:
        if data.get("videoroom") == "updated" and message.jsep is not None:
            offer, streams = subscription_of(message)
            return (SubscriptionOffer(handle, offer, streams),)
        if data.get("configured") == "ok" and message.jsep is not None:
            # The answer to restart_subscription (sent with ack_is_final): an ICE restart
            # offer, which lists no streams since they are the ones of the previous offer.
            return (SubscriptionRestarted(handle, restarted_offer_of(message)),)
        if data.get("leaving") == _SELF and data.get("reason") == "kicked":
            return (PeerConnectionDown(handle, "kicked"),)
    return ()


def is_session_timeout(message: JanusMessage) -> bool:
    """Janus closed the session for want of keepalives."""
    return message.janus == "timeout"

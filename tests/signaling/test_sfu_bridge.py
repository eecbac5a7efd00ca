"""Group rooms' media, driven through Salon's signaling against a fake ``SfuBackend``.

The fake records every call, in order, and can hold calls at a gate, fail one call, or publish
feeds as a real SFU would once a publisher's media is up. The first half drives ``SfuBridge``
directly (ordering, subscriptions, resets, clean-up); the second half goes through the real
HTTPS signaling server with real Socket.IO clients (who may do what, and that the room's lock
is free while the SFU works). The same flows against a real Janus, with real media, are in
tests/e2e/test_group_sfu.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from salon.auth.room_keys import RoomRole
from salon.errors import InvalidInput, SfuError, SfuRefusal, SfuRefused, SfuUnavailable
from salon.janus.pool import RoomMoved, RoomStranded
from salon.media.events import EventHub, SfuEventStream
from salon.media.layers import LayerRules
from salon.media.sfu import (
    FeedKind,
    FeedSelection,
    FeedsPublished,
    FeedsUnpublished,
    HandleRole,
    IceCandidate,
    MediaHandle,
    NodeHealth,
    NodeLost,
    Publication,
    PublishedFeed,
    PublishGrant,
    RoomSpec,
    SdpType,
    SessionDescription,
    SfuBackend,
    SfuEvent,
    SfuNode,
    SfuParticipant,
    SfuRoom,
    SimulcastLayer,
    StreamSetting,
    SubscribedStream,
    Subscription,
    SubscriptionOffer,
    SubscriptionRestarted,
    TalkingChanged,
)
from salon.rooms.engine import Room
from salon.rooms.events import Join, Reply, SfuRequest, Signal
from salon.services.meetings import RoomMode
from salon.signaling.schema import MODELS, parse
from salon.signaling.sfu_bridge import RoomRef, SfuBridge, sfu_participant_id
from tests.signaling.conftest import RoomUnderTest, make_room
from tests.support.server import RunningServer
from tests.support.signaling_client import on_server

pytestmark = pytest.mark.anyio

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
ANSWER = OFFER.replace("o=- 1", "o=- 7")
CANDIDATE = "candidate:1 1 udp 2122260223 10.77.0.2 51000 typ host"
REF = RoomRef("/group-room", "3b4c1c2e-0000-4000-8000-000000000001")
T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


# --- a fake SFU --------------------------------------------------------------------------------


class FakeSfu:
    """An ``SfuBackend`` that keeps its word: rooms, grants, handles and subscriptions, and
    every call recorded as ``(method, *arguments)`` in ``calls``."""

    def __init__(
        self, node_id: str = "node-1", *, feeds_on_publish: bool = False, simulcast: bool = False
    ) -> None:
        self._node = SfuNode(node_id, "ws://127.0.0.1:1/")
        self.hub = EventHub()
        self.calls: list[tuple[Any, ...]] = []
        self.rooms: set[str] = set()
        self.grants: dict[str, PublishGrant] = {}
        self.kinds: dict[str, dict[str, FeedKind]] = {}
        self.subscriptions: dict[int, list[SubscribedStream]] = {}
        # Subscriptions whose latest offer is unanswered, and those whose ICE restart waits
        # for that answer (as Janus holds a restart back).
        self.unanswered: set[int] = set()
        self.held_restarts: set[int] = set()
        self.offers = itertools.count(2)
        # Emit FeedsPublished as soon as someone publishes (a real SFU does once media is up).
        self.feeds_on_publish = feeds_on_publish
        # Cameras (video, not screen) arrive in simulcast layers.
        self.simulcast = simulcast
        # While set to an unset Event, every call waits for it.
        self.gate: asyncio.Event | None = None
        self.busy = 0
        self.most_busy = 0
        self.failures: dict[str, list[SfuError]] = {}
        self._ids = itertools.count(1)

    @property
    def node(self) -> SfuNode:
        return self._node

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    def fail_next(self, method: str, error: SfuError) -> None:
        self.failures.setdefault(method, []).append(error)

    async def _enter(self, method: str, *args: Any) -> None:
        self.calls.append((method, *args))
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)  # a real call always yields
        finally:
            self.busy -= 1
        if self.failures.get(method):
            raise self.failures[method].pop(0)

    def _handle(self, room: SfuRoom, sfu_id: str, role: HandleRole) -> MediaHandle:
        return MediaHandle(room, sfu_id, role, next(self._ids))

    async def create_room(self, spec: RoomSpec) -> SfuRoom:
        await self._enter("create_room", spec)
        if spec.room_id in self.rooms:
            raise SfuRefused(SfuRefusal.ROOM_EXISTS)
        self.rooms.add(spec.room_id)
        return SfuRoom(self._node.node_id, spec.room_id)

    async def destroy_room(self, room: SfuRoom) -> None:
        await self._enter("destroy_room", room)
        self.rooms.discard(room.room_id)

    async def participants(self, room: SfuRoom) -> tuple[SfuParticipant, ...]:
        await self._enter("participants", room)
        return tuple(SfuParticipant(pid, publishing=True) for pid in self.kinds)

    async def allow_publisher(self, room: SfuRoom, participant_id: str) -> PublishGrant:
        await self._enter("allow_publisher", room, participant_id)
        grant = PublishGrant(room, participant_id, f"token-{next(self._ids)}")
        self.grants[participant_id] = grant
        return grant

    async def revoke_publisher(self, grant: PublishGrant) -> None:
        await self._enter("revoke_publisher", grant.participant_id)
        self.grants.pop(grant.participant_id, None)
        self.kinds.pop(grant.participant_id, None)

    async def publish(
        self,
        grant: PublishGrant,
        offer: SessionDescription,
        *,
        kinds: Mapping[str, FeedKind] | None = None,
    ) -> Publication:
        await self._enter("publish", grant.participant_id, offer.sdp, dict(kinds or {}))
        if self.grants.get(grant.participant_id) != grant:
            raise SfuRefused(SfuRefusal.UNAUTHORIZED)
        self.kinds[grant.participant_id] = dict(kinds or {"0": FeedKind.AUDIO})
        handle = self._handle(grant.room, grant.participant_id, HandleRole.PUBLISHER)
        if self.feeds_on_publish:
            self.emit_feeds(grant.room, grant.participant_id)
        return Publication(handle, SessionDescription(SdpType.ANSWER, ANSWER))

    def emit_feeds(self, room: SfuRoom, sfu_id: str) -> None:
        feeds = tuple(
            PublishedFeed(sfu_id, mid, kind, simulcast=self.simulcast and kind is FeedKind.VIDEO)
            for mid, kind in self.kinds[sfu_id].items()
        )
        self.hub.emit(FeedsPublished(room, sfu_id, feeds))

    async def renegotiate(
        self,
        handle: MediaHandle,
        offer: SessionDescription,
        *,
        kinds: Mapping[str, FeedKind] | None = None,
    ) -> SessionDescription:
        await self._enter("renegotiate", handle.participant_id, offer.sdp)
        return SessionDescription(SdpType.ANSWER, ANSWER)

    async def unpublish(self, handle: MediaHandle) -> None:
        await self._enter("unpublish", handle.participant_id)

    def _streams(self, handle_id: int, feeds: Sequence[FeedSelection]) -> list[SubscribedStream]:
        streams = self.subscriptions.setdefault(handle_id, [])
        for feed in feeds:
            assert feed.mid is not None, "Salon subscribes stream by stream"
            kind = self.kinds.get(feed.publisher_id, {}).get(feed.mid, FeedKind.VIDEO)
            streams.append(SubscribedStream(str(len(streams)), feed.publisher_id, feed.mid, kind))
        return streams

    async def subscribe(
        self, room: SfuRoom, participant_id: str, feeds: Sequence[FeedSelection]
    ) -> Subscription:
        await self._enter("subscribe", participant_id, list(feeds))
        if any(feed.publisher_id not in self.kinds for feed in feeds):
            raise SfuRefused(SfuRefusal.NO_SUCH_FEED)
        handle = self._handle(room, participant_id, HandleRole.SUBSCRIBER)
        streams = self._streams(handle.handle_id, feeds)
        self.unanswered.add(handle.handle_id)
        return Subscription(handle, SessionDescription(SdpType.OFFER, OFFER), tuple(streams))

    def next_offer(self, handle: MediaHandle) -> SessionDescription:
        self.unanswered.add(handle.handle_id)
        return SessionDescription(SdpType.OFFER, OFFER.replace("o=- 1", f"o=- {next(self.offers)}"))

    async def update_subscription(
        self,
        handle: MediaHandle,
        *,
        add: Sequence[FeedSelection] = (),
        remove: Sequence[FeedSelection] = (),
    ) -> None:
        await self._enter("update_subscription", handle.participant_id, list(add), list(remove))
        streams = self._streams(handle.handle_id, add)
        self.hub.emit(SubscriptionOffer(handle, self.next_offer(handle), tuple(streams)))

    async def configure_subscription(
        self, handle: MediaHandle, streams: Sequence[StreamSetting]
    ) -> None:
        await self._enter("configure_subscription", handle.participant_id, list(streams))

    async def start_subscription(self, handle: MediaHandle, answer: SessionDescription) -> None:
        await self._enter("start_subscription", handle.participant_id, answer.sdp)
        self.unanswered.discard(handle.handle_id)
        if handle.handle_id in self.held_restarts:
            self.held_restarts.discard(handle.handle_id)
            streams = tuple(self.subscriptions.get(handle.handle_id, ()))
            self.hub.emit(SubscriptionOffer(handle, self.next_offer(handle), streams))

    async def restart_subscription(self, handle: MediaHandle) -> None:
        await self._enter("restart_subscription", handle.participant_id)
        if handle.handle_id in self.unanswered:
            self.held_restarts.add(handle.handle_id)
        else:
            self.hub.emit(SubscriptionRestarted(handle, self.next_offer(handle)))

    async def trickle(self, handle: MediaHandle, candidate: IceCandidate | None) -> None:
        await self._enter("trickle", handle.participant_id, handle.role.value, candidate)

    async def leave(self, handle: MediaHandle) -> None:
        await self._enter("leave", handle.participant_id, handle.role.value)

    def events(self) -> SfuEventStream:
        return self.hub.listen()

    async def health(self) -> NodeHealth:
        return NodeHealth(self._node, "fake", len(self.rooms), len(self.grants))

    async def close(self) -> None:
        self.hub.close()


def _implements(fake: FakeSfu) -> SfuBackend:
    return fake


@dataclass
class Outbox:
    """Everything the bridge posted and answered, in one ordered log."""

    log: list[tuple[str, str | None, str, dict[str, Any]]]

    def post(self, room: RoomRef, to: str | None, event: str, data: dict[str, Any]) -> None:
        assert room == REF
        self.log.append(("post", to, event, data))

    def answer(self, pid: str, event: str) -> Any:
        return lambda payload: self.log.append(("ack", pid, event, payload))

    def of(self, pid: str, event: str) -> list[dict[str, Any]]:
        return [data for kind, to, name, data in self.log if name == event and to in (pid, None)]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox([])


@pytest.fixture
async def sfu() -> AsyncIterator[FakeSfu]:
    fake = FakeSfu()
    yield fake
    await fake.close()


@pytest.fixture
async def bridge(sfu: FakeSfu, outbox: Outbox) -> AsyncIterator[SfuBridge]:
    made = SfuBridge(sfu, outbox.post)
    yield made
    await made.close()


def sid(pid: str) -> str:
    return sfu_participant_id(pid)


async def ask(
    bridge: SfuBridge,
    outbox: Outbox,
    pid: str,
    event: str,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return await submit(bridge, outbox, pid, event, payload)


def submit(
    bridge: SfuBridge,
    outbox: Outbox,
    pid: str,
    event: str,
    payload: dict[str, Any] | None = None,
) -> asyncio.Future[dict[str, Any]]:
    """Hands a request to the bridge now (as the shell does, under the room's lock); the
    future is its acknowledgement."""
    message: Any = parse(event, payload or {})
    acked: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def answer(data: dict[str, Any]) -> None:
        outbox.answer(pid, event)(data)
        acked.set_result(data)

    bridge.request(REF, pid, message, answer)
    return acked


def publish_payload(sdp: str = OFFER, **kinds: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"description": {"type": "offer", "sdp": sdp}}
    if kinds:
        payload["kinds"] = {mid.removeprefix("m"): kind for mid, kind in kinds.items()}
    return payload


async def idle(bridge: SfuBridge, sfu: FakeSfu) -> None:
    """Lets every queued piece of work and every event run to the end."""
    for _ in range(200):
        await asyncio.sleep(0)
    workers = [m.worker for m in bridge._rooms.values() if m.worker is not None]
    await asyncio.gather(*workers)
    for _ in range(50):
        await asyncio.sleep(0)


# --- the bridge, driven directly ---------------------------------------------------------------


async def test_the_first_join_makes_the_room_with_room_for_every_person(bridge, sfu, outbox):
    bridge.joined(REF, "ann", may_publish=True)
    bridge.joined(REF, "bob", may_publish=True)
    await idle(bridge, sfu)
    assert sfu.calls == [("create_room", RoomSpec(REF.meeting_id, max_publishers=200))]


async def test_publishing_makes_a_grant_once_and_a_second_offer_renegotiates(bridge, sfu, outbox):
    bridge.joined(REF, "ann", may_publish=True)
    first = await ask(
        bridge, outbox, "ann", "sfu_publish", publish_payload(m0="audio", m2="screen")
    )
    assert first == {"ok": True, "description": {"type": "answer", "sdp": ANSWER}}
    again = await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    assert again["ok"] and again["description"]["type"] == "answer"
    assert sfu.names() == ["create_room", "allow_publisher", "publish", "renegotiate"]
    assert sfu.calls[2] == (
        "publish",
        sid("ann"),
        OFFER,
        {"0": FeedKind.AUDIO, "2": FeedKind.SCREEN},
    )


async def test_a_viewer_is_refused_and_never_gets_a_grant(bridge, sfu, outbox):
    bridge.joined(REF, "vic", may_publish=False)
    reply = await ask(bridge, outbox, "vic", "sfu_publish", publish_payload())
    assert reply["error"]["code"] == "forbidden"
    subscribed = await ask(bridge, outbox, "vic", "sfu_subscribe")
    assert subscribed == {"ok": True, "description": None, "streams": []}
    assert "allow_publisher" not in sfu.names() and "publish" not in sfu.names()


async def test_everyone_receives_what_the_others_publish(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    for pid in ("ann", "bob", "cy"):
        bridge.joined(REF, pid, may_publish=True)
        assert (await ask(bridge, outbox, pid, "sfu_subscribe"))["description"] is None

    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload(m0="audio", m1="video"))
    await idle(bridge, sfu)
    # Bob and Cy had nothing to receive: now each gets a subscription to Ann's two streams.
    for pid in ("bob", "cy"):
        (offer,) = outbox.of(pid, "sfu_offer")
        assert offer["description"] == {"type": "offer", "sdp": OFFER}
        assert offer["streams"] == [
            {"mid": "0", "participantId": "ann", "kind": "audio"},
            {"mid": "1", "participantId": "ann", "kind": "video"},
        ]
    assert outbox.of("ann", "sfu_offer") == []

    outbox.log.clear()
    await ask(bridge, outbox, "bob", "sfu_publish", publish_payload(m0="audio", m1="video"))
    await idle(bridge, sfu)
    # Cy's subscription grows by Bob's streams (the SFU's new offer is relayed); Ann's starts.
    (cy_offer,) = outbox.of("cy", "sfu_offer")
    assert [s["participantId"] for s in cy_offer["streams"]] == ["ann", "ann", "bob", "bob"]
    (ann_offer,) = outbox.of("ann", "sfu_offer")
    assert [s["participantId"] for s in ann_offer["streams"]] == ["bob", "bob"]
    updates = [c for c in sfu.calls if c[0] == "update_subscription"]
    assert updates == [
        (
            "update_subscription",
            sid("cy"),
            [FeedSelection(sid("bob"), "0"), FeedSelection(sid("bob"), "1")],
            [],
        )
    ]

    # The same streams published again (a renegotiation) add nothing twice.
    sfu.emit_feeds(SfuRoom("node-1", REF.meeting_id), sid("bob"))
    await idle(bridge, sfu)
    assert [c[0] for c in sfu.calls].count("update_subscription") == 1


async def test_a_late_subscriber_gets_everything_already_published(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    bridge.joined(REF, "ann", may_publish=True)
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload(m0="audio", m1="video"))
    await idle(bridge, sfu)
    bridge.joined(REF, "bob", may_publish=True)
    reply = await ask(bridge, outbox, "bob", "sfu_subscribe")
    assert reply["description"] == {"type": "offer", "sdp": OFFER}
    assert [s["kind"] for s in reply["streams"]] == ["audio", "video"]
    assert (
        "subscribe",
        sid("bob"),
        [FeedSelection(sid("ann"), "0"), FeedSelection(sid("ann"), "1")],
    ) in sfu.calls

    answered = await ask(
        bridge, outbox, "bob", "sfu_answer", {"description": {"type": "answer", "sdp": ANSWER}}
    )
    assert answered == {"ok": True}
    assert sfu.calls[-1] == ("start_subscription", sid("bob"), ANSWER)


async def test_a_room_calls_the_sfu_one_call_at_a_time_in_the_order_it_decided(bridge, sfu, outbox):
    sfu.gate = asyncio.Event()
    bridge.joined(REF, "ann", may_publish=True)
    bridge.joined(REF, "bob", may_publish=True)
    published = submit(bridge, outbox, "ann", "sfu_publish", publish_payload())
    subscribed = submit(bridge, outbox, "bob", "sfu_subscribe")
    bridge.left(REF, "ann")
    for _ in range(20):
        await asyncio.sleep(0)
    assert sfu.names() == ["create_room"]  # held at the gate; nothing else started
    sfu.gate.set()
    await asyncio.gather(published, subscribed)
    await idle(bridge, sfu)
    assert sfu.names() == [
        "create_room",
        "allow_publisher",
        "publish",
        "leave",  # ann's publisher, when she left
        "revoke_publisher",
    ]
    assert sfu.most_busy == 1


async def test_an_answer_comes_before_the_offers_that_follow_it(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    bridge.joined(REF, "ann", may_publish=True)
    bridge.joined(REF, "bob", may_publish=True)
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload(m0="audio"))
    await idle(bridge, sfu)
    outbox.log.clear()
    # Bob subscribes while Cy publishes: Bob's ack is posted before the offer that grows it.
    bridge.joined(REF, "cy", may_publish=True)
    subscribing = submit(bridge, outbox, "bob", "sfu_subscribe")
    await ask(bridge, outbox, "cy", "sfu_publish", publish_payload(m0="audio"))
    await subscribing
    await idle(bridge, sfu)
    to_bob = [(kind, name) for kind, to, name, _ in outbox.log if to == "bob"]
    assert to_bob == [("ack", "sfu_subscribe"), ("post", "sfu_offer")]


async def test_candidates_reach_the_right_connection(bridge, sfu, outbox):
    bridge.joined(REF, "ann", may_publish=True)
    early = await ask(
        bridge, outbox, "ann", "sfu_candidate", {"target": "publisher", "candidate": None}
    )
    assert early["error"]["code"] == "invalid_message"
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    candidate = {"candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0}
    payloads = [
        {"target": "publisher", "candidate": candidate},
        {"target": "publisher", "candidate": {"candidate": "", "sdpMid": "0"}},
        {"target": "publisher", "candidate": None},
    ]
    for payload in payloads:
        assert await ask(bridge, outbox, "ann", "sfu_candidate", payload) == {"ok": True}
    trickled = [c[1:] for c in sfu.calls if c[0] == "trickle"]
    assert trickled == [
        (sid("ann"), "publisher", IceCandidate(CANDIDATE, "0", 0)),
        (sid("ann"), "publisher", None),
        (sid("ann"), "publisher", None),
    ]
    none = await ask(
        bridge, outbox, "ann", "sfu_candidate", {"target": "subscriber", "candidate": None}
    )
    assert none["error"]["code"] == "invalid_message"


async def test_leaving_closes_both_connections_and_withdraws_the_grant(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    bridge.joined(REF, "ann", may_publish=True)
    bridge.joined(REF, "bob", may_publish=True)
    await ask(bridge, outbox, "bob", "sfu_publish", publish_payload())
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    await ask(bridge, outbox, "ann", "sfu_subscribe")
    sfu.calls.clear()
    bridge.left(REF, "ann")
    await idle(bridge, sfu)
    assert sfu.calls == [
        ("leave", sid("ann"), "publisher"),
        ("leave", sid("ann"), "subscriber"),
        ("revoke_publisher", sid("ann")),
    ]
    assert sid("ann") not in sfu.grants
    # Her requests after that are refused, and nothing more reaches the SFU for her.
    assert (await ask(bridge, outbox, "ann", "sfu_unpublish"))["error"]["code"] == "not_in_room"
    assert len(sfu.calls) == 3


async def test_unpublishing_leaves_the_room_and_publishing_again_joins_afresh(bridge, sfu, outbox):
    bridge.joined(REF, "ann", may_publish=True)
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    assert await ask(bridge, outbox, "ann", "sfu_unpublish") == {"ok": True}
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    assert sfu.names() == ["create_room", "allow_publisher", "publish", "leave", "publish"]


async def test_an_idle_room_is_destroyed_and_made_again_for_the_next_join(bridge, sfu, outbox):
    bridge.joined(REF, "ann", may_publish=True)
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    bridge.left(REF, "ann")
    bridge.closed(REF)
    await idle(bridge, sfu)
    assert sfu.names()[-2:] == ["revoke_publisher", "destroy_room"]
    assert sfu.rooms == set() and bridge._rooms == {}

    bridge.joined(REF, "bob", may_publish=True)
    await idle(bridge, sfu)
    assert sfu.names()[-1] == "create_room" and sfu.rooms == {REF.meeting_id}


async def test_a_room_dropped_and_joined_again_at_once_keeps_its_sfu_room(bridge, sfu, outbox):
    sfu.gate = asyncio.Event()
    bridge.joined(REF, "ann", may_publish=True)
    bridge.left(REF, "ann")
    bridge.closed(REF)
    bridge.joined(REF, "bob", may_publish=True)
    sfu.gate.set()
    await idle(bridge, sfu)
    assert sfu.names() == ["create_room"]
    assert sfu.rooms == {REF.meeting_id}


async def test_a_room_left_over_on_the_sfu_is_replaced(bridge, sfu, outbox):
    sfu.rooms.add(REF.meeting_id)  # from before Salon restarted
    bridge.joined(REF, "ann", may_publish=True)
    await idle(bridge, sfu)
    assert sfu.names() == ["create_room", "destroy_room", "create_room"]


async def test_talking_makes_the_active_speaker_known_to_everyone(bridge, sfu, outbox):
    bridge.joined(REF, "ann", may_publish=True)
    await idle(bridge, sfu)
    room = SfuRoom("node-1", REF.meeting_id)
    sfu.hub.emit(TalkingChanged(room, sid("ann"), talking=True, level_dbov=20))
    sfu.hub.emit(TalkingChanged(room, sid("ann"), talking=False))
    sfu.hub.emit(TalkingChanged(room, sid("stranger"), talking=True))
    sfu.hub.emit(TalkingChanged(SfuRoom("node-1", "other-room"), sid("ann"), talking=True))
    await idle(bridge, sfu)
    assert [e for e in outbox.log if e[2] == "active_speaker"] == [
        ("post", None, "active_speaker", {"participantId": "ann"})
    ]


async def test_a_lost_node_makes_everyone_start_over_on_a_fresh_room(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    for pid in ("ann", "bob"):
        bridge.joined(REF, pid, may_publish=True)
        await ask(bridge, outbox, pid, "sfu_publish", publish_payload())
        await ask(bridge, outbox, pid, "sfu_subscribe")
    await idle(bridge, sfu)
    sfu.hub.emit(NodeLost("node-1"))
    await idle(bridge, sfu)
    assert outbox.log[-1] == ("post", None, "sfu_reset", {})
    # Nothing was asked of the lost node; the next publish makes a new room and grant.
    sfu.calls.clear()
    sfu.rooms.clear()
    reply = await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    assert reply["ok"]
    assert sfu.names() == ["create_room", "allow_publisher", "publish"]


class FakePool(FakeSfu):
    """A fake of ``salon.janus.pool.SfuPool``'s extras: it places rooms itself, and its
    ``listen()`` stream carries its own events too."""

    def __init__(self) -> None:
        super().__init__("pool")
        self.placed: dict[str, SfuRoom] = {}
        self.stranded: set[str] = set()

    async def ensure_room(self, spec: RoomSpec) -> SfuRoom:
        await self._enter("ensure_room", spec.room_id)
        if spec.room_id in self.stranded:
            raise SfuUnavailable(detail="stranded")
        return self.placed.setdefault(spec.room_id, SfuRoom("node-a", spec.room_id))

    def listen(self) -> SfuEventStream:
        return self.hub.listen()

    def move(self, room_id: str, to_node: str) -> None:
        self.stranded.discard(room_id)
        self.placed[room_id] = SfuRoom(to_node, room_id)
        self.hub.emit(RoomMoved(room_id, "node-a", to_node))  # type: ignore[arg-type]

    def strand(self, room_id: str) -> None:
        self.stranded.add(room_id)
        self.placed.pop(room_id, None)
        self.hub.emit(RoomStranded(room_id, "node-a"))  # type: ignore[arg-type]


async def test_with_a_pool_rooms_are_placed_by_it_and_moves_make_everyone_start_over(outbox):
    pool = FakePool()
    bridge = SfuBridge(pool, outbox.post)
    try:
        bridge.joined(REF, "ann", may_publish=True)
        await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
        assert pool.names() == ["ensure_room", "allow_publisher", "publish"]
        assert pool.calls[1][1] == SfuRoom("node-a", REF.meeting_id)

        # Its node died and no other can take the room yet: calls fail, nobody is told yet.
        pool.strand(REF.meeting_id)
        await idle(bridge, pool)
        refused = await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
        assert refused["error"]["code"] == "sfu_unavailable"
        assert outbox.of("ann", "sfu_reset") == []

        # Made again on node-b: everyone is told, and publishes there with a fresh grant.
        pool.move(REF.meeting_id, "node-b")
        await idle(bridge, pool)
        assert outbox.log[-1] == ("post", None, "sfu_reset", {})
        pool.calls.clear()
        assert (await ask(bridge, outbox, "ann", "sfu_publish", publish_payload()))["ok"]
        assert pool.names() == ["allow_publisher", "publish"]
        assert pool.calls[0][1] == SfuRoom("node-b", REF.meeting_id)
    finally:
        await bridge.close()
        await pool.close()


async def test_a_room_gone_from_its_node_is_answered_and_reset(bridge, sfu, outbox):
    from salon.errors import SfuRoomNotFound

    bridge.joined(REF, "ann", may_publish=True)
    sfu.fail_next("allow_publisher", SfuRoomNotFound(detail="janus 426"))
    reply = await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    assert reply["error"] == {
        "code": "sfu_room_not_found",
        "message": "The room is not open on the media server.",
    }
    assert outbox.log[-1] == ("post", None, "sfu_reset", {})


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SfuUnavailable(detail="janus 458: session gone"), "sfu_unavailable"),
        (SfuRefused(SfuRefusal.PUBLISHERS_FULL, detail="janus 432"), "sfu_refused"),
        (SfuRefused(SfuRefusal.INVALID_OFFER, detail="janus 465"), "sfu_refused"),
        (SfuError(detail="what?"), "sfu_error"),
    ],
)
async def test_sfu_failures_are_clear_acknowledgements(bridge, sfu, outbox, error, code):
    bridge.joined(REF, "ann", may_publish=True)
    sfu.fail_next("publish", error)
    reply = await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    assert reply["ok"] is False and reply["error"]["code"] == code
    assert "janus" not in reply["error"]["message"] and "what?" not in reply["error"]["message"]
    # Nothing is half done: the next try publishes with the same grant.
    assert (await ask(bridge, outbox, "ann", "sfu_publish", publish_payload()))["ok"]
    assert sfu.names().count("allow_publisher") == 1


async def test_a_publisher_gone_a_moment_ago_is_left_out_of_a_new_subscription(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    for pid in ("ann", "bob"):
        bridge.joined(REF, pid, may_publish=True)
        await ask(bridge, outbox, pid, "sfu_publish", publish_payload())
    await idle(bridge, sfu)
    del sfu.kinds[sid("ann")]  # ann's media went away; the SFU's event is not here yet
    bridge.joined(REF, "cy", may_publish=True)
    reply = await ask(bridge, outbox, "cy", "sfu_subscribe")
    assert [s["participantId"] for s in reply["streams"]] == ["bob"]
    assert sfu.names()[-3:] == ["subscribe", "participants", "subscribe"]


async def test_a_resumed_participant_gets_the_offer_it_has_not_answered(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    for pid in ("ann", "bob"):
        bridge.joined(REF, pid, may_publish=True)
    await ask(bridge, outbox, "bob", "sfu_subscribe")
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    await idle(bridge, sfu)
    (offer,) = outbox.of("bob", "sfu_offer")
    bridge.resumed(REF, "bob")
    await idle(bridge, sfu)
    assert outbox.of("bob", "sfu_offer") == [offer, offer]
    await ask(
        bridge, outbox, "bob", "sfu_answer", {"description": {"type": "answer", "sdp": ANSWER}}
    )
    bridge.resumed(REF, "bob")
    await idle(bridge, sfu)
    assert len(outbox.of("bob", "sfu_offer")) == 2


async def test_subscribing_again_replaces_the_subscription(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    for pid in ("ann", "bob"):
        bridge.joined(REF, pid, may_publish=True)
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    await idle(bridge, sfu)
    first = await ask(bridge, outbox, "bob", "sfu_subscribe")
    second = await ask(bridge, outbox, "bob", "sfu_subscribe")
    assert first["streams"] == second["streams"]
    assert ("leave", sid("bob"), "subscriber") in sfu.calls


async def test_without_an_sfu_every_request_is_answered_unavailable(outbox):
    bridge = SfuBridge(None, outbox.post)
    bridge.joined(REF, "ann", may_publish=True)
    reply = await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    assert reply["error"]["code"] == "sfu_unavailable"
    await bridge.close()


async def test_unpublished_streams_are_forgotten_so_they_can_come_back(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    for pid in ("ann", "bob"):
        bridge.joined(REF, pid, may_publish=True)
    await ask(bridge, outbox, "bob", "sfu_subscribe")
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    await idle(bridge, sfu)
    room = SfuRoom("node-1", REF.meeting_id)
    sfu.hub.emit(FeedsUnpublished(room, sid("ann")))
    sfu.emit_feeds(room, sid("ann"))
    await idle(bridge, sfu)
    assert [c[0] for c in sfu.calls].count("update_subscription") == 1


# --- simulcast layers: sfu_view ---------------------------------------------------------------

LOW, MEDIUM, HIGH = SimulcastLayer.LOW, SimulcastLayer.MEDIUM, SimulcastLayer.HIGH


def tile(pid: str, width: int, height: int, kind: str = "video", visible: bool = True) -> Any:
    return {
        "participantId": pid,
        "kind": kind,
        "width": width,
        "height": height,
        "visible": visible,
    }


def view(*tiles: Any, **network: Any) -> dict[str, Any]:
    return {"tiles": list(tiles), **network}


def configured(sfu: FakeSfu) -> list[tuple[Any, ...]]:
    """Every configure_subscription call so far: (subscriber's SFU id, settings)."""
    return [call[1:] for call in sfu.calls if call[0] == "configure_subscription"]


async def ann_publishes_to_bob(
    bridge: SfuBridge, sfu: FakeSfu, outbox: Outbox, **kinds: str
) -> None:
    """Ann publishes (audio on mid 0, a simulcast camera on mid 1 unless ``kinds`` says
    otherwise); Bob receives it on the same mids."""
    sfu.feeds_on_publish = True
    sfu.simulcast = True
    for pid in ("ann", "bob"):
        bridge.joined(REF, pid, may_publish=True)
    await ask(bridge, outbox, "bob", "sfu_subscribe")
    payload = publish_payload(**(kinds or {"m0": "audio", "m1": "video"}))
    await ask(bridge, outbox, "ann", "sfu_publish", payload)
    await idle(bridge, sfu)


async def test_a_view_picks_layers_and_only_changes_reach_the_sfu(bridge, sfu, outbox):
    await ann_publishes_to_bob(bridge, sfu, outbox)
    small = await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 160, 90)))
    assert small == {
        "ok": True,
        "layers": [{"participantId": "ann", "kind": "video", "layer": "low", "paused": False}],
    }
    assert configured(sfu) == [(sid("bob"), [StreamSetting("1", LOW)])]

    # The same view, or one that asks for the same layer, costs the SFU nothing.
    assert await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 160, 90))) == small
    await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 170, 95), loss=0.0))
    assert len(configured(sfu)) == 1

    large = await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 1280, 720)))
    assert large["layers"][0]["layer"] == "high"
    hidden = await ask(
        bridge, outbox, "bob", "sfu_view", view(tile("ann", 1280, 720, visible=False))
    )
    assert hidden["layers"][0]["paused"] is True
    await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 640, 300)))
    assert configured(sfu)[1:] == [
        (sid("bob"), [StreamSetting("1", HIGH)]),
        (sid("bob"), [StreamSetting("1", LOW, paused=True)]),
        (sid("bob"), [StreamSetting("1", HIGH, paused=False)]),  # 640 wide needs 360 rows
    ]
    # Bob's audio is never touched; Ann (who receives nothing) has no layers to set.
    assert (await ask(bridge, outbox, "ann", "sfu_view", view(tile("bob", 1, 1)))) == {
        "ok": True,
        "layers": [],
    }
    assert len(configured(sfu)) == 4


async def test_the_bandwidth_a_browser_reports_steps_streams_down(bridge, sfu, outbox):
    await ann_publishes_to_bob(bridge, sfu, outbox)
    await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 1280, 720)))
    assert configured(sfu) == []  # high is what the SFU sends anyway
    await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 1280, 720), bandwidth=400_000))
    await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 1280, 720), bandwidth=100_000))
    assert configured(sfu) == [
        (sid("bob"), [StreamSetting("1", MEDIUM)]),
        (sid("bob"), [StreamSetting("1", LOW)]),
    ]


async def test_a_view_sent_before_anything_is_received_applies_when_it_comes(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    sfu.simulcast = True
    for pid in ("ann", "bob"):
        bridge.joined(REF, pid, may_publish=True)
    early = await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 160, 90)))
    assert early == {"ok": True, "layers": []}
    await ask(bridge, outbox, "bob", "sfu_subscribe")
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload(m0="audio", m1="video"))
    await idle(bridge, sfu)
    # Bob's subscription starts (nothing was there to subscribe to before), then its layer.
    assert [c[0] for c in sfu.calls][-2:] == ["subscribe", "configure_subscription"]
    assert configured(sfu) == [(sid("bob"), [StreamSetting("1", LOW)])]


async def test_a_stream_without_layers_is_only_paused_and_resumed(bridge, sfu, outbox):
    await ann_publishes_to_bob(bridge, sfu, outbox, m0="audio", m1="video", m2="screen")
    shown = view(tile("ann", 160, 90), tile("ann", 160, 90, kind="screen"))
    reply = await ask(bridge, outbox, "bob", "sfu_view", shown)
    assert reply["layers"] == [
        {"participantId": "ann", "kind": "video", "layer": "low", "paused": False},
        {"participantId": "ann", "kind": "screen", "layer": None, "paused": False},
    ]
    hidden = view(tile("ann", 160, 90), tile("ann", 0, 0, kind="screen"))
    await ask(bridge, outbox, "bob", "sfu_view", hidden)
    await ask(bridge, outbox, "bob", "sfu_view", shown)
    assert configured(sfu) == [
        (sid("bob"), [StreamSetting("1", LOW)]),
        (sid("bob"), [StreamSetting("2", paused=True)]),
        (sid("bob"), [StreamSetting("2", paused=False)]),
    ]


async def test_an_m_line_that_carries_another_stream_starts_from_the_default(bridge, sfu, outbox):
    await ann_publishes_to_bob(bridge, sfu, outbox)
    small = view(tile("ann", 160, 90), tile("dan", 160, 90))
    await ask(bridge, outbox, "bob", "sfu_view", small)
    assert configured(sfu) == [(sid("bob"), [StreamSetting("1", LOW)])]
    # Dan publishes a camera: Bob's subscription grows by an m-line, set at once.
    sfu.kinds[sid("dan")] = {"1": FeedKind.VIDEO}
    bridge.joined(REF, "dan", may_publish=True)
    room = SfuRoom("node-1", REF.meeting_id)
    sfu.emit_feeds(room, sid("dan"))
    await idle(bridge, sfu)
    assert configured(sfu)[-1] == (sid("bob"), [StreamSetting("2", LOW)])
    # The SFU offers Dan's camera on m-line 1, where Ann's was (she is gone): the SFU starts
    # that m-line over at its default, so Salon sets it again though it had set "1" to low.
    handle = bridge._rooms[REF.meeting_id].members["bob"].subscriber
    assert handle is not None
    offer = SessionDescription(SdpType.OFFER, OFFER.replace("o=- 1", "o=- 3"))
    reused = (SubscribedStream("1", sid("dan"), "1", FeedKind.VIDEO),)
    sfu.hub.emit(SubscriptionOffer(handle, offer, reused))
    await idle(bridge, sfu)
    assert configured(sfu)[-1] == (sid("bob"), [StreamSetting("1", LOW)])
    assert len(configured(sfu)) == 3
    assert outbox.of("bob", "sfu_offer")[-1]["streams"] == [
        {"mid": "1", "participantId": "dan", "kind": "video"}
    ]


async def test_a_new_subscription_gets_the_layers_of_the_view_again(bridge, sfu, outbox):
    await ann_publishes_to_bob(bridge, sfu, outbox)
    await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 160, 90)))
    await ask(bridge, outbox, "bob", "sfu_subscribe")  # a new connection
    assert configured(sfu) == [(sid("bob"), [StreamSetting("1", LOW)])] * 2
    assert sfu.names()[-3:] == ["leave", "subscribe", "configure_subscription"]


async def test_a_failed_change_is_tried_again_with_the_next_view(bridge, sfu, outbox):
    await ann_publishes_to_bob(bridge, sfu, outbox)
    sfu.fail_next("configure_subscription", SfuUnavailable(detail="janus 458"))
    failed = await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 160, 90)))
    assert failed["error"]["code"] == "sfu_unavailable"
    again = await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 160, 90)))
    assert again["layers"][0]["layer"] == "low"
    assert configured(sfu) == [(sid("bob"), [StreamSetting("1", LOW)])] * 2


async def test_the_policy_is_asked_again_when_a_hold_ends(sfu, outbox):
    bridge = SfuBridge(sfu, outbox.post, layer_rules=LayerRules(recover_after=0.2))
    try:
        await ann_publishes_to_bob(bridge, sfu, outbox)
        large = tile("ann", 1280, 720)
        await ask(bridge, outbox, "bob", "sfu_view", view(large, bandwidth=400_000))
        # The estimate recovers at once, but the stream stays down until the hold ends ...
        held = await ask(bridge, outbox, "bob", "sfu_view", view(large, bandwidth=5_000_000))
        assert held["layers"][0]["layer"] == "medium"
        assert configured(sfu) == [(sid("bob"), [StreamSetting("1", MEDIUM)])]
        # ... and then climbs without another view from the browser.
        async with asyncio.timeout(5):
            while len(configured(sfu)) < 2:
                await asyncio.sleep(0.02)
        assert configured(sfu)[1] == (sid("bob"), [StreamSetting("1", HIGH)])
    finally:
        await bridge.close()


async def test_leaving_stops_the_policy_s_timer(sfu, outbox):
    bridge = SfuBridge(sfu, outbox.post, layer_rules=LayerRules(recover_after=0.1))
    try:
        await ann_publishes_to_bob(bridge, sfu, outbox)
        await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 1280, 720), bandwidth=1))
        member = bridge._rooms[REF.meeting_id].members["bob"]
        assert member.wake is not None
        bridge.left(REF, "bob")
        await idle(bridge, sfu)
        assert member.wake is None
        await asyncio.sleep(0.2)
        await idle(bridge, sfu)
        assert len(configured(sfu)) == 1
    finally:
        await bridge.close()


# --- ICE restarts: sfu_restart_ice ----------------------------------------------------------

ANSWERED = {"description": {"type": "answer", "sdp": ANSWER}}


async def bob_receives_ann(bridge: SfuBridge, sfu: FakeSfu, outbox: Outbox) -> dict[str, Any]:
    """Ann publishes, Bob subscribes and answers: his subscription's first offer."""
    await ann_publishes_to_bob(bridge, sfu, outbox)
    (offer,) = outbox.of("bob", "sfu_offer")
    assert await ask(bridge, outbox, "bob", "sfu_answer", ANSWERED) == {"ok": True}
    return offer


async def test_a_subscriber_s_ice_restart_offers_the_same_streams_anew(bridge, sfu, outbox):
    first = await bob_receives_ann(bridge, sfu, outbox)
    outbox.log.clear()
    sfu.calls.clear()
    assert await ask(bridge, outbox, "bob", "sfu_restart_ice") == {"ok": True}
    await idle(bridge, sfu)
    # The same subscription, asked to restart ICE (nothing left, nothing subscribed anew);
    # the SFU's new offer reaches Bob after the ack, saying what each m-line carries.
    assert sfu.calls == [("restart_subscription", sid("bob"))]
    to_bob = [(kind, name) for kind, to, name, _ in outbox.log if to == "bob"]
    assert to_bob == [("ack", "sfu_restart_ice"), ("post", "sfu_offer")]
    (restarted,) = outbox.of("bob", "sfu_offer")
    assert restarted["streams"] == first["streams"]
    assert restarted["description"]["type"] == "offer"
    assert restarted["description"] != first["description"]
    # Unanswered, it goes again after a resume; Bob's answer completes it.
    bridge.resumed(REF, "bob")
    await idle(bridge, sfu)
    assert outbox.of("bob", "sfu_offer") == [restarted, restarted]
    assert await ask(bridge, outbox, "bob", "sfu_answer", ANSWERED) == {"ok": True}
    assert sfu.calls[-1] == ("start_subscription", sid("bob"), ANSWER)


async def test_a_restart_asked_while_an_offer_is_unanswered_comes_after_its_answer(
    bridge, sfu, outbox
):
    await bob_receives_ann(bridge, sfu, outbox)
    # Cy publishes: Bob's subscription grows, and he has not answered that offer yet.
    bridge.joined(REF, "cy", may_publish=True)
    await ask(bridge, outbox, "cy", "sfu_publish", publish_payload(m0="audio"))
    await idle(bridge, sfu)
    grown = outbox.of("bob", "sfu_offer")[-1]
    outbox.log.clear()
    assert await ask(bridge, outbox, "bob", "sfu_restart_ice") == {"ok": True}
    await idle(bridge, sfu)
    assert outbox.of("bob", "sfu_offer") == []  # the SFU holds the restart back ...
    assert await ask(bridge, outbox, "bob", "sfu_answer", ANSWERED) == {"ok": True}
    await idle(bridge, sfu)
    (restarted,) = outbox.of("bob", "sfu_offer")  # ... and offers it once answered
    assert restarted["streams"] == grown["streams"]
    assert restarted["description"] != grown["description"]


async def test_an_ice_restart_keeps_the_layers_the_sfu_was_told(bridge, sfu, outbox):
    await bob_receives_ann(bridge, sfu, outbox)
    await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 160, 90)))
    assert configured(sfu) == [(sid("bob"), [StreamSetting("1", LOW)])]
    await ask(bridge, outbox, "bob", "sfu_restart_ice")
    await idle(bridge, sfu)
    await ask(bridge, outbox, "bob", "sfu_answer", ANSWERED)
    again = await ask(bridge, outbox, "bob", "sfu_view", view(tile("ann", 170, 95)))
    assert again["layers"][0]["layer"] == "low"
    assert len(configured(sfu)) == 1  # the m-lines carry what they carried: nothing to redo


async def test_an_ice_restart_needs_a_subscription_and_ends_with_it(bridge, sfu, outbox):
    bridge.joined(REF, "bob", may_publish=True)
    refused = await ask(bridge, outbox, "bob", "sfu_restart_ice")
    assert refused["error"]["code"] == "invalid_message"
    assert "restart" in refused["error"]["message"]
    # Subscribed while nobody publishes: there is no connection with the SFU to restart yet.
    await ask(bridge, outbox, "bob", "sfu_subscribe")
    assert (await ask(bridge, outbox, "bob", "sfu_restart_ice"))["ok"] is False
    assert "restart_subscription" not in sfu.names()

    # A restart offer for a subscription Bob has replaced since is not his to answer.
    sfu.feeds_on_publish = True
    bridge.joined(REF, "ann", may_publish=True)
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload())
    await idle(bridge, sfu)
    old = bridge._rooms[REF.meeting_id].members["bob"].subscriber
    assert old is not None
    await ask(bridge, outbox, "bob", "sfu_subscribe")
    outbox.log.clear()
    sfu.hub.emit(SubscriptionRestarted(old, SessionDescription(SdpType.OFFER, OFFER)))
    await idle(bridge, sfu)
    assert outbox.of("bob", "sfu_offer") == []


# --- the room engine's part ----------------------------------------------------------------


def _room(mode: RoomMode) -> Room:
    room = Room("/r", "m", mode, False)
    for pid, role in (("host", RoomRole.HOST), ("viewer", RoomRole.VIEWER)):
        room.handle(Join(pid, role, pid), T0)
    return room


def _refusal(effects: list[Any]) -> tuple[str | None, str | None]:
    (reply,) = [e for e in effects if isinstance(e, Reply)]
    assert not reply.ok
    return reply.error_code, reply.error_message


def test_the_engine_allows_sfu_requests_only_in_group_rooms_and_publishing_only_to_publishers():
    group = _room(RoomMode.GROUP)
    assert group.handle(SfuRequest("host", "sfu_publish", publishes=True), T0) == []
    assert group.handle(SfuRequest("viewer", "sfu_subscribe"), T0) == []
    assert _refusal(group.handle(SfuRequest("viewer", "sfu_publish", publishes=True), T0)) == (
        "forbidden",
        "Viewers can watch and listen but cannot send audio, video or a screen.",
    )
    assert _refusal(group.handle(SfuRequest("nobody", "sfu_subscribe"), T0))[0] == "not_in_room"
    normal = _room(RoomMode.NORMAL)
    code, message = _refusal(normal.handle(SfuRequest("host", "sfu_subscribe"), T0))
    assert code == "invalid_message" and "this is not a group room" in (message or "")


def test_the_engine_refuses_peer_to_peer_signals_in_group_rooms():
    group = _room(RoomMode.GROUP)
    code, message = _refusal(
        group.handle(Signal("host", "viewer", {"type": "offer", "sdp": OFFER}), T0)
    )
    assert code == "invalid_message" and "group room" in (message or "")


# --- the wire schema -------------------------------------------------------------------------

_DESCRIPTION = {"type": "offer", "sdp": OFFER}
_SFU_GOOD: dict[str, list[dict[str, Any]]] = {
    "sfu_publish": [
        {"description": _DESCRIPTION},
        {"description": _DESCRIPTION, "kinds": {"0": "audio", "1": "video", "2": "screen"}},
    ],
    "sfu_subscribe": [{}],
    "sfu_answer": [{"description": {"type": "answer", "sdp": ANSWER}}],
    "sfu_candidate": [
        {"target": "publisher", "candidate": None},
        {"target": "subscriber", "candidate": {"candidate": CANDIDATE, "sdpMid": "0"}},
        {"target": "subscriber", "candidate": {"candidate": "", "sdpMLineIndex": 0}},
    ],
    "sfu_unpublish": [{}],
    "sfu_restart_ice": [{}],
    "sfu_view": [
        {"tiles": []},
        {"tiles": [tile("p1", 640, 360), tile("p1", 0, 0, "screen", False)], "loss": 0.5},
    ],
}
_SFU_BAD: dict[str, list[tuple[dict[str, Any], str]]] = {
    "sfu_publish": [
        ({}, "description"),
        ({"description": {"type": "answer", "sdp": ANSWER}}, "description"),
        ({"description": {"type": "rollback"}}, "description"),
        ({"description": {"type": "offer", "sdp": "hello"}}, "description"),
        ({"description": {"type": "offer", "sdp": "v=0" + "x" * 60_000}}, "description.sdp"),
        ({"description": _DESCRIPTION, "kinds": {"0": "data"}}, "kinds.0"),
        ({"description": _DESCRIPTION, "kinds": {"a b": "audio"}}, "kinds"),
        ({"description": _DESCRIPTION, "kinds": {str(n): "audio" for n in range(17)}}, "kinds"),
        ({"description": _DESCRIPTION, "extra": 1}, "extra"),
    ],
    "sfu_subscribe": [({"feeds": []}, "feeds")],
    "sfu_answer": [({"description": _DESCRIPTION}, "description")],
    "sfu_candidate": [
        ({"target": "publisher"}, "candidate"),
        ({"target": "both", "candidate": None}, "target"),
        ({"target": "publisher", "candidate": {"candidate": CANDIDATE}}, "candidate"),
        ({"target": "publisher", "candidate": {"candidate": "x", "sdpMid": "0"}}, "candidate"),
        (
            {"target": "publisher", "candidate": {"candidate": CANDIDATE + "\n", "sdpMid": "0"}},
            "candidate",
        ),
    ],
    "sfu_unpublish": [({"now": True}, "now")],
    "sfu_restart_ice": [({"target": "subscriber"}, "target")],
    "sfu_view": [
        ({}, "tiles"),
        ({"tiles": [tile("p1", -1, 10)]}, "tiles.0.width"),
        ({"tiles": [tile("p1", 10, 10), tile("p1", 20, 20)]}, "tiles"),
        ({"tiles": [], "bandwidth": -5}, "bandwidth"),
    ],
}


def test_sfu_messages_are_events_of_the_protocol():
    assert set(_SFU_GOOD) == set(_SFU_BAD) == {name for name in MODELS if name.startswith("sfu_")}


@pytest.mark.parametrize(
    ("event", "payload"), [(e, p) for e, payloads in _SFU_GOOD.items() for p in payloads]
)
def test_good_sfu_messages_parse(event: str, payload: dict[str, Any]):
    assert isinstance(parse(event, payload), MODELS[event])


@pytest.mark.parametrize(
    ("event", "payload", "field"),
    [(e, p, f) for e, cases in _SFU_BAD.items() for p, f in cases],
)
def test_bad_sfu_messages_name_the_field(event: str, payload: dict[str, Any], field: str):
    with pytest.raises(InvalidInput) as raised:
        parse(event, payload)
    assert any(p.field.startswith(field) for p in raised.value.problems), raised.value.problems


# --- through the signaling server ------------------------------------------------------------


@pytest.fixture
def fake_sfu(server: RunningServer) -> FakeSfu:
    fake = FakeSfu(feeds_on_publish=True)
    server.signaling.use_sfu(fake)
    return fake


async def _emit(fake: FakeSfu, event: SfuEvent) -> None:
    fake.hub.emit(event)


def error_code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    code: str = reply["error"]["code"]
    return code


async def test_a_normal_room_refuses_sfu_messages(clients, room: RoomUnderTest, fake_sfu):
    client = await clients()
    await client.join(room.room_name)
    for event, payloads in _SFU_GOOD.items():
        reply = await client.call(event, payloads[0])
        assert error_code(reply) == "invalid_message"
        assert "this is not a group room" in reply["error"]["message"]
    assert fake_sfu.calls == []


async def test_a_group_room_refuses_peer_to_peer_signals(clients, services, clock, fake_sfu):
    room = make_room(services, clock, mode=RoomMode.GROUP)
    ann, bob = await clients(), await clients()
    await ann.join(room.room_name)
    bob_id = (await bob.join(room.room_name))["self"]["id"]
    reply = await ann.call("signal", {"to": bob_id, "description": {"type": "offer", "sdp": OFFER}})
    assert error_code(reply) == "invalid_message" and "group room" in reply["error"]["message"]
    await bob.settle()
    assert "signal" not in bob.names()


async def test_a_viewer_cannot_publish_in_a_group_room(clients, services, clock, fake_sfu):
    room = make_room(services, clock, mode=RoomMode.GROUP)
    viewer = await clients()
    await viewer.join(room.room_name, room.viewer_key)
    assert error_code(await viewer.call("sfu_publish", publish_payload())) == "forbidden"
    subscribed = await viewer.call("sfu_subscribe")
    assert subscribed == {"ok": True, "description": None, "streams": []}
    assert "allow_publisher" not in fake_sfu.names() and "publish" not in fake_sfu.names()


async def test_sfu_messages_need_a_room(clients, fake_sfu):
    client = await clients()
    assert error_code(await client.call("sfu_subscribe")) == "not_in_room"


async def test_a_bad_view_changes_nothing_and_a_good_one_sets_layers(
    clients, services, clock, server: RunningServer, fake_sfu
):
    fake_sfu.simulcast = True
    room = make_room(services, clock, mode=RoomMode.GROUP)
    host, guest = await clients(), await clients()
    host_id = (await host.join(room.room_name, room.host_key))["self"]["id"]
    guest_id = (await guest.join(room.room_name))["self"]["id"]
    assert (await guest.call("sfu_subscribe"))["ok"]
    assert (await host.call("sfu_publish", publish_payload(m0="audio", m1="video")))["ok"]
    await guest.next("sfu_offer")

    bad_views = [
        view(tile(host_id, -1, 90)),
        view(tile(host_id, 160, 90), tile(host_id, 1280, 720)),
        view(*(tile(f"p{n}", 1, 1) for n in range(401))),
        view(tile(host_id, 160, 90), loss=2),
        view(tile(host_id, 160, 90), bandwidth="lots"),
        {"tiles": [tile(host_id, 160, 90)], "layer": "low"},
    ]
    for bad in bad_views:
        assert error_code(await guest.call("sfu_view", bad)) == "invalid_message"
    # Without an acknowledgement, the refusal comes as an error event.
    await guest.sio.emit("sfu_view", bad_views[0])
    error = await guest.next("error")
    assert (error["code"], error["event"]) == ("invalid_message", "sfu_view")
    await guest.settle()
    assert "configure_subscription" not in fake_sfu.names()

    good = await guest.call("sfu_view", view(tile(host_id, 160, 90), loss=0.01))
    assert good == {
        "ok": True,
        "layers": [{"participantId": host_id, "kind": "video", "layer": "low", "paused": False}],
    }
    assert configured(fake_sfu) == [(sid(guest_id), [StreamSetting("1", LOW)])]
    # A viewer receives, so it may say how it shows what it receives; one who left may not.
    vic = await clients()
    await vic.join(room.room_name, room.viewer_key)
    assert (await vic.call("sfu_subscribe"))["streams"]
    shown = await vic.call("sfu_view", view(tile(host_id, 1280, 720, visible=False)))
    assert shown["ok"] and shown["layers"][0]["paused"] is True
    assert (await host.call("leave"))["ok"]
    assert error_code(await host.call("sfu_view", view())) == "not_in_room"


async def test_group_media_through_signaling_from_join_to_idle(
    clients, services, clock, server: RunningServer, fake_sfu
):
    room = make_room(services, clock, mode=RoomMode.GROUP)
    host, guest = await clients(), await clients()
    host_id = (await host.join(room.room_name, room.host_key, displayName="Hana"))["self"]["id"]
    guest_id = (await guest.join(room.room_name, displayName="Gil"))["self"]["id"]
    assert (await guest.call("sfu_subscribe"))["description"] is None

    published = await host.call("sfu_publish", publish_payload(m0="audio", m1="video"))
    assert published == {"ok": True, "description": {"type": "answer", "sdp": ANSWER}}
    offer = await guest.next("sfu_offer")
    assert offer["streams"] == [
        {"mid": "0", "participantId": host_id, "kind": "audio"},
        {"mid": "1", "participantId": host_id, "kind": "video"},
    ]
    answer = {"description": {"type": "answer", "sdp": ANSWER}}
    assert await guest.call("sfu_answer", answer) == {"ok": True}
    candidate = {"candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0}
    assert await guest.call("sfu_candidate", {"target": "subscriber", "candidate": candidate}) == {
        "ok": True
    }
    assert await guest.call("sfu_candidate", {"target": "subscriber", "candidate": None}) == {
        "ok": True
    }
    assert [c for c in fake_sfu.calls if c[0] in ("start_subscription", "trickle")] == [
        ("start_subscription", sid(guest_id), ANSWER),
        ("trickle", sid(guest_id), "subscriber", IceCandidate(CANDIDATE, "0", 0)),
        ("trickle", sid(guest_id), "subscriber", None),
    ]

    sfu_room = SfuRoom("node-1", room.meeting_id)
    await on_server(server, _emit(fake_sfu, TalkingChanged(sfu_room, sid(host_id), talking=True)))
    assert await host.next("active_speaker") == {"participantId": host_id}
    assert await guest.next("active_speaker") == {"participantId": host_id}

    await host.call("leave")
    await guest.call("leave")
    await host.settle()
    assert fake_sfu.calls[-3:] == [
        ("leave", sid(host_id), "publisher"),
        ("revoke_publisher", sid(host_id)),
        ("leave", sid(guest_id), "subscriber"),
    ]
    # The session lingers a minute after the last one left; then the room is dropped.
    clock.advance(timedelta(seconds=61))
    await on_server(server, server.signaling.tick())
    await host.settle()
    assert fake_sfu.names()[-1] == "destroy_room"
    assert fake_sfu.rooms == set()


async def test_a_subscriber_restarts_ice_through_signaling(
    clients, services, clock, server: RunningServer, fake_sfu
):
    room = make_room(services, clock, mode=RoomMode.GROUP)
    host, guest = await clients(), await clients()
    await host.join(room.room_name, room.host_key)
    guest_id = (await guest.join(room.room_name))["self"]["id"]
    assert error_code(await guest.call("sfu_restart_ice")) == "invalid_message"
    assert (await guest.call("sfu_subscribe"))["ok"]
    assert (await host.call("sfu_publish", publish_payload(m0="audio", m1="video")))["ok"]
    first = await guest.next("sfu_offer")
    answer = {"description": {"type": "answer", "sdp": ANSWER}}
    assert await guest.call("sfu_answer", answer) == {"ok": True}

    assert await guest.call("sfu_restart_ice") == {"ok": True}
    restarted = await guest.next("sfu_offer")
    assert restarted["streams"] == first["streams"]
    assert restarted["description"] != first["description"]
    assert await guest.call("sfu_answer", answer) == {"ok": True}
    # One subscription throughout, restarted once.
    guest_calls = [c[0] for c in fake_sfu.calls if c[1] == sid(guest_id)]
    assert guest_calls == [
        "subscribe",
        "start_subscription",
        "restart_subscription",
        "start_subscription",
    ]


async def test_the_room_is_free_for_others_while_the_sfu_works(
    clients, services, clock, server: RunningServer, fake_sfu
):
    room = make_room(services, clock, mode=RoomMode.GROUP)
    ann, bob = await clients(), await clients()
    await ann.join(room.room_name)
    await bob.join(room.room_name)
    gate = asyncio.Event()

    async def close_gate() -> None:
        fake_sfu.gate = gate

    async def open_gate() -> None:
        gate.set()

    await on_server(server, close_gate())
    publishing = asyncio.ensure_future(ann.call("sfu_publish", publish_payload()))
    await ann.settle(0.2)
    assert not publishing.done()
    # The room decides other things meanwhile: Bob chats, and Ann hears it.
    assert (await bob.call("chat", {"messageId": "m1", "text": "hello"}))["ok"]
    assert (await ann.next("chat"))["text"] == "hello"
    await on_server(server, open_gate())
    assert (await publishing)["ok"]


async def test_a_dropped_participant_keeps_its_media_until_the_grace_ends(
    clients, services, clock, server: RunningServer, fake_sfu
):
    room = make_room(services, clock, mode=RoomMode.GROUP)
    ann, bob = await clients(), await clients()
    await ann.join(room.room_name)
    await bob.join(room.room_name)
    await ann.call("sfu_publish", publish_payload())
    await ann.drop()
    await bob.next("participant_updated")
    await bob.settle()
    assert "revoke_publisher" not in fake_sfu.names()
    clock.advance(timedelta(seconds=31))
    await on_server(server, server.signaling.tick())
    assert (await bob.next("participant_left"))["reason"] == "disconnected"
    await bob.settle()
    assert fake_sfu.names()[-2:] == ["leave", "revoke_publisher"]


async def test_a_stream_that_went_away_and_came_back_is_received_again(bridge, sfu, outbox):
    sfu.feeds_on_publish = True
    for pid in ("ann", "bob"):
        bridge.joined(REF, pid, may_publish=True)
    await ask(bridge, outbox, "bob", "sfu_subscribe")
    await ask(bridge, outbox, "ann", "sfu_publish", publish_payload(m0="audio", m1="video"))
    await idle(bridge, sfu)
    room = SfuRoom("node-1", REF.meeting_id)
    audio_only = (PublishedFeed(sid("ann"), "0", FeedKind.AUDIO),)
    sfu.hub.emit(FeedsPublished(room, sid("ann"), audio_only))
    sfu.emit_feeds(room, sid("ann"))  # the camera is back
    await idle(bridge, sfu)
    updates = [c for c in sfu.calls if c[0] == "update_subscription"]
    assert updates == [("update_subscription", sid("bob"), [FeedSelection(sid("ann"), "1")], [])]


async def test_an_offer_from_a_new_peer_connection_publishes_afresh(bridge, sfu, outbox):
    first = OFFER + "a=fingerprint:sha-256 AA:BB\r\n"
    restart = first.replace("o=- 1 2", "o=- 1 3")  # same connection, an ICE restart
    other = OFFER + "a=fingerprint:sha-256 CC:DD\r\n"  # a new connection
    bridge.joined(REF, "ann", may_publish=True)
    for sdp in (first, restart, other):
        assert (await ask(bridge, outbox, "ann", "sfu_publish", publish_payload(sdp)))["ok"]
    assert sfu.names() == [
        "create_room",
        "allow_publisher",
        "publish",
        "renegotiate",
        "leave",
        "publish",
    ]

"""``JanusBackend``: the ``SfuBackend`` protocol on one Janus node's VideoRoom plugin.

One Janus session per node carries every handle Salon opens there: a control handle for the
synchronous room requests, one monitor handle per room, and one handle per publishing or
subscribing peer connection.

Access, as Janus 1.1.2's VideoRoom enforces it:

- only requests with the node's API secret are accepted at all (``apisecret``), and only Salon
  has it; only requests with the plugin's ``admin_key`` may create rooms or RTP forwarders;
- every room has a ``secret`` (to destroy it, edit its ``allowed`` list, kick) and a ``pin``
  (to join it, as publisher or subscriber), both derived from ``room_key`` so Salon need not
  store them and recomputes them after a restart;
- every room checks ``allowed`` tokens when someone joins as a publisher: Salon adds a fresh
  random token per ``allow_publisher`` and removes it on ``revoke_publisher``, so a join
  without a token Salon issued is refused by Janus itself (``Unauthorized``);
- subscribing needs only the pin (``require_pvtid`` would tie every subscription to a joined
  publisher, which a viewer, who may not publish, must never be).

Each room has a monitor: a participant of Salon's own (``_salon_monitor``, an id no Salon
participant can have) that joins with a token of its own, never publishes, and hears every
join, publish, unpublish, leave and talking change in the room, which become ``SfuEvent``\\ s.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from salon.config import Secret
from salon.errors import SfuRefusal, SfuRefused, SfuRoomNotFound, SfuUnavailable
from salon.janus import translate
from salon.janus.translate import JanusMessage
from salon.janus.transport import JanusTransport, Tap
from salon.media.events import EventHub, SfuEventStream
from salon.media.sfu import (
    FeedKind,
    FeedSelection,
    HandleRole,
    IceCandidate,
    MediaHandle,
    NodeHealth,
    NodeLost,
    Publication,
    PublishGrant,
    RoomSpec,
    SessionDescription,
    SfuBackend,
    SfuNode,
    SfuParticipant,
    SfuRoom,
    StreamSetting,
    Subscription,
    SubscriptionOffer,
    check_id,
)

__all__ = ["MONITOR_ID", "JanusBackend"]

logger = logging.getLogger("salon.janus")

MONITOR_ID = "_salon_monitor"


@dataclass(frozen=True, slots=True)
class _Credentials:
    secret: str
    pin: str
    monitor_token: str


def _derive(key: Secret, *parts: str) -> str:
    digest = hmac.new(key.reveal().encode(), "\0".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class JanusBackend:
    """One Janus node driven over its WebSocket API. Make one with ``await connect(...)``."""

    def __init__(
        self, node: SfuNode, transport: JanusTransport, *, admin_key: Secret, room_key: Secret
    ) -> None:
        self._node = node
        self._transport = transport
        self._admin_key = admin_key
        self._room_key = room_key
        self._hub = EventHub()
        self._control: int | None = None
        self._monitors: dict[str, int] = {}
        self._handles: dict[int, MediaHandle] = {}

    @classmethod
    async def connect(
        cls,
        node: SfuNode,
        *,
        api_secret: Secret,
        admin_key: Secret,
        room_key: Secret,
        request_timeout: float = 10.0,
        keepalive_interval: float = 25.0,
        reclaim_timeout: float = 0.0,
        tap: Tap | None = None,
    ) -> JanusBackend:
        """A backend with a live session on ``node``; ``SfuUnavailable`` if it cannot open one.

        ``keepalive_interval`` must stay well under the node's session timeout;
        ``reclaim_timeout`` should match its ``reclaim_session_timeout`` (0: never reconnect).
        """
        transport = JanusTransport(
            node.url,
            api_secret,
            request_timeout=request_timeout,
            keepalive_interval=keepalive_interval,
            reclaim_timeout=reclaim_timeout,
            tap=tap,
        )
        backend = cls(node, transport, admin_key=admin_key, room_key=room_key)
        transport.on_lost = backend._lost
        await transport.connect()
        try:
            backend._control = await transport.attach(lambda message: None)
        except BaseException:
            await transport.close()
            raise
        return backend

    async def __aenter__(self) -> JanusBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def node(self) -> SfuNode:
        return self._node

    @property
    def transport(self) -> JanusTransport:
        return self._transport

    # --- rooms ----------------------------------------------------------------------------

    def _credentials(self, room_id: str) -> _Credentials:
        node = self._node.node_id
        return _Credentials(
            secret=_derive(self._room_key, "secret", node, room_id),
            pin=_derive(self._room_key, "pin", node, room_id),
            monitor_token=_derive(self._room_key, "monitor", node, room_id),
        )

    def _room(self, room: SfuRoom) -> SfuRoom:
        if room.node_id != self._node.node_id:
            raise SfuRoomNotFound(detail=f"room {room.room_id} is on node {room.node_id}")
        return room

    @property
    def _control_handle(self) -> int:
        if self._control is None:
            raise SfuUnavailable(detail="not connected")
        return self._control

    async def _request(self, message: JanusMessage) -> JanusMessage:
        return await self._transport.request(message)

    async def create_room(self, spec: RoomSpec) -> SfuRoom:
        credentials = self._credentials(spec.room_id)
        reply = await self._request(
            translate.create_room(
                self._control_handle,
                spec,
                admin_key=self._admin_key.reveal(),
                secret=credentials.secret,
                pin=credentials.pin,
                allowed=[credentials.monitor_token],
            )
        )
        room = SfuRoom(self._node.node_id, translate.created_room(reply))
        try:
            await self._start_monitor(room, credentials)
        except BaseException:
            await self._destroy(room, credentials)
            raise
        return room

    async def _start_monitor(self, room: SfuRoom, credentials: _Credentials) -> None:
        def on_event(message: JanusMessage) -> None:
            for event in translate.room_events(room, message, monitor_id=MONITOR_ID):
                self._hub.emit(event)

        handle_id = await self._transport.attach(on_event)
        self._monitors[room.room_id] = handle_id
        reply = await self._request(
            translate.join_monitor(
                handle_id,
                room.room_id,
                MONITOR_ID,
                pin=credentials.pin,
                token=credentials.monitor_token,
            )
        )
        translate.joined_feeds(reply)

    async def _destroy(self, room: SfuRoom, credentials: _Credentials) -> None:
        with contextlib.suppress(SfuRoomNotFound):
            await self._request(
                translate.destroy_room(
                    self._control_handle, room.room_id, secret=credentials.secret
                )
            )
        monitor = self._monitors.pop(room.room_id, None)
        if monitor is not None:
            await self._transport.detach(monitor)
        for handle_id, handle in list(self._handles.items()):
            if handle.room == room:
                del self._handles[handle_id]
                await self._transport.detach(handle_id)

    async def destroy_room(self, room: SfuRoom) -> None:
        room = self._room(room)
        await self._destroy(room, self._credentials(room.room_id))

    async def participants(self, room: SfuRoom) -> tuple[SfuParticipant, ...]:
        room = self._room(room)
        reply = await self._request(translate.list_participants(self._control_handle, room.room_id))
        return translate.participants_of(reply, hidden=MONITOR_ID)

    # --- who may publish ------------------------------------------------------------------

    async def allow_publisher(self, room: SfuRoom, participant_id: str) -> PublishGrant:
        room = self._room(room)
        check_id(participant_id, "participant_id")
        token = secrets.token_urlsafe(24)
        await self._request(
            translate.allowed(
                self._control_handle,
                room.room_id,
                secret=self._credentials(room.room_id).secret,
                action="add",
                tokens=[token],
            )
        )
        return PublishGrant(room, participant_id, token)

    async def revoke_publisher(self, grant: PublishGrant) -> None:
        room = self._room(grant.room)
        secret = self._credentials(room.room_id).secret
        try:
            await self._request(
                translate.allowed(
                    self._control_handle,
                    room.room_id,
                    secret=secret,
                    action="remove",
                    tokens=[grant.token],
                )
            )
            await self._request(
                translate.kick(
                    self._control_handle, room.room_id, grant.participant_id, secret=secret
                )
            )
        except SfuRoomNotFound:
            return
        except SfuRefused as exc:
            if exc.reason is not SfuRefusal.NO_SUCH_FEED:
                raise

    # --- publishing -----------------------------------------------------------------------

    def _on_media_event(self, message: JanusMessage) -> None:
        handle = self._handles.get(message.sender or 0)
        if handle is None:
            return
        for event in translate.handle_events(handle, message):
            self._hub.emit(event)

    async def _open_handle(
        self, room: SfuRoom, participant_id: str, role: HandleRole
    ) -> MediaHandle:
        handle_id = await self._transport.attach(self._on_media_event)
        handle = MediaHandle(room, participant_id, role, handle_id)
        self._handles[handle_id] = handle
        return handle

    def _own(self, handle: MediaHandle, role: HandleRole | None = None) -> MediaHandle:
        if self._handles.get(handle.handle_id) != handle:
            raise SfuUnavailable(detail=f"handle {handle.handle_id} is not open on this node")
        if role is not None and handle.role is not role:
            raise ValueError(f"a {handle.role.value} handle cannot do that")
        return handle

    async def publish(
        self,
        grant: PublishGrant,
        offer: SessionDescription,
        *,
        kinds: Mapping[str, FeedKind] | None = None,
    ) -> Publication:
        room = self._room(grant.room)
        credentials = self._credentials(room.room_id)
        handle = await self._open_handle(room, grant.participant_id, HandleRole.PUBLISHER)
        try:
            reply = await self._request(
                translate.publish(
                    handle.handle_id,
                    room.room_id,
                    grant.participant_id,
                    offer,
                    pin=credentials.pin,
                    token=grant.token,
                    kinds=kinds,
                )
            )
            return Publication(handle, translate.answer_of(reply))
        except BaseException:
            await self.leave(handle)
            raise

    async def renegotiate(
        self,
        handle: MediaHandle,
        offer: SessionDescription,
        *,
        kinds: Mapping[str, FeedKind] | None = None,
    ) -> SessionDescription:
        handle = self._own(handle, HandleRole.PUBLISHER)
        reply = await self._request(translate.configure(handle.handle_id, offer, kinds=kinds))
        return translate.answer_of(reply)

    async def unpublish(self, handle: MediaHandle) -> None:
        handle = self._own(handle, HandleRole.PUBLISHER)
        await self._request(translate.unpublish(handle.handle_id))

    # --- subscribing ----------------------------------------------------------------------

    async def subscribe(
        self, room: SfuRoom, participant_id: str, feeds: Sequence[FeedSelection]
    ) -> Subscription:
        room = self._room(room)
        check_id(participant_id, "participant_id")
        if not feeds:
            raise ValueError("a subscription needs at least one feed")
        handle = await self._open_handle(room, participant_id, HandleRole.SUBSCRIBER)
        try:
            reply = await self._request(
                translate.join_subscriber(
                    handle.handle_id, room.room_id, feeds, pin=self._credentials(room.room_id).pin
                )
            )
            offer, streams = translate.subscription_of(reply)
            return Subscription(handle, offer, streams)
        except BaseException:
            await self.leave(handle)
            raise

    async def update_subscription(
        self,
        handle: MediaHandle,
        *,
        add: Sequence[FeedSelection] = (),
        remove: Sequence[FeedSelection] = (),
    ) -> None:
        """Adds and removes feeds; the new offer comes as a ``SubscriptionOffer`` event (Janus
        may fold several updates into one offer)."""
        handle = self._own(handle, HandleRole.SUBSCRIBER)
        reply = await self._request(
            translate.update_subscription(handle.handle_id, add=add, remove=remove)
        )
        if reply.jsep is not None:
            offer, streams = translate.subscription_of(reply)
            self._hub.emit(SubscriptionOffer(handle, offer, streams))

    async def configure_subscription(
        self, handle: MediaHandle, streams: Sequence[StreamSetting]
    ) -> None:
        """Sets the layer and pausing of m-lines of a subscription (Janus's ``configure`` with
        ``streams``); a layer change takes effect at the stream's next keyframe, which Janus
        asks the publisher for."""
        handle = self._own(handle, HandleRole.SUBSCRIBER)
        if not streams:
            return
        reply = await self._request(translate.configure_subscription(handle.handle_id, streams))
        translate.configured(reply)

    async def start_subscription(self, handle: MediaHandle, answer: SessionDescription) -> None:
        handle = self._own(handle, HandleRole.SUBSCRIBER)
        await self._request(translate.start_subscription(handle.handle_id, answer))

    async def restart_subscription(self, handle: MediaHandle) -> None:
        """Asks for an ICE restart (a subscriber's ``configure`` with ``restart``); the offer
        comes as an event.

        Only the ack is awaited: while an offer of Janus is unanswered, Janus answers nothing
        more until that offer's answer, and then offers with the restart in an ``updated``
        event (a ``SubscriptionOffer``). Waiting for a reply here would hold the room's queue,
        which carries that answer, until the request timed out.
        """
        handle = self._own(handle, HandleRole.SUBSCRIBER)
        reply = await self._transport.request(
            translate.restart_subscription(handle.handle_id), ack_is_final=True
        )
        # Janus may push the event before its ack: then it is the reply.
        for event in translate.handle_events(handle, reply):
            self._hub.emit(event)

    # --- both -----------------------------------------------------------------------------

    async def trickle(self, handle: MediaHandle, candidate: IceCandidate | None) -> None:
        handle = self._own(handle)
        await self._request(translate.trickle(handle.handle_id, candidate))

    async def leave(self, handle: MediaHandle) -> None:
        if self._handles.get(handle.handle_id) == handle:
            del self._handles[handle.handle_id]
            await self._transport.detach(handle.handle_id)

    # --- node -----------------------------------------------------------------------------

    def events(self) -> SfuEventStream:
        return self._hub.listen()

    async def health(self) -> NodeHealth:
        info = translate.server_info_of(await self._request(translate.info()))
        if not info.accepting_sessions:
            raise SfuUnavailable(detail="the node is not accepting new sessions")
        reply = await self._request(
            translate.list_rooms(self._control_handle, admin_key=self._admin_key.reveal())
        )
        load = translate.room_load_of(reply)
        return NodeHealth(self._node, info.version, load.rooms, load.participants)

    def _lost(self) -> None:
        logger.warning("lost the Janus session on node %s", self._node.node_id)
        self._handles.clear()
        self._monitors.clear()
        self._hub.emit(NodeLost(self._node.node_id))
        self._hub.close()

    async def close(self) -> None:
        self._handles.clear()
        self._monitors.clear()
        await self._transport.close()
        self._hub.close()


if TYPE_CHECKING:

    def _implements_protocol(backend: JanusBackend) -> SfuBackend:
        return backend

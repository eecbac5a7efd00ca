"""The SFU seen from Salon: the ``SfuBackend`` protocol and the values it speaks.

Group rooms send media through a selective forwarding unit. Salon drives it; browsers never
talk to it except over DTLS-SRTP. This module is everything the rest of Salon knows about an
SFU: rooms on a node, who may publish, publishing and subscribing with SDP offers and answers,
trickled ICE candidates, and the events a room produces. Nothing here names Janus; the Janus
adapter (``salon.janus``) translates its JSON into these values at its edge.

A backend is one SFU node. The handles it returns name their node and room, so a pool that
places rooms on several nodes can implement the same protocol by routing on them.

Who may publish is decided twice. Salon's room policy only asks for a ``PublishGrant`` for a
participant whose role may publish, and the SFU itself refuses a publisher whose grant it was
not given (``allow_publisher`` registers the grant's token with the node), so a hand-crafted
client holding no grant cannot publish even if it reached the SFU's API. Subscribing needs no
grant: a subscription only receives.

A typical publisher::

    grant = await sfu.allow_publisher(room, participant_id)
    publication = await sfu.publish(grant, offer, kinds={"0": FeedKind.AUDIO, "1": FeedKind.VIDEO})
    # send publication.answer to the browser; relay its candidates with sfu.trickle(...)

and subscriber::

    subscription = await sfu.subscribe(room, participant_id, [FeedSelection(publisher_id)])
    # send subscription.offer to the browser, then
    await sfu.start_subscription(subscription.handle, answer)
    # as the browser draws the stream smaller (salon.media.layers decides), no renegotiation:
    await sfu.configure_subscription(subscription.handle, [StreamSetting("1", SimulcastLayer.LOW)])
    # fresh TURN credentials on the browser's side: an ICE restart, the same streams
    await sfu.restart_subscription(subscription.handle)
    # the offer comes as a SubscriptionRestarted event; answer it with start_subscription
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Protocol

__all__ = [
    "MAX_CANDIDATE_CHARS",
    "MAX_SDP_CHARS",
    "FeedKind",
    "FeedSelection",
    "FeedsPublished",
    "FeedsUnpublished",
    "HandleRole",
    "IceCandidate",
    "MediaHandle",
    "NodeHealth",
    "NodeLost",
    "PeerConnectionDown",
    "PeerConnectionUp",
    "Publication",
    "PublishGrant",
    "PublishedFeed",
    "PublisherJoined",
    "PublisherLeft",
    "RoomDestroyed",
    "RoomSpec",
    "SdpType",
    "SessionDescription",
    "SfuBackend",
    "SfuEvent",
    "SfuNode",
    "SfuParticipant",
    "SfuRoom",
    "SimulcastLayer",
    "StreamSetting",
    "SubscribedStream",
    "Subscription",
    "SubscriptionOffer",
    "SubscriptionRestarted",
    "TalkingChanged",
    "check_id",
]

MAX_SDP_CHARS = 64 * 1024
MAX_CANDIDATE_CHARS = 1024
MAX_PUBLISHERS = 1000
# Room and participant ids travel to the SFU and back in its events. Leading letter or digit:
# the adapter keeps ids that start with anything else for itself.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def check_id(value: str, what: str) -> str:
    """``value`` if it is a usable room or participant id; ``ValueError`` naming ``what`` if not."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise ValueError(
            f"{what} must be 1-128 letters, digits, '.', '_', ':' or '-', starting with a "
            f"letter or digit; got {value!r}"
        )
    return value


class FeedKind(StrEnum):
    """What a published stream carries. A screen share is a video stream of its own kind."""

    AUDIO = "audio"
    VIDEO = "video"
    SCREEN = "screen"


class SdpType(StrEnum):
    OFFER = "offer"
    ANSWER = "answer"


class HandleRole(StrEnum):
    PUBLISHER = "publisher"
    SUBSCRIBER = "subscriber"


class SimulcastLayer(IntEnum):
    """A simulcast encoding, from the smallest to the largest."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """An SDP offer or answer, bounded in size."""

    type: SdpType
    sdp: str

    def __post_init__(self) -> None:
        if not isinstance(self.type, SdpType):
            raise ValueError(f"SDP type must be offer or answer, not {self.type!r}")
        if not self.sdp.startswith("v=0"):
            raise ValueError("an SDP description starts with 'v=0'")
        if len(self.sdp) > MAX_SDP_CHARS:
            raise ValueError(f"an SDP description is at most {MAX_SDP_CHARS} characters")


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """One trickled ICE candidate (its ``candidate:`` attribute value) and the m-line it is for."""

    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None

    def __post_init__(self) -> None:
        if not self.candidate.startswith("candidate:"):
            raise ValueError("an ICE candidate starts with 'candidate:'")
        if len(self.candidate) > MAX_CANDIDATE_CHARS or "\n" in self.candidate:
            raise ValueError(f"an ICE candidate is one line of at most {MAX_CANDIDATE_CHARS}")
        if self.sdp_mid is None and self.sdp_mline_index is None:
            raise ValueError("an ICE candidate names its m-line by mid or index")
        if self.sdp_mline_index is not None and not 0 <= self.sdp_mline_index < 1024:
            raise ValueError("an m-line index is 0-1023")


@dataclass(frozen=True, slots=True)
class SfuNode:
    """One SFU server: its id, where Salon reaches its API, and the region it serves."""

    node_id: str
    url: str
    region: str = "local"


@dataclass(frozen=True, slots=True)
class RoomSpec:
    """What a room on the SFU looks like.

    ``max_publishers`` bounds concurrent publishers (the SFU refuses one more);
    ``bitrate_bps`` caps each publisher's video; ``audio_levels`` turns on talking events.
    """

    room_id: str
    max_publishers: int
    bitrate_bps: int = 1_500_000
    audio_levels: bool = True

    def __post_init__(self) -> None:
        check_id(self.room_id, "room_id")
        if not 1 <= self.max_publishers <= MAX_PUBLISHERS:
            raise ValueError(f"max_publishers must be 1-{MAX_PUBLISHERS}")
        if not 32_000 <= self.bitrate_bps <= 50_000_000:
            raise ValueError("bitrate_bps must be 32 kbit/s to 50 Mbit/s")


@dataclass(frozen=True, slots=True)
class SfuRoom:
    """A room that exists on one SFU node."""

    node_id: str
    room_id: str


@dataclass(frozen=True, slots=True)
class PublishGrant:
    """Permission, registered with the SFU, for one participant to publish in one room.

    The token is what the SFU checks; it never leaves Salon and never shows in a repr.
    """

    room: SfuRoom
    participant_id: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MediaHandle:
    """One peer connection between a participant and the SFU, publishing or subscribing."""

    room: SfuRoom
    participant_id: str
    role: HandleRole
    handle_id: int


@dataclass(frozen=True, slots=True)
class PublishedFeed:
    """One stream a participant publishes: its ``mid`` in the publisher's SDP and its kind."""

    publisher_id: str
    mid: str
    kind: FeedKind
    codec: str | None = None
    simulcast: bool = False


@dataclass(frozen=True, slots=True)
class Publication:
    """A participant publishing: the handle and the SFU's SDP answer for the browser."""

    handle: MediaHandle
    answer: SessionDescription


@dataclass(frozen=True, slots=True)
class FeedSelection:
    """Streams to receive: all of a publisher's, or the one with ``mid``; optionally a layer."""

    publisher_id: str
    mid: str | None = None
    layer: SimulcastLayer | None = None


@dataclass(frozen=True, slots=True)
class StreamSetting:
    """How one m-line of a subscription (``mid`` in the SFU's offer) carries its stream from
    now on: in which simulcast ``layer`` (a stream without layers ignores it), and whether it
    is ``paused`` (nothing forwarded) or not. None leaves that part as it is."""

    mid: str
    layer: SimulcastLayer | None = None
    paused: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.mid, str) or not 1 <= len(self.mid) <= 64:
            raise ValueError("a stream's mid is 1-64 characters")
        if self.layer is None and self.paused is None:
            raise ValueError("a stream setting changes the layer, pausing, or both")
        if self.layer is not None and not isinstance(self.layer, SimulcastLayer):
            raise ValueError(f"layer must be a SimulcastLayer, not {self.layer!r}")


@dataclass(frozen=True, slots=True)
class SubscribedStream:
    """One m-line of a subscription (``mid`` in the SFU's offer) and the feed it carries."""

    mid: str
    publisher_id: str
    feed_mid: str
    kind: FeedKind


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription being set up: the handle, the SFU's offer and what each m-line carries."""

    handle: MediaHandle
    offer: SessionDescription
    streams: tuple[SubscribedStream, ...]


@dataclass(frozen=True, slots=True)
class SfuParticipant:
    participant_id: str
    publishing: bool
    talking: bool | None = None


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """A node that answered: its server version and how loaded it is."""

    node: SfuNode
    version: str
    rooms: int
    participants: int


# --- events: what happened in a room or on a node ------------------------------------------


@dataclass(frozen=True, slots=True)
class PublisherJoined:
    """A participant joined the room on the SFU (not yet publishing)."""

    room: SfuRoom
    participant_id: str


@dataclass(frozen=True, slots=True)
class PublisherLeft:
    """A participant left the room on the SFU; ``kicked`` when Salon revoked them."""

    room: SfuRoom
    participant_id: str
    kicked: bool = False


@dataclass(frozen=True, slots=True)
class FeedsPublished:
    """A participant's streams are live (or changed); ``feeds`` is their full current list."""

    room: SfuRoom
    participant_id: str
    feeds: tuple[PublishedFeed, ...]


@dataclass(frozen=True, slots=True)
class FeedsUnpublished:
    room: SfuRoom
    participant_id: str


@dataclass(frozen=True, slots=True)
class TalkingChanged:
    """A publisher started or stopped talking; ``level_dbov`` is the average level (0 loud,
    127 silent) when the SFU says."""

    room: SfuRoom
    participant_id: str
    talking: bool
    level_dbov: int | None = None


@dataclass(frozen=True, slots=True)
class RoomDestroyed:
    room: SfuRoom


@dataclass(frozen=True, slots=True)
class PeerConnectionUp:
    """DTLS is up between the browser and the SFU on this handle: media can flow."""

    handle: MediaHandle


@dataclass(frozen=True, slots=True)
class PeerConnectionDown:
    """The SFU closed this handle's peer connection (ICE failed, DTLS alert, the peer left)."""

    handle: MediaHandle
    reason: str


@dataclass(frozen=True, slots=True)
class SubscriptionOffer:
    """The SFU renegotiates a subscription (a feed went away or came back): answer it with
    ``start_subscription``."""

    handle: MediaHandle
    offer: SessionDescription
    streams: tuple[SubscribedStream, ...]


@dataclass(frozen=True, slots=True)
class SubscriptionRestarted:
    """The SFU offers a subscription again with fresh ICE credentials (``restart_subscription``
    asked for it): the same streams on the same m-lines as its previous offer. Answer it with
    ``start_subscription``."""

    handle: MediaHandle
    offer: SessionDescription


@dataclass(frozen=True, slots=True)
class NodeLost:
    """Salon lost its session with the node: every room and handle on it is gone."""

    node_id: str


SfuEvent = (
    PublisherJoined
    | PublisherLeft
    | FeedsPublished
    | FeedsUnpublished
    | TalkingChanged
    | RoomDestroyed
    | PeerConnectionUp
    | PeerConnectionDown
    | SubscriptionOffer
    | SubscriptionRestarted
    | NodeLost
)


class SfuBackend(Protocol):
    """One SFU node as Salon drives it. Every failure is an ``SfuError`` (``salon.errors``)."""

    @property
    def node(self) -> SfuNode:
        """The node this backend drives."""
        ...

    async def create_room(self, spec: RoomSpec) -> SfuRoom:
        """A new room; ``SfuRefused(ROOM_EXISTS)`` if the node has one with that id."""
        ...

    async def destroy_room(self, room: SfuRoom) -> None:
        """Closes the room and every peer connection in it; a room already gone is fine."""
        ...

    async def participants(self, room: SfuRoom) -> tuple[SfuParticipant, ...]:
        """Who is in the room on the SFU (publishing or not), Salon's own handles left out."""
        ...

    async def allow_publisher(self, room: SfuRoom, participant_id: str) -> PublishGrant:
        """Registers a fresh grant with the SFU so ``participant_id`` may publish."""
        ...

    async def revoke_publisher(self, grant: PublishGrant) -> None:
        """Withdraws the grant and removes the participant from the room if they are in it."""
        ...

    async def publish(
        self,
        grant: PublishGrant,
        offer: SessionDescription,
        *,
        kinds: Mapping[str, FeedKind] | None = None,
    ) -> Publication:
        """Joins the room as ``grant.participant_id`` and publishes ``offer``'s streams.

        ``kinds`` names the kind of each ``mid`` (a ``SCREEN`` video is how a screen share is
        told apart from a camera); the rest are as their m-line says.
        """
        ...

    async def renegotiate(
        self,
        handle: MediaHandle,
        offer: SessionDescription,
        *,
        kinds: Mapping[str, FeedKind] | None = None,
    ) -> SessionDescription:
        """The answer to a publisher's new offer (a track added or removed, an ICE restart)."""
        ...

    async def unpublish(self, handle: MediaHandle) -> None:
        """Stops publishing; the participant stays in the room and can ``renegotiate`` later."""
        ...

    async def subscribe(
        self, room: SfuRoom, participant_id: str, feeds: Sequence[FeedSelection]
    ) -> Subscription:
        """Starts a subscription to ``feeds``: the SFU's offer, to be answered."""
        ...

    async def update_subscription(
        self,
        handle: MediaHandle,
        *,
        add: Sequence[FeedSelection] = (),
        remove: Sequence[FeedSelection] = (),
    ) -> None:
        """Adds and removes feeds; the SFU's new offer comes as a ``SubscriptionOffer`` event."""
        ...

    async def configure_subscription(
        self, handle: MediaHandle, streams: Sequence[StreamSetting]
    ) -> None:
        """Changes the simulcast layer, or pauses or resumes, streams of a subscription, by
        their m-line; no renegotiation. ``SfuRefused(NO_SUCH_FEED)`` for a mid it does not
        have."""
        ...

    async def start_subscription(self, handle: MediaHandle, answer: SessionDescription) -> None:
        """Completes a subscription (or its renegotiation) with the browser's answer."""
        ...

    async def restart_subscription(self, handle: MediaHandle) -> None:
        """Asks the SFU to restart ICE on a subscription (the browser has fresh ICE servers).

        Returns once the SFU took the request; its new offer comes as an event, to be answered
        with ``start_subscription``: ``SubscriptionRestarted``, or, when an offer of the SFU
        is still unanswered, a ``SubscriptionOffer`` after that answer (the SFU folds the
        restart into its next renegotiation). Media keeps flowing on the current ICE pair
        until the browser and the SFU choose a new one.
        """
        ...

    async def trickle(self, handle: MediaHandle, candidate: IceCandidate | None) -> None:
        """Passes on one of the browser's ICE candidates; ``None`` says gathering is complete."""
        ...

    async def leave(self, handle: MediaHandle) -> None:
        """Closes the handle's peer connection; a publisher leaves the room. Idempotent."""
        ...

    def events(self) -> AsyncIterator[SfuEvent]:
        """Every event from now on, in order, ending after ``NodeLost`` or ``close``."""
        ...

    async def health(self) -> NodeHealth:
        """The node's version and load; ``SfuUnavailable`` if it does not answer."""
        ...

    async def close(self) -> None:
        """Ends Salon's session with the node: its handles close; rooms stay until destroyed."""
        ...

"""Records the golden Janus transcripts in tests/janus/fixtures/ from a real Janus 1.1.2.

    .venv/bin/python -m tests.janus.record_transcripts [SCENARIO ...]
                                            (as root; re-runs itself in a fresh network
                                            namespace; every scenario when none is named)

Each transcript is every WebSocket frame ``JanusBackend`` sent and received while it went
through a scripted scenario, labelled with the step it belongs to and the role of each handle.
``control.json`` drives rooms and grants without media; ``media.json`` publishes with an aiortc
peer over a veth pair, subscribes with another, and waits for the events that follows;
``layers.json`` sets a subscription's streams (layer, pause, resume, a mid it does not have);
``restart.json`` restarts ICE on a subscription, once at once and once while an offer of Janus
is unanswered (Janus holds the restart back until that offer's answer).

No secret is kept: the API secret, the admin key, every room's secret, pin and monitor token,
every publish token and every ICE password are replaced by placeholders (``<apisecret>`` …),
and transaction ids by ``t1``, ``t2`` … in order. tests/janus/test_translate.py replays the
transcripts through ``salon.janus.translate`` using the same placeholders.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salon.config import Secret
from salon.errors import SfuError, SfuRefused
from salon.janus import translate
from salon.janus.backend import JanusBackend
from salon.janus.process import JanusProcess
from salon.janus.transport import JanusTransport
from salon.media.sfu import (
    FeedsPublished,
    IceCandidate,
    PeerConnectionUp,
    PublisherLeft,
    PublishGrant,
    RoomSpec,
    SdpType,
    SessionDescription,
    SfuEvent,
    SimulcastLayer,
    StreamSetting,
    SubscriptionOffer,
    SubscriptionRestarted,
    TalkingChanged,
)
from tests.janus import peers
from tests.janus.support import (
    connect,
    eventually,
    in_own_network_namespace,
    recorded_offer,
    running_janus,
    veth_pair,
)

FIXTURES = Path(__file__).parent / "fixtures"
ICE_PWD = "ICEPWDSCRUBBEDFORFIXTURE"
ROOM = "room-1"
FORGED_TOKEN = "not-a-salon-token"
SCENARIOS = ("media", "control", "layers", "restart")


class Recorder:
    """The frames of one scenario, each labelled with the step running when it went by."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.step = "open"
        self.handles: dict[str, int] = {}

    def tap(self, direction: str, text: str) -> None:
        self.frames.append({"step": self.step, "dir": direction, "text": text})

    @contextmanager
    def at(self, step: str) -> Iterator[None]:
        self.step = step
        yield

    def scrubbed(self, secrets: dict[str, str]) -> list[dict[str, Any]]:
        transactions: dict[str, str] = {}
        out = []
        for frame in self.frames:
            text = frame["text"]
            for value, placeholder in sorted(secrets.items(), key=lambda kv: -len(kv[0])):
                text = text.replace(value, placeholder)
            text = re.sub(r"a=ice-pwd:[^\\\r\n]+", f"a=ice-pwd:{ICE_PWD}", text)
            message = json.loads(text)
            if "transaction" in message:
                name = transactions.setdefault(message["transaction"], f"t{len(transactions) + 1}")
                message["transaction"] = name
            out.append({"step": frame["step"], "dir": frame["dir"], "message": message})
        return out


def secrets_of(
    process: JanusProcess, backend: JanusBackend, grants: list[PublishGrant]
) -> dict[str, str]:
    credentials = backend._credentials(ROOM)
    found = {
        process.config.api_secret.reveal(): "<apisecret>",
        process.config.admin_key.reveal(): "<admin_key>",
        credentials.secret: f"<{ROOM}:secret>",
        credentials.pin: f"<{ROOM}:pin>",
        credentials.monitor_token: f"<{ROOM}:monitor-token>",
    }
    for grant in grants:
        found[grant.token] = f"<token:{grant.participant_id}>"
    return found


def write(name: str, recorder: Recorder, secrets: dict[str, str]) -> None:
    document = {
        "janus_version": "1.1.2",
        "recorded_by": "tests/janus/record_transcripts.py",
        "handles": recorder.handles,
        "frames": recorder.scrubbed(secrets),
    }
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    for secret in secrets:
        assert secret not in text
    (FIXTURES / name).write_text(text)
    print(f"wrote {FIXTURES / name}: {len(document['frames'])} frames")


@asynccontextmanager
async def listening(backend: JanusBackend) -> AsyncIterator[list[SfuEvent]]:
    seen: list[SfuEvent] = []
    stream = backend.events()

    async def pump() -> None:
        async for event in stream:
            seen.append(event)

    task = asyncio.create_task(pump())
    try:
        yield seen
    finally:
        stream.close()
        task.cancel()


def monitor_of(backend: JanusBackend) -> int:
    return backend._monitors[ROOM]


async def control(process: JanusProcess, offer: SessionDescription) -> None:
    recorder = Recorder()
    backend = await connect(process, tap=recorder.tap, keepalive_interval=3600)
    recorder.handles["control"] = backend._control_handle
    with recorder.at("info"):
        await backend.health()
    with recorder.at("create_room"):
        room = await backend.create_room(RoomSpec(ROOM, max_publishers=3))
        recorder.handles[f"monitor:{ROOM}"] = monitor_of(backend)
    with recorder.at("create_room_again"), suppress(SfuRefused):
        await backend.create_room(RoomSpec(ROOM, max_publishers=3))
    with recorder.at("allow_publisher"):
        grant = await backend.allow_publisher(room, "alice")
    with recorder.at("participants"):
        await backend.participants(room)
    with recorder.at("publish_without_grant"), suppress(SfuRefused):
        await backend.publish(PublishGrant(room, "mallory", FORGED_TOKEN), offer)
    with recorder.at("publish_bad_offer"), suppress(SfuRefused):
        await backend.publish(grant, SessionDescription(SdpType.OFFER, "v=0\r\n"))
    with recorder.at("revoke_publisher_absent"):
        await backend.revoke_publisher(grant)
    with recorder.at("keepalive"):
        await backend.transport.request(translate.keepalive())
    with recorder.at("destroy_room"):
        await backend.destroy_room(room)
    with recorder.at("destroy_room_again"):
        await backend.destroy_room(room)
    with recorder.at("participants_missing_room"), suppress(SfuError):
        await backend.participants(room)
    secrets = secrets_of(process, backend, [grant])
    with recorder.at("close"):
        await backend.close()
    with recorder.at("wrong_apisecret"), suppress(SfuError):
        await JanusTransport.open(process.node.url, Secret("wrong-" + "x" * 20), tap=recorder.tap)
    write("control.json", recorder, secrets)


async def media(process: JanusProcess) -> SessionDescription:
    recorder = Recorder()
    backend = await connect(process, tap=recorder.tap, keepalive_interval=3600)
    recorder.handles["control"] = backend._control_handle
    async with listening(backend) as seen:
        with recorder.at("create_room"):
            room = await backend.create_room(RoomSpec(ROOM, max_publishers=3))
            recorder.handles[f"monitor:{ROOM}"] = monitor_of(backend)
        with recorder.at("allow_publisher"):
            grant = await backend.allow_publisher(room, "alice")
        with recorder.at("publish"):
            publisher = await peers.publish(backend, grant)
            recorder.handles["publisher:alice"] = publisher.handle.handle_id
        with recorder.at("trickle"):
            candidate = IceCandidate("candidate:1 1 udp 2130706431 10.77.0.2 9 typ host", "0", 0)
            await backend.trickle(publisher.handle, candidate)
            await backend.trickle(publisher.handle, None)
        with recorder.at("publisher_up"):
            await eventually(
                lambda: any(isinstance(e, FeedsPublished) for e in seen), 20, "feeds published"
            )
        with recorder.at("subscribe"):
            subscriber = await peers.subscribe(backend, room, "bob", "alice")
            recorder.handles["subscriber:bob"] = subscriber.handle.handle_id
        with recorder.at("subscriber_up"):
            await eventually(lambda: len(subscriber.video_frames) > 5, 20, "decoded frames")
            await eventually(
                lambda: sum(isinstance(e, PeerConnectionUp) for e in seen) >= 2, 10, "both up"
            )
        with recorder.at("talking"):
            await eventually(
                lambda: any(isinstance(e, TalkingChanged) for e in seen), 20, "talking"
            )
        with recorder.at("participants"):
            await backend.participants(room)
        with recorder.at("unpublish"):
            await backend.unpublish(publisher.handle)
            await eventually(
                lambda: any(isinstance(e, SubscriptionOffer) for e in seen), 10, "new offer"
            )
        with recorder.at("revoke_publisher"):
            await backend.revoke_publisher(grant)
            await eventually(
                lambda: any(isinstance(e, PublisherLeft) for e in seen), 10, "alice kicked"
            )
        with recorder.at("leave"):
            await backend.leave(subscriber.handle)
            await backend.leave(publisher.handle)
        with recorder.at("destroy_room"):
            await backend.destroy_room(room)
        secrets = secrets_of(process, backend, [grant])
        with recorder.at("close"):
            await backend.close()
        await subscriber.close()
        await publisher.close()
    write("media.json", recorder, secrets)
    return publisher_offer(recorder, secrets)


@dataclass
class Scene:
    """alice publishing in a room and bob receiving her, recorded step by step."""

    recorder: Recorder
    backend: JanusBackend
    seen: list[SfuEvent]
    room: Any
    publisher: peers.Publisher
    subscriber: peers.Subscriber


@asynccontextmanager
async def alice_to_bob(process: JanusProcess, fixture: str) -> AsyncIterator[Scene]:
    """Sets the scene up (steps create_room to subscriber_up), and when the scenario is done
    takes it down (leave, destroy_room, close) and writes ``fixture``."""
    recorder = Recorder()
    backend = await connect(process, tap=recorder.tap, keepalive_interval=3600)
    recorder.handles["control"] = backend._control_handle
    async with listening(backend) as seen:
        with recorder.at("create_room"):
            room = await backend.create_room(RoomSpec(ROOM, max_publishers=3))
            recorder.handles[f"monitor:{ROOM}"] = monitor_of(backend)
        with recorder.at("allow_publisher"):
            grant = await backend.allow_publisher(room, "alice")
        with recorder.at("publish"):
            publisher = await peers.publish(backend, grant)
            recorder.handles["publisher:alice"] = publisher.handle.handle_id
        with recorder.at("publisher_up"):
            await eventually(
                lambda: any(isinstance(e, FeedsPublished) for e in seen), 20, "feeds published"
            )
        with recorder.at("subscribe"):
            subscriber = await peers.subscribe(backend, room, "bob", "alice")
            recorder.handles["subscriber:bob"] = subscriber.handle.handle_id
        with recorder.at("subscriber_up"):
            await eventually(lambda: len(subscriber.video_frames) > 5, 20, "decoded frames")
        yield Scene(recorder, backend, seen, room, publisher, subscriber)
        with recorder.at("leave"):
            await backend.leave(subscriber.handle)
            await backend.leave(publisher.handle)
        with recorder.at("destroy_room"):
            await backend.destroy_room(room)
        secrets = secrets_of(process, backend, [grant])
        with recorder.at("close"):
            await backend.close()
        await subscriber.close()
        await publisher.close()
    write(fixture, recorder, secrets)


async def layers(process: JanusProcess) -> None:
    """A subscriber's streams set without renegotiation: a layer, a pause, a resume (the
    frames come back), and a mid the subscription does not have."""
    async with alice_to_bob(process, "layers.json") as scene:
        recorder, backend, subscriber = scene.recorder, scene.backend, scene.subscriber
        handle = subscriber.handle
        with recorder.at("set_layer"):
            await backend.configure_subscription(handle, [StreamSetting("1", SimulcastLayer.LOW)])
        with recorder.at("pause"):
            await backend.configure_subscription(
                handle, [StreamSetting("0", paused=True), StreamSetting("1", paused=True)]
            )
        with recorder.at("resume"):
            frames = len(subscriber.video_frames)
            await backend.configure_subscription(
                handle,
                [StreamSetting("0", paused=False), StreamSetting("1", SimulcastLayer.HIGH, False)],
            )
            await eventually(
                lambda: len(subscriber.video_frames) > frames + 5, 20, "frames after resuming"
            )
        with recorder.at("set_unknown_mid"), suppress(SfuRefused):
            await backend.configure_subscription(handle, [StreamSetting("9", SimulcastLayer.LOW)])


def ice_ufrag(description: SessionDescription) -> str:
    found = re.search(r"a=ice-ufrag:(\S+)", description.sdp)
    assert found is not None, "an offer without ICE credentials"
    return found[1]


async def restart(process: JanusProcess) -> None:
    """A subscription's ICE restarted: Janus offers at once with new ICE credentials; then,
    asked while its offer for an unpublished stream is unanswered, only once that offer is
    answered, in the ``updated`` event of its next offer."""
    async with alice_to_bob(process, "restart.json") as scene:
        recorder, backend, seen = scene.recorder, scene.backend, scene.seen
        publisher, subscriber = scene.publisher, scene.subscriber
        handle = subscriber.handle

        def offers() -> list[SfuEvent]:
            return [e for e in seen if isinstance(e, SubscriptionOffer | SubscriptionRestarted)]

        with recorder.at("restart"):
            await backend.restart_subscription(handle)
            await eventually(lambda: len(offers()) == 1, 10, "the restart offer")
        (restarted,) = offers()
        assert isinstance(restarted, SubscriptionRestarted), restarted
        assert ice_ufrag(restarted.offer) != ice_ufrag(subscriber.offer), "no new ICE credentials"
        with recorder.at("answer_restart"):
            await peers.answer(backend, subscriber, restarted.offer)
        with recorder.at("unpublish"):
            await backend.unpublish(publisher.handle)
            await eventually(lambda: len(offers()) == 2, 10, "the offer without alice's streams")
        unpublished = offers()[1]
        with recorder.at("restart_held"):
            await backend.restart_subscription(handle)
            await asyncio.sleep(1)  # long enough for an offer Janus would not hold back
        assert len(offers()) == 2, "Janus offered before its previous offer was answered"
        with recorder.at("answer_then_restart"):
            await peers.answer(backend, subscriber, unpublished.offer)
            await eventually(lambda: len(offers()) == 3, 10, "the held restart offer")
        held = offers()[2]
        assert isinstance(held, SubscriptionOffer), held
        assert ice_ufrag(held.offer) not in {
            ice_ufrag(restarted.offer),
            ice_ufrag(unpublished.offer),
        }


def publisher_offer(recorder: Recorder, secrets: dict[str, str]) -> SessionDescription:
    for frame in recorder.scrubbed(secrets):
        message = frame["message"]
        if frame["step"] == "publish" and "jsep" in message and frame["dir"] == "send":
            return SessionDescription(SdpType.OFFER, message["jsep"]["sdp"])
    raise AssertionError("no publish offer recorded")


async def main(scenarios: list[str]) -> None:
    FIXTURES.mkdir(exist_ok=True)
    with veth_pair() as veth, tempfile.TemporaryDirectory() as tmp:
        async with running_janus(Path(tmp) / "janus", media_address=veth.janus_address) as node:
            # control.json publishes the offer media.json recorded (the one on file, when
            # media.json is not recorded again).
            offer = await media(node) if "media" in scenarios else recorded_offer()
            if "control" in scenarios:
                await control(node, offer)
            if "layers" in scenarios:
                await layers(node)
            if "restart" in scenarios:
                await restart(node)


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(SCENARIOS)
    if unknown := set(chosen) - set(SCENARIOS):
        sys.exit(
            f"no such scenario: {', '.join(sorted(unknown))} (there are {', '.join(SCENARIOS)})"
        )
    if not in_own_network_namespace():
        if os.environ.get("SALON_RECORD_IN_NETNS") == "1":
            sys.exit("could not enter a network namespace of its own")
        unshare = shutil.which("unshare") or "/usr/bin/unshare"
        os.environ["SALON_RECORD_IN_NETNS"] = "1"
        argv = [unshare, "-n", "--", sys.executable, "-m", "tests.janus.record_transcripts"]
        argv += chosen
        os.execv(unshare, argv)
    asyncio.run(main(chosen))

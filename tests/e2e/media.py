"""Proofs about media between people in a room, from each page's getStats()."""

from __future__ import annotations

from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant


def describe(person: Participant) -> str:
    return ", ".join(
        f"{pid}: {s.connection_state}/ice {s.ice_state}/signaling {s.signaling_state}"
        f" frames={s.frames_decoded} audio_packets={s.packets_received}"
        for pid, s in person.stats().items()
    )


def receiving_from(person: Participant, count: int, floors: dict[str, int] | None = None) -> bool:
    """``person`` has ``count`` peers, decodes video from each (more frames than ``floors``
    says) and receives audio packets from each. Raises with what it saw otherwise."""
    seen = person.stats()
    floors = floors or {}
    ok = len(seen) == count and all(
        s.frames_decoded > floors.get(pid, 0) and s.packets_received > 0 for pid, s in seen.items()
    )
    assert ok, f"{person.name} receives {describe(person) or 'from nobody'}; wants {count}"
    return True


def assert_full_mesh(people: list[Participant], timeout: float = 90) -> None:
    """Each person decodes every other's video (frames keep growing) and receives their audio,
    over a peer-to-peer host↔host pair on loopback, and shows their video playing in a tile."""
    others = len(people) - 1
    for person in people:
        wait_until(lambda p=person: receiving_from(p, others), timeout, message="media")
    floors = {p.name: {pid: s.frames_decoded for pid, s in p.stats().items()} for p in people}
    for person in people:
        wait_until(
            lambda p=person: receiving_from(p, others, floors[p.name]),
            timeout,
            message=f"frames from every peer to keep coming to {person.name}",
        )

    # Each page's peers are everyone but itself: ids are consistent across pages.
    peers = {p.name: set(p.stats()) for p in people}
    everyone = set().union(*peers.values())
    assert len(everyone) == len(people), peers
    selves = {name: everyone - ids for name, ids in peers.items()}
    assert all(len(ids) == 1 for ids in selves.values()), selves
    assert len({next(iter(ids)) for ids in selves.values()}) == len(people), selves

    for person in people:
        for pid, s in person.stats().items():
            assert s.connection_state == "connected", (person.name, pid, s)
            assert s.host_to_host_on_loopback, (person.name, pid, s.local, s.remote)
        wait_until(
            lambda p=person: all(p.tile_playing(pid) for pid in peers[p.name]),
            timeout,
            message=f"{person.name} to show a playing video tile for each of {peers[person.name]}",
        )

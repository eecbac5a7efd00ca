"""ICE restarts when the network changes: the call moves to the new network without a reload and
without leaving the room (issue "ICE restart when the network changes").

Two people join a normal room in a Chromium whose ICE may not use loopback (the one flag
tests/e2e/conftest.py adds for that is left out), so the call's only path is a veth pair this
test makes in the test run's own network namespace (scripts/e2e): 10.77.1.1 and 10.77.1.2.
Mid-call the "machine" changes networks, as a laptop does when it leaves Wi-Fi for Ethernet: a
second veth pair (10.77.2.1, 10.77.2.2) comes up and the first one goes away, addresses and all.
Signaling stays on loopback throughout. Then both pages must notice (the connection status leaves
"stable" and comes back), restart ICE (new ICE credentials in both descriptions, the selected
candidate pair on the new addresses) and keep decoding each other's video, in the same document
and the same RTCPeerConnection.
"""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Playwright

from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Participants,
    Salon,
    in_own_network_namespace,
)
from tests.e2e.media import describe, receiving_from
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant
from tests.e2e.webrtc_stats import Candidate, PeerStats

IP = shutil.which("ip") or "/usr/sbin/ip"
LOOPBACK_ICE = "--allow-loopback-in-peer-connection"

# Keeps, in the page, every value the connection status took (a poll could miss a short one).
RECORD_STATUS = """
(() => {
  const history = (window.__statusHistory = []);
  const note = () => {
    const status = document.querySelector("[data-testid=connection-status]")?.dataset.status;
    if (status && history[history.length - 1] !== status) history.push(status);
  };
  new MutationObserver(note).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"],
  });
})();
"""


def _ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True, text=True, timeout=30)


@dataclass(frozen=True)
class VethPair:
    """Two linked interfaces in this namespace, one address each, in one /24."""

    name: str
    peer: str
    address: str
    peer_address: str

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.address}/24", strict=False)

    def up(self) -> None:
        _ip("link", "add", self.name, "type", "veth", "peer", "name", self.peer)
        for device, address in ((self.name, self.address), (self.peer, self.peer_address)):
            # IPv4 only: no IPv6 link-local address, so no candidate ICE could pick instead.
            _ip("link", "set", "dev", device, "addrgenmode", "none")
            _ip("addr", "add", f"{address}/24", "dev", device)
            _ip("link", "set", "dev", device, "up")

    def down(self) -> None:
        _ip("link", "del", self.name)  # its peer goes with it

    def holds(self, candidate: Candidate | None) -> bool:
        return candidate is not None and ipaddress.ip_address(candidate.address) in self.network


FIRST = VethPair("salon0", "salon1", "10.77.1.1", "10.77.1.2")
SECOND = VethPair("salon2", "salon3", "10.77.2.1", "10.77.2.2")


class Network:
    """The namespace's non-loopback networks: FIRST at the start, SECOND after ``change()``."""

    def __init__(self) -> None:
        self.current = FIRST

    def change(self) -> None:
        SECOND.up()
        FIRST.down()
        self.current = SECOND


@pytest.fixture
def network() -> Iterator[Network]:
    # Only ever in the namespace scripts/e2e made, and only with the addresses made here.
    if not in_own_network_namespace():
        pytest.fail("interfaces other than lo in this namespace: a test left some behind?")
    FIRST.up()
    try:
        yield Network()
    finally:
        for pair in (FIRST, SECOND):
            subprocess.run([IP, "link", "del", pair.name], capture_output=True, check=False)
    assert in_own_network_namespace(), "a veth pair of this test is still there"


@pytest.fixture(scope="module")
def browser_without_loopback_ice(playwright_driver: Playwright) -> Iterator[Browser]:
    args = [arg for arg in CHROMIUM_ARGS if arg != LOOPBACK_ICE]
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=args)
    yield launched
    launched.close()


@pytest.fixture
def participants(browser_without_loopback_ice: Browser) -> Iterator[Participants]:
    """conftest's fixture of that name (its failure report included), on that browser."""
    opened = Participants(browser_without_loopback_ice)
    yield opened
    opened.close_all()


def _peer(person: Participant) -> tuple[str, PeerStats]:
    (only,) = person.stats().items()
    return only


def _on(pair: VethPair, person: Participant) -> PeerStats:
    """The one peer connection's stats, once its selected pair is host to host on ``pair``."""
    _, seen = _peer(person)
    assert seen.local is not None and seen.local.type == "host", describe(person)
    assert pair.holds(seen.local) and pair.holds(seen.remote), (seen.local, seen.remote)
    assert seen.ice_state in ("connected", "completed"), seen.ice_state
    return seen


def test_ice_restarts_when_the_network_changes(
    salon_server: Salon, network: Network, participants: Participants
):
    meeting = salon_server.create_meeting(roomMode="normal")
    people = [
        participants(meeting.room_url, name, init_script=RECORD_STATUS) for name in ("Ann", "Bob")
    ]
    for person in people:
        person.wait_screen("in_room")
    for person in people:
        wait_until(lambda p=person: receiving_from(p, 1), 90, message=f"{person.name}'s media")
    before = {
        p.name: wait_until(lambda p=p: _on(FIRST, p), message=f"{p.name} on {FIRST.network}")
        for p in people
    }
    peer_ids = {p.name: _peer(p)[0] for p in people}
    # Marks the document and the RTCPeerConnection: a reload or a new connection loses them.
    token = secrets.token_hex(8)
    mark = """([token, id]) => {
      window.__sameDocument = token;
      window.salon.debug.peerConnections()[id].__sameConnection = token;
      return window.__statusHistory.length;
    }"""
    history_from = {p.name: p.page.evaluate(mark, [token, peer_ids[p.name]]) for p in people}

    network.change()

    # Both restart ICE onto the new network: new credentials on both sides of each connection.
    after = {
        p.name: wait_until(
            lambda p=p: _on(SECOND, p), 90, message=f"{p.name}'s call to move to {SECOND.network}"
        )
        for p in people
    }
    for person in people:
        old, new = before[person.name], after[person.name]
        assert new.local_ufrag and new.local_ufrag != old.local_ufrag, (old, new)
        assert new.remote_ufrag and new.remote_ufrag != old.remote_ufrag, (old, new)
    restarts = sum(
        p.page.evaluate("() => [...window.salon.client.links.values()][0].iceRestarts")
        for p in people
    )
    assert restarts >= 1, "the browsers moved on their own: the app never restarted ICE"

    # Frames keep coming over the new path.
    floors = {p.name: _peer(p)[1].frames_decoded for p in people}
    for person in people:
        wait_until(
            lambda p=person: _on(SECOND, p).frames_decoded > floors[p.name] + 10,
            90,
            message=f"{person.name} to keep decoding after the restart",
        )

    # The app noticed, and says it is stable again; same document, same room, same connection.
    for person in people:
        name = person.name

        def noticed(p: Participant = person) -> list[str]:
            history: list[str] = p.page.evaluate("window.__statusHistory")
            since = history[history_from[p.name] :]
            return since if since and since[-1] == "stable" else []

        since = wait_until(noticed, message=f"{name}'s connection status to be stable again")
        assert {"unstable", "reconnecting"} & set(since), f"{name} never showed it: {since}"
        assert person.screen() == "in_room"
        assert _peer(person)[0] == peer_ids[name]
        same = person.page.evaluate(
            "([id]) => [window.__sameDocument,"
            " window.salon.debug.peerConnections()[id].__sameConnection]",
            [peer_ids[name]],
        )
        assert same == [token, token], f"{name} reloaded or made a new connection: {same}"

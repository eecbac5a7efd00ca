"""People in a normal room see and hear each other, peer to peer (issue 3, "Proof")."""

from __future__ import annotations

import pytest
from playwright.sync_api import Route

from tests.e2e.conftest import Participants, Salon
from tests.e2e.media import assert_full_mesh
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant

NAMES = ["Ann", "Bob", "Cleo", "Dev"]


@pytest.mark.parametrize("count", [2, 4])
def test_everyone_decodes_everyone_peer_to_peer(
    salon_server: Salon, participants: Participants, count: int
):
    meeting = salon_server.create_meeting(roomMode="normal")
    people = [participants(meeting.room_url, name) for name in NAMES[:count]]
    for person in people:
        person.wait_screen("in_room")
    assert_full_mesh(people)


SEES_BOB = """() => [...window.salon.client.participants.values()]
  .some((p) => p.displayName === "Bob")"""

# Counts the page's requests for camera and microphone.
COUNT_GET_USER_MEDIA = """
(() => {
  const md = navigator.mediaDevices;
  const real = md.getUserMedia.bind(md);
  window.__askedForDevices = [];
  md.getUserMedia = (constraints) => {
    window.__askedForDevices.push(Object.keys(constraints).sort().join("+"));
    return real(constraints);
  };
})();
"""


def test_a_page_that_joins_at_once_is_in_the_room_before_its_modules_run(
    salon_server: Salon, participants: Participants
):
    """The room page's inline script sends the join and asks for camera and microphone while
    the room app's modules load: with the app's entry module held back, the room already has
    Bob and his devices are being opened; once it runs, the app takes that join's answer (no
    second join) and those devices (no second request), and the call comes up as usual."""
    meeting = salon_server.create_meeting(roomMode="normal")
    ann = participants(meeting.room_url, "Ann")
    ann.wait_screen("in_room")
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    bob = participants(
        meeting.room_url,
        "Bob",
        init_script=COUNT_GET_USER_MEDIA,
        before_goto=lambda page: page.route("**/static/room.js", hold),
        wait_until="commit",
    )
    wait_until(lambda: ann.page.evaluate(SEES_BOB), message="Ann's room to have Bob")
    assert held, "Bob's room app was held back"
    assert bob.page.evaluate("typeof window.salon") == "undefined", "Bob's app has not run"
    assert bob.page.evaluate("window.__askedForDevices") == ["audio+video"]
    held[0].continue_()
    bob.wait_screen("in_room")
    assert bob.page.evaluate("window.salon.client.joinedEarly") is True
    assert_full_mesh([ann, bob])
    assert bob.page.evaluate("window.__askedForDevices") == ["audio+video"], "asked once"
    assert bob.page.evaluate("'__salonEarlyMedia' in window") is False, "the app took it"


# Holds the page's first offer until the test lets it go (window.__releaseFirstOffer()).
HOLD_FIRST_OFFER = """
(() => {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  window.__releaseFirstOffer = () => release();
  const real = RTCPeerConnection.prototype.setLocalDescription;
  let held = false;
  RTCPeerConnection.prototype.setLocalDescription = async function (...args) {
    if (!held && this.signalingState === "stable") {
      held = true;
      await gate;
    }
    return real.apply(this, args);
  };
})();
"""

LIVE_MEDIA_TRANSCEIVERS = """(id) => window.salon.debug.peerConnections()[id].getTransceivers()
  .filter((t) => t.direction !== "stopped").length"""


def test_first_offers_that_cross_still_carry_one_set_of_media(
    salon_server: Salon, participants: Participants
):
    """The newcomer's first offer comes late, after the other side stopped waiting for it and
    offered too: both offers cross, one side yields, and the call still has one microphone,
    one camera and one screen m-line, carrying media both ways."""
    meeting = salon_server.create_meeting(roomMode="normal")
    ann = participants(meeting.room_url, "Ann")
    ann.wait_screen("in_room")
    bob = participants(meeting.room_url, "Bob", init_script=HOLD_FIRST_OFFER)
    bob.wait_screen("in_room")
    # Ann stops waiting for Bob's offer (4 s) and makes her own; then Bob's goes out.
    wait_until(
        lambda: ann.page.evaluate(
            "() => Object.values(window.salon.debug.peerConnections())"
            ".some((pc) => pc.localDescription?.type === 'offer')"
        ),
        message="Ann to offer first",
    )
    bob.page.evaluate("window.__releaseFirstOffer()")

    assert_full_mesh([ann, bob])
    for person in (ann, bob):
        (peer,) = person.stats()
        count = person.page.evaluate(LIVE_MEDIA_TRANSCEIVERS, peer)
        assert count == 3, f"{person.name} has {count} media transceivers, not 3"


def _aspect(size: tuple[int, int] | list[int]) -> float:
    return size[0] / size[1]


def _same_shape(a: tuple[int, int] | list[int], b: tuple[int, int] | list[int]) -> bool:
    """Same aspect ratio, give or take the rounding of a scaled-down frame."""
    return abs(_aspect(a) - _aspect(b)) < 0.05


# The shape of what this page sends: its camera's and its screen's (None while not sharing).
LOCAL_SHAPES = """() => {
  const settings = (t) => t ? [t.getSettings().width, t.getSettings().height] : null;
  const client = window.salon.client;
  return {camera: settings(client.localStream.getVideoTracks()[0]),
          screen: settings(client.screenStream?.getVideoTracks()[0])};
}"""


def test_screen_shares_arrive_in_their_own_tile_both_ways(
    salon_server: Salon, participants: Participants
):
    """Each side's screen travels on the connection's screen slot and shows in a screen tile,
    beside (not instead of) the camera: here the fake screen is the 4:3 viewport and the camera
    16:9, and a tile plays what has the shape of the track it should show."""
    meeting = salon_server.create_meeting(roomMode="normal")
    ann = participants(meeting.room_url, "Ann")
    ann.wait_screen("in_room")
    bob = participants(meeting.room_url, "Bob")  # the newcomer: his link made the first offer
    bob.wait_screen("in_room")
    assert_full_mesh([ann, bob])
    ids = {person.name: next(iter(other.stats())) for person, other in ((ann, bob), (bob, ann))}

    def shows_screen(viewer: Participant, sharer: Participant) -> bool:
        sent = sharer.page.evaluate(LOCAL_SHAPES)
        assert sent["screen"] and not _same_shape(sent["screen"], sent["camera"]), sent
        screen = viewer.tile_video(ids[sharer.name], "screenshare-tile")
        camera = viewer.tile_video(ids[sharer.name])
        assert screen and camera, (screen, camera)
        assert _same_shape(screen, sent["screen"]), f"screen tile {screen}, sent {sent}"
        assert _same_shape(camera, sent["camera"]), f"camera tile {camera}, sent {sent}"
        return True

    for sharer, viewer in ((ann, bob), (bob, ann)):
        sharer.click("screenshare-toggle")
        wait_until(
            lambda s=sharer, v=viewer: shows_screen(v, s),
            90,
            message=f"{viewer.name} to show {sharer.name}'s screen in a screen tile",
        )
    ann.click("screenshare-toggle")
    anns_screen = bob.page.locator(
        f'[data-testid=screenshare-tile][data-participant-id="{ids[ann.name]}"]'
    )
    wait_until(
        lambda: anns_screen.count() == 0, message="Ann's screen tile to go when she stops sharing"
    )
    assert shows_screen(ann, bob), "Bob's share stopped too"


def test_joining_from_the_pre_call_screen_uses_the_connection_made_meanwhile(
    salon_server: Salon, participants: Participants
):
    """On the pre-call screen the signaling connects, and the peer connection for the first
    offer is made, while the person picks a name and looks at the preview; Join then goes over
    that signaling connection, and the first offer goes out on that peer connection, carrying
    the camera and microphone put on it at the join."""
    meeting = salon_server.create_meeting(roomMode="normal")
    ann = participants(meeting.room_url, "Ann")
    ann.wait_screen("in_room")
    bob = participants(meeting.room_url)
    bob.wait_screen("precall")
    socket_id = wait_until(
        lambda: bob.page.evaluate(
            "() => window.salon.client.socket?.connected && window.salon.client.socket.id"
        ),
        message="Bob's signaling to connect before he joins",
    )
    wait_until(lambda: bob.visible("local-video"), message="Bob's preview")
    bob.join_from_precall("Bob")
    assert bob.page.evaluate("() => window.salon.client.socket.id") == socket_id
    assert bob.offered_on_spare()
    assert_full_mesh([ann, bob])


# Holds the page's join back for 1.5 s on its way out, and records the screens the page shows.
SLOW_JOIN = """
(() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === "string" && /^42[0-9]*\\["join"/.test(data)) {
      setTimeout(() => send.call(this, data), 1500);
    } else {
      send.call(this, data);
    }
  };
  window.__screens = [];
  window.__shown = {};
  new MutationObserver(() => {
    const screen = document.querySelector("[data-testid=screen]")?.dataset.screen;
    if (!screen || window.__screens.at(-1) === screen) return;
    window.__screens.push(screen);
    window.__shown[screen] ??= performance.now();
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-screen"] });
  addEventListener("click", (e) => {
    if (e.target.closest?.("[data-testid=join-button]")) window.__clicked ??= performance.now();
  }, true);
})();
"""


def test_a_join_that_takes_a_while_shows_the_joining_screen(
    salon_server: Salon, participants: Participants
):
    """A quick join goes from the pre-call screen straight into the room; one that takes a
    while (here its message is held back 1.5 s) shows the joining screen, from 400 ms after
    the click, until it is in."""
    meeting = salon_server.create_meeting(roomMode="normal")
    ann = participants(meeting.room_url, "Ann")
    ann.wait_screen("in_room")
    bob = participants(meeting.room_url, init_script=SLOW_JOIN)
    bob.wait_screen("precall")
    bob.by_testid("display-name").fill("Bob")
    bob.click("join-button")
    bob.wait_screen("joining")
    bob.wait_screen("in_room")
    assert bob.page.evaluate("window.__screens") == ["precall", "joining", "in_room"]
    waited = bob.page.evaluate("window.__shown.joining - window.__clicked")
    assert waited >= 390, f"the joining screen came {waited:.0f} ms after the click"
    assert_full_mesh([ann, bob])


# The camera fails, but only once the page has joined: the join went out while it was opening.
CAMERA_FAILS_AFTER_JOIN = """
(() => {
  const md = navigator.mediaDevices;
  const real = md.getUserMedia.bind(md);
  const joined = () => new Promise((resolve) => {
    const check = () =>
      window.salon?.client?.status === "connected" ? resolve() : setTimeout(check, 20);
    check();
  });
  md.getUserMedia = async (constraints) => {
    if (!constraints || !constraints.video) return real(constraints);
    await joined();
    throw new DOMException("camera blocked for the test", "NotAllowedError");
  };
})();
"""


def test_a_device_that_fails_after_the_join_is_announced_off(
    salon_server: Salon, participants: Participants
):
    """Joining without a click opens camera and microphone alongside the join, which announces
    them on; when the camera then fails, the others are told, and see Bob's avatar."""
    meeting = salon_server.create_meeting(roomMode="normal")
    ann = participants(meeting.room_url, "Ann")
    ann.wait_screen("in_room")
    bob = participants(meeting.room_url, "Bob", init_script=CAMERA_FAILS_AFTER_JOIN)
    bob.wait_screen("in_room")
    bob_id = wait_until(lambda: next(iter(ann.stats()), None), message="Ann's link to Bob")
    state = """(id) => {
      const p = window.salon.client.participants.get(id);
      const tile = document.querySelector(`[data-testid=video-tile][data-participant-id="${id}"]`);
      return p && {audio: p.audio, video: p.video, avatar: !!tile?.classList.contains("video-off")};
    }"""
    wait_until(
        lambda: ann.page.evaluate(state, bob_id) == {"audio": True, "video": False, "avatar": True},
        message="Ann to see Bob's camera off (his microphone on)",
    )
    wait_until(
        lambda: ann.stats()[bob_id].packets_received > 0, message="Bob's microphone to reach Ann"
    )

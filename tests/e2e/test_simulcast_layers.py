"""A subscriber receives the simulcast layer its tile needs, through real Chromium and Janus.

Two room-app pages in a group room: Pia publishes her camera, which Chromium sends in three
simulcast layers (rids h, m, l) to a real Janus; Sam, a viewer, receives it. Sam's page tells
Salon how large it draws Pia's video (``sfu_view``); Salon's layer policy picks a layer and has
Janus forward it. The test makes Sam's tile small and large (its CSS size, as a layout would)
and reads what Sam's subscriber connection decodes (``getStats`` inbound-rtp ``frameHeight``):
the low layer for a small tile, the high one for a large one, nothing while the tile is hidden.

Chromium sends three layers only from a large enough capture (about 960x540; from 640x360 it
sends two, leaving ``l`` off): in a group room the room app asks the camera for 960x540 (it
resizes a camera opened before the join told it the room's mode), so Pia's layers are
960x540, 480x270 and 240x135. Nothing in the test changes what the page asks for.

The setup is tests/e2e/test_group_sfu.py's: Salon's HTTPS signaling server in this process,
Janus on one end of a veth pair made in this test's network namespace (``scripts/e2e``).
"""

from __future__ import annotations

import time
from typing import Any

from salon.clock import FakeClock
from salon.services.container import Services
from salon.services.meetings import RoomMode
from tests.e2e import test_group_sfu as group_sfu
from tests.e2e.conftest import Participants
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant
from tests.e2e.test_group_sfu import JanusSfu
from tests.signaling.conftest import make_room

# What the page's SFU link sends (per rid) and receives (video inbound on the subscriber).
_MEDIA = """
async () => {
  const link = window.salon && window.salon.client && window.salon.client.sfu;
  if (!link) return null;
  const { publisher, subscriber } = link.peerConnections();
  const out = { sent: {}, received: null, viewsSent: link.viewsSent };
  if (publisher) {
    (await publisher.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video" && s.rid) {
        out.sent[s.rid] = { frames: s.framesEncoded || 0, height: s.frameHeight || 0 };
      }
    });
  }
  if (subscriber) {
    (await subscriber.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        const mine = out.received || { frames: 0, packets: 0, width: 0, height: 0 };
        mine.frames += s.framesDecoded || 0;
        mine.packets += s.packetsReceived || 0;
        mine.width = Math.max(mine.width, s.frameWidth || 0);
        mine.height = Math.max(mine.height, s.frameHeight || 0);
        out.received = mine;
      }
    });
  }
  return out;
}
"""

# Gives someone's camera tile a size of its own (CSS pixels; the pages' devicePixelRatio is 1),
# or hides it (null).
_SIZE_TILE = """
([id, size]) => {
  const tile = [...document.querySelectorAll("[data-testid=video-tile]")]
    .find((t) => t.dataset.participantId === id);
  if (!tile) return false;
  if (size === null) {
    tile.style.display = "none";
  } else {
    Object.assign(tile.style, { display: "", position: "fixed", left: "0px", top: "0px",
      width: `${size[0]}px`, height: `${size[1]}px`, zIndex: "5" });
  }
  return true;
}
"""

# Only the high layer is this tall (540 rows; 405 if Chromium scales the capture down for CPU),
# and only the low one this short (135 rows; the medium one has 270).
_TALLER_THAN_MEDIUM = 300
_SHORTER_THAN_MEDIUM = 200


# The group-room fixtures of test_group_sfu (Salon's server in this process, Janus on a veth
# pair), shared: assigned, not imported, so that pytest finds them here.
veth = group_sfu.veth
services = group_sfu.services
server = group_sfu.server
janus_sfu = group_sfu.janus_sfu


def _media(person: Participant) -> dict[str, Any]:
    found: dict[str, Any] | None = person.page.evaluate(_MEDIA)
    assert found is not None, f"{person.name} has no SFU link"
    return found


def _received_height(person: Participant) -> int:
    received = _media(person)["received"]
    return int(received["height"]) if received else 0


def _size_tile(person: Participant, participant_id: str, size: tuple[int, int] | None) -> None:
    assert person.page.evaluate(_SIZE_TILE, [participant_id, size]), "no tile to size"


def _receives(person: Participant, condition: str, check: Any, timeout: float = 60) -> None:
    """Waits until ``check(frame height)`` holds for what ``person`` decodes, and frames keep
    coming (a frame size alone could be a stale reading)."""
    floor = (_media(person)["received"] or {}).get("frames", 0)

    def ok() -> bool:
        seen = _media(person)
        received = seen["received"] or {}
        assert check(received.get("height", 0)) and received.get("frames", 0) > floor, seen
        return True

    wait_until(ok, timeout, message=f"{person.name} to receive {condition}")


def _stalled(person: Participant, samples: list[int], needed: int) -> bool:
    """The video packets ``person`` received stayed the same over the last ``needed``
    readings (taken one per poll)."""
    received = _media(person)["received"] or {}
    samples.append(int(received.get("packets", 0)))
    recent = samples[-needed:]
    return len(recent) == needed and len(set(recent)) == 1


def test_the_subscriber_receives_the_layer_its_tile_needs(
    janus_sfu: JanusSfu, services: Services, participants: Participants
) -> None:
    clock = services.clock
    assert isinstance(clock, FakeClock)
    room = make_room(services, clock, mode=RoomMode.GROUP)
    base = janus_sfu.server.base_url + room.room_name
    began = time.monotonic()
    pia = participants(f"{base}?roomKey={room.host_key}", "Pia")
    sam = participants(f"{base}?roomKey={room.viewer_key}", "Sam")
    for person in (pia, sam):
        person.wait_screen("in_room")

    # Pia's camera leaves in three layers, each its own size.
    def three_layers() -> bool:
        sent = _media(pia)["sent"]
        assert set(sent) == {"h", "m", "l"} and all(s["frames"] > 0 for s in sent.values()), sent
        assert sent["h"]["height"] > sent["m"]["height"] > sent["l"]["height"] > 0, sent
        return True

    wait_until(three_layers, 60, message="Pia's camera to go out in three simulcast layers")
    (pia_id,) = wait_until(lambda: sam.tile_ids() or None, 60, message="Sam to show Pia's tile")
    wait_until(lambda: sam.tile_playing(pia_id), 60, message="Pia's video to play for Sam")

    # Large: the high layer. Small: the low one. Large again: the high one again.
    _size_tile(sam, pia_id, (960, 540))
    _receives(sam, "the high layer for a large tile", lambda h: h > _TALLER_THAN_MEDIUM)
    _size_tile(sam, pia_id, (160, 90))
    _receives(sam, "the low layer for a small tile", lambda h: 0 < h < _SHORTER_THAN_MEDIUM)
    _size_tile(sam, pia_id, (960, 540))
    _receives(sam, "the high layer again", lambda h: h > _TALLER_THAN_MEDIUM)

    # Hidden: Pia's video stops coming (Janus pauses it for Sam; her audio goes on). Shown
    # again: it comes back. Four polls a second, so 12 equal readings are 3 s without a packet
    # where 20 frames a second were arriving.
    _size_tile(sam, pia_id, None)
    samples: list[int] = []
    wait_until(lambda: _stalled(sam, samples, 12), 60, message="Pia's video to stop for hidden Sam")
    _size_tile(sam, pia_id, (320, 180))
    _receives(sam, "video again once the tile shows", lambda h: 0 < h < _TALLER_THAN_MEDIUM)

    # Views went out at most once a second.
    views = _media(sam)["viewsSent"]
    assert 0 < views <= time.monotonic() - began + 1, views

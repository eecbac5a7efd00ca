"""A viewer (viewerRoomUrl) watches and listens but publishes nothing and is offered no camera or
microphone. (That the server refuses a viewer's media even from a hand-crafted client is proven
in the signaling tests.)"""

from __future__ import annotations

from tests.e2e.conftest import Participants, Salon
from tests.e2e.media import receiving_from
from tests.e2e.polling import wait_until

# Records every track the page takes from a camera, microphone or screen.
RECORD_CAPTURE = """
(() => {
  window.__capturedTracks = [];
  const md = navigator.mediaDevices;
  for (const name of ["getUserMedia", "getDisplayMedia"]) {
    const real = md[name] && md[name].bind(md);
    if (!real) continue;
    md[name] = async (...args) => {
      const stream = await real(...args);
      window.__capturedTracks.push(...stream.getTracks());
      return stream;
    };
  }
})();
"""


def test_viewer_receives_media_and_publishes_none(salon_server: Salon, participants: Participants):
    meeting = salon_server.create_meeting()
    host = participants(meeting.host_room_url, "Host")
    viewer = participants(meeting.viewer_room_url, "Vera", init_script=RECORD_CAPTURE)
    for person in (host, viewer):
        person.wait_screen("in_room")

    wait_until(lambda: receiving_from(viewer, 1), 90, message="the viewer to get the host's media")
    floors = {pid: s.frames_decoded for pid, s in viewer.stats().items()}
    wait_until(lambda: receiving_from(viewer, 1, floors), 90, message="frames to keep coming")
    ((host_id, seen),) = viewer.stats().items()
    assert seen.host_to_host_on_loopback, (seen.local, seen.remote)
    assert seen.local_tracks == 0, "the viewer sends tracks"
    wait_until(lambda: viewer.tile_playing(host_id), message="the host's tile to play")

    for control in ("local-video", "mic-toggle", "camera-toggle", "screenshare-toggle"):
        assert not viewer.visible(control), f"a viewer is offered {control}"
    captured = viewer.page.evaluate(
        "() => window.__capturedTracks.filter((t) => t.readyState === 'live').map((t) => t.kind)"
    )
    assert captured == [], f"the viewer holds a live camera/microphone: {captured}"
    # The host gets nothing from the viewer.
    (to_viewer,) = wait_until(lambda: list(host.stats().values()) or None, message="host's pc")
    assert to_viewer.video_inbound == 0 and to_viewer.packets_received == 0, to_viewer

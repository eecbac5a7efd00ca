"""The browser-test machinery itself works here, independent of Salon's room app.

Chromium starts inside the network namespace, opens a page ``salon serve`` serves over HTTPS, and
two pages of a tiny self-contained WebRTC page (served by a throwaway HTTPS server, signalled by
the test itself) connect peer to peer over loopback and decode each other's fake camera. If these
fail, the namespace, the Chromium flags or the fake devices are broken, not Salon.
"""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from salon.clock import SystemClock
from salon.tls import ensure_self_signed
from tests.e2e.conftest import Participants, Salon, in_own_network_namespace
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant

# Exposes its one connection the way the room app does, so webrtc_stats.stats() reads it too.
DEMO_PAGE = b"""<!doctype html>
<meta charset="utf-8"><title>two-page WebRTC demo</title>
<video id="local" autoplay muted playsinline></video>
<video id="remote" autoplay muted playsinline></video>
<script>
const pc = new RTCPeerConnection();
window.salon = {debug: {peerConnections: () => ({peer: pc})}};
pc.ontrack = (e) => { document.getElementById("remote").srcObject = e.streams[0]; };
const gathered = () => new Promise((resolve) => {
  if (pc.iceGatheringState === "complete") return resolve();
  pc.addEventListener("icegatheringstatechange", () => {
    if (pc.iceGatheringState === "complete") resolve();
  });
});
window.demo = {
  async start() {
    const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
    stream.getTracks().forEach((t) => pc.addTrack(t, stream));
    document.getElementById("local").srcObject = stream;
  },
  async offer() {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered();
    return pc.localDescription.toJSON();
  },
  async answer(offer) {
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered();
    return pc.localDescription.toJSON();
  },
  async accept(answer) { await pc.setRemoteDescription(answer); },
};
</script>
"""


class _DemoHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(DEMO_PAGE)))
        self.end_headers()
        self.wfile.write(DEMO_PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def demo_server(tmp_path: Path) -> Iterator[str]:
    cert, key = ensure_self_signed(tmp_path, ["localhost"], SystemClock())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DemoHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_only_loopback_in_this_network_namespace():
    assert in_own_network_namespace()


def test_chromium_opens_a_salon_page_over_https(salon_server: Salon, participants: Participants):
    meeting = salon_server.create_meeting()
    person = participants(meeting.room_url)
    response = person.page.goto(meeting.room_url)
    assert response is not None
    assert response.ok, response.status
    assert response.url.startswith("https://localhost:")
    details = response.security_details()
    assert details is not None
    assert details.get("protocol") in {"TLS 1.2", "TLS 1.3"}


def test_two_pages_connect_peer_to_peer_and_decode_video(
    participants: Participants, tmp_path: Path
):
    with demo_server(tmp_path) as url:
        a, b = participants(url, None), participants(url, None)
        for page in (a.page, b.page):
            page.evaluate("demo.start()")
        offer = a.page.evaluate("demo.offer()")
        answer = b.page.evaluate("(o) => demo.answer(o)", offer)
        a.page.evaluate("(ans) => demo.accept(ans)", answer)

        def flowing(person: Participant, floor: int) -> bool:
            peer = person.stats().get("peer")
            return bool(peer and peer.frames_decoded > floor and peer.packets_received > 0)

        for person in (a, b):
            wait_until(lambda p=person: flowing(p, 0), message=f"{person.name} to decode video")
            first = person.stats()["peer"].frames_decoded
            wait_until(lambda p=person, f=first: flowing(p, f), message="frames to keep coming")
            peer = person.stats()["peer"]
            assert peer.connection_state == "connected"
            assert peer.host_to_host_on_loopback, (peer.local, peer.remote)
            assert peer.local_tracks == 2

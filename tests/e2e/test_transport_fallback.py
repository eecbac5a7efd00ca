"""With WebSocket blocked, the room still joins over HTTPS long-polling and media flows.

An init script makes every WebSocket the page opens go to a closed loopback port instead, so it
fails the way a proxy or firewall that drops WebSocket makes it fail: an error, then a close.
"""

from __future__ import annotations

from playwright.sync_api import Request, WebSocket

from tests.e2e.conftest import Participants, Salon
from tests.e2e.media import assert_full_mesh
from tests.e2e.polling import wait_until

BLOCK_WEBSOCKET = """
(() => {
  const Real = window.WebSocket;
  window.__blockedWebSockets = [];
  class Blocked extends Real {
    constructor(url, protocols) {
      window.__blockedWebSockets.push(String(url));
      super("wss://127.0.0.1:9/blocked", protocols);
    }
  }
  window.WebSocket = Blocked;
})();
"""


def test_room_joins_over_long_polling_when_websocket_is_blocked(
    salon_server: Salon, participants: Participants
):
    meeting = salon_server.create_meeting()
    people = [
        participants(meeting.room_url, name, init_script=BLOCK_WEBSOCKET) for name in ("Ann", "Bob")
    ]
    polls: dict[str, int] = {p.name: 0 for p in people}
    sockets: list[str] = []
    for person in people:

        def on_request(request: Request, name: str = person.name) -> None:
            if "/socket.io/" in request.url and "transport=polling" in request.url:
                polls[name] += 1

        def on_websocket(ws: WebSocket) -> None:
            sockets.append(ws.url)

        person.page.on("request", on_request)
        person.page.on("websocket", on_websocket)

    for person in people:
        person.wait_screen("in_room")
    assert_full_mesh(people)

    before = dict(polls)

    def still_polling() -> bool:
        for person in people:
            person.page.evaluate("0")  # lets Playwright deliver the page's request events
        assert all(polls[p.name] > before[p.name] for p in people), (before, polls)
        return True

    wait_until(still_polling, message="signaling to keep polling")
    assert all("127.0.0.1:9/blocked" in url for url in sockets), sockets
    for person in people:
        attempts = person.page.evaluate("window.__blockedWebSockets")
        print(
            f"{person.name}: {polls[person.name]} polling requests, blocked WebSockets {attempts}"
        )

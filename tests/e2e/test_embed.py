"""The embed in a real browser (issue 4, "Proof"): a customer page on another origin embeds a
room with ``<salon-embed>``, gets its events and controls it with commands; a page on a
disallowed origin cannot frame the room; commands from a foreign frame are ignored; a custom
UI built only on the JS SDK joins a room with the stock room app and exchanges media and chat.

The customer pages (tests/e2e/embed_pages/) are served by a small HTTP server of the test,
reached as ``http://localhost:PORT`` (an allowed embed domain) and as ``http://127.0.0.1:PORT``
(the same pages on an origin that is not allowed). Both are secure contexts (loopback).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Frame

from tests.e2e.conftest import Participants, Salon, run_salon
from tests.e2e.media import receiving_from
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant
from tests.support.ports import free_port

PAGES = Path(__file__).parent / "embed_pages"


class _Pages(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test's output is pytest's


@dataclass(frozen=True)
class CustomerSite:
    allowed: str  # http://localhost:PORT, in the organization's allowed embed domains
    foreign: str  # http://127.0.0.1:PORT, the same pages on an origin that is not


@pytest.fixture(scope="module")
def customer_site() -> Iterator[CustomerSite]:
    port = free_port()
    handler = functools.partial(_Pages, directory=str(PAGES))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield CustomerSite(f"http://localhost:{port}", f"http://127.0.0.1:{port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def embed_salon(
    tmp_path_factory: pytest.TempPathFactory, customer_site: CustomerSite
) -> Iterator[Salon]:
    """A Salon of its own whose organization allows only the customer's allowed origin."""
    with run_salon(tmp_path_factory.mktemp("salon-embed")) as running:
        with running.process.client(running.api_key) as http:
            answer = http.patch(
                "/v1/organization", json={"allowedEmbedDomains": [customer_site.allowed]}
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["allowedEmbedDomains"] == [customer_site.allowed]
        yield running


def _embed_url(origin: str, salon: Salon, room_url: str) -> str:
    query = {"element": f"{salon.base_url}/embed/salon-embed.js", "room": room_url}
    return f"{origin}/embed.html?{urlencode(query)}"


def _frame_at(person: Participant, origin: str) -> Frame:
    """The (first) frame of ``origin`` inside ``person``'s page, once there is one."""

    def find() -> list[Frame]:
        return [f for f in person.page.frames if f.url.startswith(origin + "/")][:1]

    return wait_until(find, message=f"a frame of {origin} in {person.name}'s page")[0]


def _frame_screen(frame: Frame) -> str | None:
    screen: str | None = frame.evaluate(
        "() => document.querySelector('[data-testid=screen]')?.dataset.screen ?? null"
    )
    return screen


def _console(person: Participant) -> list[str]:
    """The page's console so far (all its frames). Calling into the page first lets
    Playwright deliver the console events that arrived meanwhile."""
    person.page.evaluate("0")
    return person.console


def _events(person: Participant) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = person.page.evaluate("window.events || []")
    return events


def _event(person: Participant, type_: str, **detail: Any) -> dict[str, Any]:
    """Waits for an event of ``type_`` whose detail has these values; returns its detail."""

    def seen() -> list[dict[str, Any]]:
        for event in _events(person):
            got = event.get("detail", event.get("payload")) or {}
            if event["type"] == type_ and all(got.get(k) == v for k, v in detail.items()):
                return [got]  # a list: an empty detail is still a find
        return []

    found = wait_until(
        seen,
        message=f"event {type_} {detail or ''} on {person.name}'s page "
        f"(has {[e['type'] for e in _events(person)]})",
    )
    return found[0]


def _steady(read: Callable[[], float], polls: int = 10) -> Callable[[], bool]:
    """A condition that holds once ``read()`` gave the same value ``polls`` times in a row
    (at wait_until's interval: a few seconds without growth)."""
    seen: list[float] = []

    def condition() -> bool:
        seen.append(read())
        return len(seen) >= polls and len(set(seen[-polls:])) == 1

    return condition


def _one_peer(person: Participant) -> str:
    peers = wait_until(lambda: list(person.stats()), message=f"{person.name} to have a peer")
    assert len(peers) == 1, peers
    return peers[0]


def _frames_from(person: Participant, pid: str) -> float:
    return person.stats()[pid].frames_decoded


def _energy_from(person: Participant, pid: str) -> float:
    return person.stats()[pid].total_audio_energy


def _hears_others(person: Participant) -> bool:
    """Whether ``person`` plays the others' sound. A page that joined without a click may not
    (the browser's autoplay policy): it shows "Enable sound", which a person then clicks."""
    button = person.page.locator(".sound-button")
    if button.is_visible():
        button.click()
    return bool(
        person.page.evaluate(
            """() => [...document.querySelectorAll('[data-testid=video-tile] video')]
                 .some((v) => !v.classList.contains('mirror') && !v.muted && !v.paused)"""
        )
    )


def _grows(read: Callable[[], float]) -> Callable[[], bool]:
    start = read()
    return lambda: read() > start


def _tile_flag(host: Participant, pid: str, selector: str) -> bool:
    return bool(
        host.page.evaluate(
            """([id, selector]) => {
              const tile = [...document.querySelectorAll('[data-testid=video-tile]')]
                .find((t) => t.dataset.participantId === id);
              return !!tile && tile.matches(selector);
            }""",
            [pid, selector],
        )
    )


def _mic_muted_shown(host: Participant, pid: str) -> bool:
    return bool(
        host.page.evaluate(
            """(id) => {
              const tile = [...document.querySelectorAll('[data-testid=video-tile]')]
                .find((t) => t.dataset.participantId === id);
              const mark = tile && tile.querySelector('.mic-state');
              return !!mark && !mark.hidden;
            }""",
            pid,
        )
    )


def test_embedded_room_sends_events_and_obeys_commands(
    embed_salon: Salon, customer_site: CustomerSite, participants: Participants
) -> None:
    meeting = embed_salon.create_meeting()
    guest = participants(_embed_url(customer_site.allowed, embed_salon, meeting.room_url), "Guest")
    _event(guest, "ready")
    _event(guest, "join")
    _event(guest, "participantupdate", count=1)

    host = participants(meeting.host_room_url, "Host")
    host.wait_screen("in_room")
    joined = _event(guest, "participant_join")
    assert joined["participant"]["displayName"] == "Host"
    assert joined["participant"]["role"] == "host"
    _event(guest, "participantupdate", count=2)

    wait_until(lambda: receiving_from(host, 1), message="the host to receive the guest's media")
    pid = _one_peer(host)

    # The customer's page turns the guest's camera off: the host stops decoding frames.
    guest.page.evaluate("embed.toggleCamera(false)")
    _event(guest, "camera_toggle", enabled=False)
    wait_until(lambda: _tile_flag(host, pid, ".video-off"), message="the guest's tile: video off")
    wait_until(
        _steady(lambda: _frames_from(host, pid)),
        message="the host's frames from the guest to stop growing",
    )
    guest.page.evaluate("embed.toggleCamera(true)")
    _event(guest, "camera_toggle", enabled=True)
    wait_until(_grows(lambda: _frames_from(host, pid)), message="frames from the guest again")

    # Then the microphone: the host hears silence and shows the guest muted.
    wait_until(lambda: _hears_others(host), message="the host to play the guest's sound")
    wait_until(_grows(lambda: _energy_from(host, pid)), message="the guest's audio to be heard")
    guest.page.evaluate("embed.toggleMicrophone(false)")
    _event(guest, "microphone_toggle", enabled=False)
    wait_until(lambda: _mic_muted_shown(host, pid), message="the host to show the guest muted")
    wait_until(
        _steady(lambda: _energy_from(host, pid)),
        message="the audio energy from the guest to stop growing",
    )
    guest.page.evaluate("embed.toggleMicrophone()")  # no argument: flips it back on
    _event(guest, "microphone_toggle", enabled=True)
    wait_until(_grows(lambda: _energy_from(host, pid)), message="the guest's audio again")

    # A visitor's page may not end the meeting: the command is refused inside the room.
    guest.page.evaluate("embed.endMeeting()")
    wait_until(
        lambda: any("end_meeting is for hosts only" in line for line in _console(guest)),
        message="the room to refuse end_meeting from a visitor's page",
    )
    assert host.screen() == "in_room"

    guest.page.evaluate("embed.leaveRoom()")
    _event(guest, "leave", removed=False)
    wait_until(lambda: not host.stats(), message="the host to see the guest leave")


def test_disallowed_origin_cannot_embed_the_room(
    embed_salon: Salon, customer_site: CustomerSite, participants: Participants
) -> None:
    meeting = embed_salon.create_meeting()
    page = participants(_embed_url(customer_site.foreign, embed_salon, meeting.room_url), "Guest")
    wait_until(
        lambda: any("frame-ancestors" in line for line in _console(page)),
        message="the browser to refuse the frame (CSP frame-ancestors)",
    )
    frames = [f for f in page.page.frames if f != page.page.main_frame]
    assert frames, "the element made an iframe"
    for frame in frames:
        try:
            screen = _frame_screen(frame)
        except Exception:
            screen = None
        assert screen is None, f"the room loaded in {frame.url}"
    assert all(e["type"] != "ready" for e in _events(page)), _events(page)


def test_commands_from_a_foreign_frame_are_ignored(
    embed_salon: Salon, customer_site: CustomerSite, participants: Participants
) -> None:
    meeting = embed_salon.create_meeting()
    host = participants(meeting.host_room_url, "Host")
    host.wait_screen("in_room")
    query = urlencode(
        {"room": meeting.room_url, "foreign": f"{customer_site.foreign}/foreign.html"}
    )
    guest = participants(f"{customer_site.allowed}/iframe.html?{query}", "Guest")
    _event(guest, "join")
    wait_until(lambda: receiving_from(host, 1), message="the host to receive the guest's media")
    pid = _one_peer(host)
    room = _frame_at(guest, embed_salon.base_url)
    foreign = _frame_at(guest, customer_site.foreign)
    wait_until(lambda: foreign.evaluate("typeof window.attack === 'function'"), message="attack()")
    foreign.evaluate("attack('toggle_camera', [false])")
    foreign.evaluate("attack('end_meeting', [])")
    wait_until(
        lambda: sum("not the embedding page" in line for line in _console(guest)) >= 2,
        message="the room to ignore both commands from the foreign frame",
    )
    assert room.evaluate("window.salon.connection.state.localParticipant.isVideoEnabled") is True
    assert not any(
        e["type"] == "camera_toggle" and not e["payload"]["enabled"] for e in _events(guest)
    ), _events(guest)
    assert host.screen() == "in_room"
    floor = _frames_from(host, pid)
    wait_until(lambda: _frames_from(host, pid) > floor, message="the guest's video to keep coming")

    # The embedding page itself may: the same command from it is obeyed.
    guest.page.evaluate("command('toggle_camera', [false])")
    _event(guest, "camera_toggle", enabled=False)
    wait_until(lambda: _tile_flag(host, pid, ".video-off"), message="the guest's tile: video off")


def _sdk_url(origin: str, salon: Salon, room_url: str) -> str:
    query = {"sdk": f"{salon.base_url}/sdk.js", "room": room_url}
    return f"{origin}/sdk.html?{urlencode(query)}"


def _chat_texts(person: Participant) -> list[str]:
    person.open_panel("chat-toggle", "chat-input")
    texts: list[str] = person.page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=chat-message] .chat-text')]"
        ".map((e) => e.textContent)"
    )
    return texts


def test_custom_ui_on_the_sdk_joins_the_stock_room_app(
    embed_salon: Salon, customer_site: CustomerSite, participants: Participants
) -> None:
    meeting = embed_salon.create_meeting()
    host = participants(meeting.host_room_url, "Host")
    host.wait_screen("in_room")
    custom = participants(_sdk_url(customer_site.allowed, embed_salon, meeting.room_url), "Sdk")
    wait_until(
        lambda: custom.page.evaluate("window.room?.state.connectionStatus") == "connected",
        message="the SDK page to be connected",
    )
    # Media both ways, peer to peer.
    wait_until(lambda: receiving_from(host, 1), message="the host to receive the SDK page")
    wait_until(lambda: receiving_from(custom, 1), message="the SDK page to receive the host")
    wait_until(
        lambda: custom.page.evaluate(
            "() => [...document.querySelectorAll('video[data-participant-id]')]"
            ".some((v) => v.videoWidth > 0 && !v.paused)"
        ),
        message="the SDK page to show the host's video",
    )
    state = custom.page.evaluate(
        "() => { const s = room.state;"
        " return {names: s.remoteParticipants.map((p) => p.displayName),"
        " me: s.localParticipant.displayName, role: s.localParticipant.role}; }"
    )
    assert state == {"names": ["Host"], "me": "Sdk", "role": "visitor"}

    # Chat both ways.
    custom.page.evaluate("room.actions.sendChatMessage('hello from the SDK')")
    wait_until(lambda: "hello from the SDK" in _chat_texts(host), message="the host to get it")
    host.by_testid("chat-input").fill("hello from the room app")
    host.click("chat-send")
    wait_until(
        lambda: custom.page.evaluate(
            "room.state.chatMessages.some((m) => m.text === 'hello from the room app'"
            " && m.displayName === 'Host' && !m.isLocal)"
        ),
        message="the SDK page to get the host's message",
    )


def test_sdk_on_a_disallowed_origin_cannot_join(
    embed_salon: Salon, customer_site: CustomerSite, participants: Participants
) -> None:
    meeting = embed_salon.create_meeting()
    custom = participants(_sdk_url(customer_site.foreign, embed_salon, meeting.room_url), "Sdk")
    status = wait_until(
        lambda: (
            (s := custom.page.evaluate("window.room?.state.connectionStatus")) in ("error",) and s
        ),
        message="the SDK page on a disallowed origin to be refused",
    )
    assert status == "error"
    error = custom.page.evaluate("room.state.error")
    assert error["code"] == "forbidden", error

"""Real browsers against a real ``salon serve``: fixtures for the tests in tests/e2e.

They run inside a network namespace whose only interface is loopback (``scripts/e2e`` makes it),
so ICE finds nothing but 127.0.0.1 and no test packet can leave the machine. One Chromium
(Debian's ``/usr/bin/chromium``, fake camera and microphone) serves the whole session; each
participant is a fresh context, closed after its test. On a failure every open page is
screenshotted and its console log is added to the report.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.e2e.media import describe
from tests.e2e.room_page import Participant, join_url
from tests.support.process import ServeProcess, salon, serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # ICE ignores loopback unless told otherwise; loopback is all the namespace has.
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# About four audio+video participants fit on the two cores CI has.
MAX_PAGES = 4

# SALON_E2E_TRACE=1: every page logs its RTCPeerConnections' negotiation to the console, which a
# failing test's report shows (for chasing a connection that never negotiates).
TRACE_PEER_CONNECTIONS = """
(() => {
  const Real = window.RTCPeerConnection;
  const t0 = performance.now();
  let count = 0;
  const log = (...a) => console.log(`[pc ${(performance.now() - t0).toFixed(0)} ms]`, ...a);
  window.RTCPeerConnection = class extends Real {
    constructor(...args) {
      super(...args);
      const n = (this.__n = ++count);
      log(n, "created");
      this.addEventListener("negotiationneeded", () => log(n, "negotiationneeded"));
      this.addEventListener("signalingstatechange", () => log(n, "signaling", this.signalingState));
      this.addEventListener("connectionstatechange", () => log(n, "state", this.connectionState));
    }
    async setLocalDescription(d) {
      log(this.__n, "setLocalDescription", d ? d.type : "(implicit)");
      return super.setLocalDescription(d);
    }
    async setRemoteDescription(d) {
      log(this.__n, "setRemoteDescription", d && d.type);
      return super.setRemoteDescription(d);
    }
    close() {
      log(this.__n, "close");
      return super.close();
    }
  };
})();
"""


def in_own_network_namespace() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_network() -> None:
    if not in_own_network_namespace():
        pytest.skip(
            "the browser tests run in a network namespace of their own: run scripts/e2e "
            "(interfaces here: " + ", ".join(n for _, n in socket.if_nameindex()) + ")"
        )


@dataclass(frozen=True)
class Meeting:
    room_name: str
    room_url: str
    host_room_url: str
    viewer_room_url: str


@dataclass
class Salon:
    """A running ``salon serve`` with one organization and its API key."""

    process: ServeProcess
    api_key: str

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def data_dir(self) -> Path:
        return self.process.data_dir

    def create_meeting(self, **body: Any) -> Meeting:
        end = datetime.now(UTC) + timedelta(hours=2)
        request = {"endDate": end.isoformat(), "fields": ["hostRoomUrl", "viewerRoomUrl"]} | body
        with self.process.client(self.api_key) as http:
            response = http.post("/v1/meetings", json=request)
        assert response.status_code == 201, response.text
        made = response.json()
        return Meeting(
            made["roomName"], made["roomUrl"], made["hostRoomUrl"], made["viewerRoomUrl"]
        )


@contextlib.contextmanager
def run_salon(root: Path, env: dict[str, str] | None = None) -> Iterator[Salon]:
    """``salon serve`` with embedded defaults in ``root/data``; its log is beside it."""
    data_dir = root / "data"
    salon(data_dir, "org", "create", "e2e")
    api_key = salon(data_dir, "keys", "create", "--org", "e2e").stdout.strip().splitlines()[-1]
    with serve(data_dir, env=env) as process:
        yield Salon(process, api_key)


@pytest.fixture(scope="session")
def salon_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Salon]:
    """One server for the tests that need no server of their own (each makes its meetings)."""
    with run_salon(tmp_path_factory.mktemp("salon")) as running:
        yield running


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap.sh --test installs it (chromium)")
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


class Participants:
    """Opens people in the room: ``participants(url, "Ann")`` joins as Ann at once."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self.open: list[Participant] = []

    def __call__(
        self,
        url: str,
        name: str | None = None,
        *,
        init_script: str | None = None,
        before_goto: Callable[[Page], None] | None = None,
        wait_until: Literal["commit", "domcontentloaded", "load", "networkidle"] = "load",
        **params: str,
    ) -> Participant:
        """A new browser context on ``url``; with ``name``, joins as that display name with
        ``precallReview=off``. ``init_script`` runs in the page before any of its scripts;
        ``before_goto`` gets the page before it navigates (e.g. to route its requests)."""
        live = [p for p in self.open if not p.page.is_closed()]
        assert len(live) < MAX_PAGES, f"at most {MAX_PAGES} pages at once on this machine"
        context = self._browser.new_context(
            permissions=["camera", "microphone"],
            ignore_https_errors=True,
            viewport={"width": 640, "height": 480},
        )
        if os.environ.get("SALON_E2E_TRACE") == "1":
            context.add_init_script(TRACE_PEER_CONNECTIONS)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        person = Participant(name or f"page{len(self.open) + 1}", context, page)
        page.on("console", lambda msg: person.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda err: person.console.append(f"pageerror: {err}"))
        # A "really end the meeting?" confirm() is answered yes (Playwright would say no).
        page.on("dialog", lambda dialog: dialog.accept())
        self.open.append(person)
        if before_goto is not None:
            before_goto(page)
        page.goto(join_url(url, name, **params) if name else url, wait_until=wait_until)
        return person

    def close(self, person: Participant) -> None:
        if not person.page.is_closed():
            person.context.close()

    def close_all(self) -> None:
        for person in self.open:
            with contextlib.suppress(Exception):
                self.close(person)


@pytest.fixture
def participants(browser: Browser) -> Iterator[Participants]:
    opened = Participants(browser)
    yield opened
    opened.close_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    opened = getattr(item, "funcargs", {}).get("participants")
    if not isinstance(opened, Participants):
        return
    folder = Path(str(item.config._tmp_path_factory.getbasetemp())) / "failures"  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    for person in opened.open:
        if person.page.is_closed():
            continue
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{item.name}-{person.name}")
        shot = folder / f"{stem}.png"
        with contextlib.suppress(Exception):
            person.page.screenshot(path=str(shot))
        state = person.screen_safe()
        try:
            peers = describe(person) or "none"
        except Exception as exc:
            peers = f"unreadable ({exc})"
        tail = "\n".join(person.console[-60:]) or "(nothing)"
        report.sections.append(
            (
                f"{person.name}: screen {state}, screenshot {shot}",
                f"peer connections: {peers}\nconsole:\n{tail}",
            )
        )

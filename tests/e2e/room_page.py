"""One person in a browser: a Playwright page on the room app, read through its DOM contract.

The contract (what the room app promises tests): ``[data-testid=screen]`` whose ``data-screen``
names the screen; controls and lists by ``data-testid`` (``join-button``, ``video-tile`` with
``data-participant-id``, ``chat-message`` with ``data-message-id``, ``knock-item`` with
``data-knock-id``, …); ``window.salon.debug.peerConnections()`` for getStats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from playwright.sync_api import BrowserContext, Locator, Page

from tests.e2e.polling import wait_until
from tests.e2e.webrtc_stats import PeerStats, stats

SCREENS = frozenset(
    {
        "precall",
        "joining",
        "knocking",
        "knock_rejected",
        "in_room",
        "left",
        "removed",
        "meeting_ended",
        "room_full",
        "room_locked",
        "error",
    }
)


def with_params(url: str, **params: str) -> str:
    """``url`` with query parameters added (or replaced), keeping the ones it has (roomKey)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) | params
    return urlunsplit(parts._replace(query=urlencode(query)))


def join_url(url: str, name: str, **params: str) -> str:
    """A room URL that joins at once as ``name``, with no pre-call screen and no click."""
    return with_params(url, displayName=name, precallReview="off", **params)


@dataclass
class Participant:
    name: str
    context: BrowserContext = field(repr=False)
    page: Page = field(repr=False)
    console: list[str] = field(default_factory=list, repr=False)

    def by_testid(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    def screen(self) -> str | None:
        return self.page.evaluate(
            "() => document.querySelector('[data-testid=screen]')?.dataset.screen ?? null"
        )

    def wait_screen(self, *names: str, timeout: float = 60) -> str:
        unknown = set(names) - SCREENS
        assert not unknown, f"not screens of the contract: {unknown}"
        return wait_until(
            lambda: (s := self.screen()) in names and s,
            timeout,
            message=f"{self.name} to show screen {' or '.join(names)} (now {self.screen_safe()})",
        )

    def screen_safe(self) -> str | None:
        try:
            return self.screen()
        except Exception:
            return None

    def stats(self) -> dict[str, PeerStats]:
        return stats(self.page)

    def tile_ids(self) -> set[str]:
        """Participant ids of the video tiles shown (``video-tile[data-participant-id]``)."""
        ids: list[str] = self.page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=video-tile]')]"
            ".map((t) => t.dataset.participantId).filter(Boolean)"
        )
        return set(ids)

    def tile_playing(self, participant_id: str) -> bool:
        """That participant's tile has a <video> showing frames (a size, not paused)."""
        return self.tile_video(participant_id) is not None

    def tile_video(self, participant_id: str, testid: str = "video-tile") -> tuple[int, int] | None:
        """Width and height of the video that participant's tile (``video-tile``, or
        ``screenshare-tile``) is playing; None when it plays none."""
        size: list[int] | None = self.page.evaluate(
            """([id, testid]) => {
              const tile = [...document.querySelectorAll(`[data-testid=${testid}]`)]
                .find((t) => t.dataset.participantId === id);
              const v = tile && tile.querySelector('video');
              const playing = !!v && v.videoWidth > 0 && !v.paused && v.readyState >= 2;
              return playing ? [v.videoWidth, v.videoHeight] : null;
            }""",
            [participant_id, testid],
        )
        return (size[0], size[1]) if size else None

    def visible(self, testid: str) -> bool:
        """Shown and usable: present, visible and not disabled."""
        loc = self.by_testid(testid)
        return any(loc.nth(i).is_visible() and loc.nth(i).is_enabled() for i in range(loc.count()))

    def click(self, testid: str) -> None:
        self.by_testid(testid).first.click()

    def join_from_precall(self, name: str) -> None:
        """Waits on the pre-call screen until the page has made its spare peer connection
        (salon-client.js, preconnect), then joins as ``name`` with a click; the page keeps
        that connection as ``window.__spare`` so ``offered_on_spare`` can tell it was used."""
        self.wait_screen("precall")
        wait_until(
            lambda: self.page.evaluate(
                "() => (window.__spare = window.salon.client.spare?.pc ?? null) !== null"
            ),
            message=f"{self.name}'s page to make its connection for the first offer",
        )
        self.by_testid("display-name").fill(name)
        self.click("join-button")
        self.wait_screen("in_room")

    def offered_on_spare(self) -> bool:
        """Whether this page's only link runs on the connection made before its join."""
        return bool(
            self.page.evaluate(
                """() => {
                  const links = [...window.salon.client.links.values()];
                  return links.length === 1 && links[0].pc === window.__spare
                    && window.salon.client.spare === null;
                }"""
            )
        )

    def open_panel(self, toggle: str, item: str) -> None:
        """Opens a side panel (chat, people) unless an item of it is already visible."""
        if not self.by_testid(item).first.is_visible():
            self.click(toggle)

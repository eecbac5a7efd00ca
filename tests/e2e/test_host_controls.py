"""Host controls in a real browser: lock, knock (hold / admit / reject with a message), remove,
end the meeting for all, ask to mute / turn the camera off; leaving; and a normal room refuses a
fifth person (issue 3, "Proof")."""

from __future__ import annotations

from playwright.sync_api import Locator

from tests.e2e.conftest import Participants, Salon
from tests.e2e.media import assert_full_mesh
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant
from tests.e2e.signaling_client import SignalingClient


def _within(person: Participant, scope: Locator, testid: str) -> Locator:
    """``testid`` inside ``scope`` when it is there, else the page's (one shared input)."""
    inner = scope.get_by_test_id(testid)
    return inner.first if inner.count() else person.by_testid(testid).first


def _knock(visitor: Participant) -> None:
    screen = visitor.wait_screen("room_locked", "knocking")
    if screen == "room_locked":
        visitor.click("knock-button")
    visitor.wait_screen("knocking")


def _knock_item(host: Participant) -> Locator:
    items = host.by_testid("knock-item")
    wait_until(lambda: items.count() == 1, message=f"{host.name} to see one knock-item")
    return items.first


def _lock(host: Participant) -> None:
    toggle = host.by_testid("lock-toggle")
    assert toggle.get_attribute("aria-pressed") != "true"
    toggle.click()
    wait_until(
        lambda: toggle.get_attribute("aria-pressed") == "true",
        message="lock-toggle to be pressed",
    )


def _participant_id(host: Participant, name: str) -> str:
    """The id of ``name``, read from the host's people panel."""
    host.open_panel("people-toggle", "people-item")
    item = host.by_testid("people-item").filter(has_text=name)
    wait_until(lambda: item.count() == 1, message=f"{name} in {host.name}'s people panel")
    pid = item.first.get_attribute("data-participant-id")
    assert pid
    return pid


def test_lock_then_knock_hold_admit_and_reject(salon_server: Salon, participants: Participants):
    meeting = salon_server.create_meeting()
    host = participants(meeting.host_room_url, "Host")
    host.wait_screen("in_room")
    _lock(host)

    ann = participants(meeting.room_url, "Ann")
    _knock(ann)
    item = _knock_item(host)
    assert "Ann" in item.inner_text()

    _within(host, item, "knock-message-input").fill("Please wait a moment")
    _within(host, item, "hold-button").click()
    wait_until(
        lambda: "Please wait a moment" in ann.by_testid("knock-message").first.inner_text(),
        message="Ann to see the host's hold message",
    )
    assert ann.screen() == "knocking"

    _within(host, _knock_item(host), "admit-button").click()
    ann.wait_screen("in_room")
    wait_until(lambda: host.by_testid("knock-item").count() == 0, message="knock-item to go")
    assert_full_mesh([host, ann])

    bob = participants(meeting.room_url, "Bob")
    _knock(bob)
    item = _knock_item(host)
    assert "Bob" in item.inner_text()
    _within(host, item, "knock-message-input").fill("Sorry, not today")
    _within(host, item, "reject-button").click()
    bob.wait_screen("knock_rejected")
    wait_until(
        lambda: "Sorry, not today" in bob.by_testid("knock-message").first.inner_text(),
        message="Bob to see the host's rejection message",
    )
    assert ann.screen() == "in_room"


def test_remove_one_then_end_the_meeting_for_all(salon_server: Salon, participants: Participants):
    meeting = salon_server.create_meeting()
    host = participants(meeting.host_room_url, "Host")
    ann = participants(meeting.room_url, "Ann")
    bob = participants(meeting.room_url, "Bob")
    for person in (host, ann, bob):
        person.wait_screen("in_room")

    # A visitor has none of the host's controls.
    for control in ("lock-toggle", "end-meeting-button"):
        assert not ann.visible(control), f"a visitor is offered {control}"
    ann.open_panel("people-toggle", "people-item")
    assert not ann.visible("remove-button"), "a visitor is offered remove-button"

    ann_id = _participant_id(host, "Ann")
    item = host.by_testid("people-item").filter(has_text="Ann").first
    item.get_by_test_id("remove-button").click()
    ann.wait_screen("removed")
    for person in (host, bob):
        wait_until(
            lambda p=person: ann_id not in p.tile_ids() and ann_id not in p.stats(),
            message=f"Ann's tile and connection to go from {person.name}",
        )

    host.click("end-meeting-button")
    for person in (bob, host):
        person.wait_screen("meeting_ended")


def test_a_fifth_person_is_refused_room_full(salon_server: Salon, participants: Participants):
    meeting = salon_server.create_meeting(roomMode="normal")
    people = [participants(meeting.room_url, name) for name in ("Ann", "Bob", "Cleo")]
    for person in people:
        person.wait_screen("in_room")
    # The fourth seat goes to a plain signaling client, so no more than four pages run at once.
    with SignalingClient(salon_server.base_url, salon_server.process.cert) as seat:
        ack = seat.call(
            "join",
            {
                "roomName": "/" + meeting.room_name.lstrip("/"),
                "displayName": "Dana",
                "audio": False,
                "video": False,
            },
        )
        assert ack.get("ok") is True, ack
        fifth = participants(meeting.room_url, "Eve")
        fifth.wait_screen("room_full")
        assert fifth.stats() == {}
        for person in people:
            assert person.screen() == "in_room"


def test_host_asks_to_mute_and_turn_off_camera_then_one_leaves(
    salon_server: Salon, participants: Participants
):
    meeting = salon_server.create_meeting()
    host = participants(meeting.host_room_url, "Host")
    ann = participants(meeting.room_url, "Ann")
    for person in (host, ann):
        person.wait_screen("in_room")
    for toggle in ("mic-toggle", "camera-toggle"):
        assert ann.by_testid(toggle).get_attribute("aria-pressed") == "true", toggle

    host.open_panel("people-toggle", "people-item")
    item = host.by_testid("people-item").filter(has_text="Ann").first
    wait_until(item.is_visible, message="Ann in the host's people panel")
    for button, toggle in (("mute-button", "mic-toggle"), ("camera-off-button", "camera-toggle")):
        item.get_by_test_id(button).click()
        wait_until(
            lambda t=toggle: ann.by_testid(t).get_attribute("aria-pressed") == "false",
            message=f"Ann's {toggle} to turn off at the host's request",
        )
    # Only Ann can turn them back on.
    ann.click("mic-toggle")
    wait_until(
        lambda: ann.by_testid("mic-toggle").get_attribute("aria-pressed") == "true",
        message="Ann to unmute herself",
    )

    ann.click("leave-button")
    ann.wait_screen("left")
    wait_until(lambda: host.stats() == {}, message="the host to drop the connection to Ann")

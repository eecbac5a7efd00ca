"""Chat reaches the others, and neither a chat text nor a display name is ever written down.

A server of its own (debug logging on, so any log line that carried them would show) runs one
chat between a host and a visitor whose display name is a canary; a second canary is the chat
text. After the server has stopped, every file it left (database, WAL, keys, certificate, log)
is searched for both.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Locator

from tests.e2e.conftest import Participants, run_salon
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant


def _send(person: Participant, text: str) -> None:
    person.open_panel("chat-toggle", "chat-input")
    person.by_testid("chat-input").first.fill(text)
    person.click("chat-send")


def _message(person: Participant, text: str) -> Locator:
    person.open_panel("chat-toggle", "chat-input")
    return person.by_testid("chat-message").filter(has_text=text)


def _shows(person: Participant, text: str) -> bool:
    return _message(person, text).count() == 1


def test_chat_both_ways_and_no_canary_on_disk_or_in_log(tmp_path: Path, participants: Participants):
    canary_name = f"Canary{uuid.uuid4().hex[:16]}"
    canary_text = f"canary-chat-{uuid.uuid4().hex}"
    reply = f"reply-{uuid.uuid4().hex[:8]}"
    with run_salon(tmp_path, env={"SALON_LOG_LEVEL": "debug"}) as server:
        meeting = server.create_meeting()
        host = participants(meeting.host_room_url, "Host")
        guest = participants(meeting.room_url, canary_name)
        for person in (host, guest):
            person.wait_screen("in_room")
        wait_until(
            lambda: host.page.get_by_text(canary_name).count() > 0,
            message="the host to show the guest's display name",
        )

        _send(guest, canary_text)
        wait_until(lambda: _shows(host, canary_text), message="the host to get the chat")
        _send(host, reply)
        wait_until(lambda: _shows(guest, reply), message="the guest to get the reply")
        assert _shows(guest, canary_text), "the sender sees their own message"

        # A host deletes a message for everyone.
        _message(host, canary_text).first.get_by_test_id("chat-delete").click()
        for person in (host, guest):
            wait_until(
                lambda p=person: _message(p, canary_text).count() == 0,
                message=f"the deleted message to go from {person.name}",
            )
        participants.close_all()
        log = server.process.log()

    assert log.strip(), "the server logged nothing at debug level"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files)
    assert any("salon.db" in p.name for p in files), [p.name for p in files]
    for path in files:
        content = path.read_bytes()
        for canary in (canary_name, canary_text):
            assert canary.encode() not in content, f"{canary!r} found in {path}"

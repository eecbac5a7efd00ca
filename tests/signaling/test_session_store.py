"""Session records and the insights computed from them, on SQLite and on a real PostgreSQL:
sorting by every aggregate, keyset pages, purge, and org scoping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from salon.auth.room_keys import RoomRole
from salon.clock import FakeClock
from salon.services.container import Services, build_services
from salon.services.insights import Page
from salon.services.meetings import NewMeeting, RoomNameFilter
from salon.services.pagination import SortSpec
from salon.services.sessions import connection_minutes
from salon.storage.models import RoomSession, SessionParticipant
from tests.conftest import make_settings


@pytest.fixture
def store(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Services]:
    services = build_services(make_settings(tmp_path, database_url), clock)
    yield services
    services.close()


def _session(
    store: Services,
    org_id: str,
    meeting_id: str,
    room_name: str,
    start: datetime,
    people: list[tuple[int, str | None]],
) -> str:
    """A finished session; ``people`` are (seconds present, external id or None)."""
    session_id = str(uuid.uuid4())
    store.sessions.start(session_id, org_id, meeting_id, room_name, start)
    for n, (seconds, external) in enumerate(people):
        pid = f"p{n}-{session_id[:8]}"
        store.sessions.participant_joined(
            session_id, org_id, pid, RoomRole.VISITOR, f"Person {n}", external, start
        )
        store.sessions.participant_left(session_id, pid, start + timedelta(seconds=seconds))
    store.sessions.end(session_id, start + timedelta(seconds=max(s for s, _ in people)))
    return session_id


def _all_pages(fetch, limit: int = 1) -> list:  # type: ignore[no-untyped-def]
    seen, cursor = [], None
    while True:
        page: Page = fetch(cursor=cursor, limit=limit)  # type: ignore[type-arg]
        seen += list(page.results)
        if page.cursor is None:
            return seen
        cursor = page.cursor


def test_connection_minutes_round_up():
    t = datetime(2030, 1, 1)
    assert connection_minutes(t, t) == 1
    assert connection_minutes(t, t + timedelta(seconds=60)) == 1
    assert connection_minutes(t, t + timedelta(seconds=61)) == 2


def test_room_insights_sort_and_page_by_real_aggregates(store: Services, clock: FakeClock):
    org = store.orgs.create("acme")
    end = clock.now() + timedelta(hours=5)
    rooms = [store.meetings.create(org.org_id, NewMeeting(end_date=end)) for _ in range(3)]
    busy, quiet, empty = rooms
    t = clock.now()
    _session(store, org.org_id, busy.meeting_id, busy.room_name, t, [(30, "x"), (150, None)])
    _session(
        store,
        org.org_id,
        busy.meeting_id,
        busy.room_name,
        t + timedelta(hours=1),
        [(60, "x"), (61, None)],
    )
    _session(
        store, org.org_id, quiet.meeting_id, quiet.room_name, t + timedelta(minutes=5), [(10, None)]
    )

    def rooms_by(field: str, descending: bool) -> list[str]:
        def fetch(cursor: str | None, limit: int) -> Page:  # type: ignore[type-arg]
            return store.insights.rooms(
                org.org_id,
                name_filter=RoomNameFilter(),
                created_from=None,
                created_to=None,
                sort=SortSpec(field, descending),
                cursor=cursor,
                limit=limit,
            )

        return [r.room_name for r in _all_pages(fetch)]

    names = {busy.room_name: "busy", quiet.room_name: "quiet", empty.room_name: "empty"}
    assert [names[n] for n in rooms_by("totalSessions", True)] == ["busy", "quiet", "empty"]
    assert [names[n] for n in rooms_by("totalParticipantMinutes", False)] == [
        "empty",
        "quiet",
        "busy",
    ]
    assert [names[n] for n in rooms_by("firstSessionStartedAt", True)] == [
        "quiet",
        "busy",
        "empty",
    ]
    assert [names[n] for n in rooms_by("lastSessionStartedAt", True)] == ["busy", "quiet", "empty"]
    assert len(rooms_by("totalRecorderMinutes", False)) == 3

    page = store.insights.rooms(
        org.org_id,
        name_filter=RoomNameFilter(exact=busy.room_name),
        created_from=None,
        created_to=None,
    )
    (insight,) = page.results
    assert insight.total_sessions == 2
    # 30 s -> 1, 150 s -> 3, 60 s -> 1, 61 s -> 2
    assert insight.total_participant_minutes == 7
    # "x" twice is one person; each participant without an external id is one more.
    assert insight.total_unique_participants == 3
    assert insight.first_session_started_at == t
    assert insight.last_session_started_at == t + timedelta(hours=1)


def test_room_sessions_and_participants(store: Services, clock: FakeClock):
    org = store.orgs.create("acme")
    other = store.orgs.create("other")
    meeting = store.meetings.create(org.org_id, NewMeeting(end_date=clock.now()))
    t = clock.now()
    first = _session(store, org.org_id, meeting.meeting_id, meeting.room_name, t, [(30, "Ext-1")])
    second = _session(
        store,
        org.org_id,
        meeting.meeting_id,
        meeting.room_name,
        t + timedelta(minutes=10),
        [(30, None), (200, "ext-1"), (90, None)],
    )

    def sessions_by(field: str, descending: bool) -> list[str]:
        def fetch(cursor: str | None, limit: int) -> Page:  # type: ignore[type-arg]
            return store.insights.room_sessions(
                org.org_id,
                meeting.room_name,
                sort=SortSpec(field, descending),
                cursor=cursor,
                limit=limit,
            )

        return [s.room_session_id for s in _all_pages(fetch)]

    assert sessions_by("startedAt", True) == [second, first]
    assert sessions_by("totalUniqueParticipants", False) == [first, second]
    assert sessions_by("totalParticipantMinutes", True) == [second, first]
    assert sessions_by("endedAt", False) == [first, second]
    only = store.insights.room_sessions(org.org_id, meeting.room_name, room_session_id=first)
    assert [s.room_session_id for s in only.results] == [first]
    assert store.insights.room_sessions(other.org_id, meeting.room_name).results == []

    def people(**query: object) -> list[tuple[str, str | None]]:
        def fetch(cursor: str | None, limit: int) -> Page:  # type: ignore[type-arg]
            return store.insights.participants(
                org.org_id,
                cursor=cursor,
                limit=limit,
                **query,  # type: ignore[arg-type]
            )

        return [(p.display_name, p.external_id) for p in _all_pages(fetch)]

    by_left = people(room_session_id=second, sort=SortSpec("leftAt", True))
    assert by_left == [("Person 1", "ext-1"), ("Person 2", None), ("Person 0", None)]
    # The blind index finds an external id whatever its case, across sessions.
    assert people(external_id="EXT-1") == [("Person 0", "Ext-1"), ("Person 1", "ext-1")]
    assert store.insights.participants(other.org_id, external_id="ext-1").results == []


def test_sessions_outlive_a_purged_room(store: Services, clock: FakeClock):
    org = store.orgs.create("acme")
    meeting = store.meetings.create(org.org_id, NewMeeting(end_date=clock.now()))
    session = _session(
        store, org.org_id, meeting.meeting_id, meeting.room_name, clock.now(), [(5, None)]
    )
    clock.advance(timedelta(days=1))
    assert store.meetings.purge_expired() == 1
    page = store.insights.room_sessions(org.org_id, meeting.room_name)
    assert [s.room_session_id for s in page.results] == [session]
    assert (
        store.insights.rooms(
            org.org_id, name_filter=RoomNameFilter(), created_from=None, created_to=None
        ).results
        == []
    )


def test_ending_a_session_closes_open_attendance(store: Services, clock: FakeClock):
    org = store.orgs.create("acme")
    meeting = store.meetings.create(org.org_id, NewMeeting(end_date=clock.now()))
    t = clock.now()
    store.sessions.start("s-1", org.org_id, meeting.meeting_id, meeting.room_name, t)
    store.sessions.participant_joined("s-1", org.org_id, "p", RoomRole.HOST, "Hana", None, t)
    store.sessions.end("s-1", t + timedelta(minutes=3, seconds=1))
    (session,) = store.insights.room_sessions(org.org_id, meeting.room_name).results
    assert session.total_participant_minutes == 4
    (person,) = store.insights.participants(org.org_id, room_session_id="s-1").results
    assert person.left_at == t + timedelta(minutes=3, seconds=1)


def test_deleting_an_org_deletes_its_sessions(store: Services, clock: FakeClock):
    org = store.orgs.create("acme")
    meeting = store.meetings.create(org.org_id, NewMeeting(end_date=clock.now()))
    _session(store, org.org_id, meeting.meeting_id, meeting.room_name, clock.now(), [(5, "e")])
    store.orgs.delete("acme")
    with store.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(RoomSession)) == 0
        assert session.scalar(select(func.count()).select_from(SessionParticipant)) == 0

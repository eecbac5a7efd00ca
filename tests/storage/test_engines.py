"""Storage on both engines (SQLite file and a real PostgreSQL): schema, keys, shredding."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from salon.clock import FakeClock
from salon.errors import Conflict, DecryptionError
from salon.services.container import Services, build_services
from salon.services.meetings import NewMeeting
from salon.storage.models import ApiKey, Base, Meeting, Organization
from tests.conftest import make_settings


@pytest.fixture
def store(tmp_path: Path, database_url: str, clock: FakeClock):
    services = build_services(make_settings(tmp_path, database_url), clock)
    yield services
    services.close()


def test_migrations_match_the_models(store: Services):
    with store.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migrating_twice_is_a_no_op(store: Services):
    store.db.migrate()
    store.db.migrate()


def test_org_names_are_unique(store: Services):
    store.orgs.create("acme")
    with pytest.raises(Conflict):
        store.orgs.create("acme")


def test_contact_email_is_sealed_and_found_by_blind_index(store: Services):
    org = store.orgs.create("acme", "Privacy@Acme.example")
    store.orgs.create("other", "someone@other.example")
    with store.db.transaction() as session:
        row = session.get(Organization, org.org_id)
        assert row is not None and row.contact_email_enc is not None
        assert b"Acme" not in row.contact_email_enc
    assert store.orgs.settings(org.org_id).contact_email == "Privacy@Acme.example"
    assert store.orgs.find_by_contact_email("privacy@acme.example") == [org]
    assert store.orgs.find_by_contact_email("nobody@acme.example") == []


def test_deleting_an_org_shreds_its_key_and_rows(store: Services, clock: FakeClock):
    org = store.orgs.create("acme")
    store.orgs.create_api_key("acme")
    store.meetings.create(org.org_id, NewMeeting(end_date=clock.now() + timedelta(hours=1)))
    with store.db.transaction() as session:
        wrapped = session.get(Organization, org.org_id).wrapped_data_key  # type: ignore[union-attr]
    store.orgs.delete("acme")
    with store.db.transaction() as session:
        assert session.get(Organization, org.org_id) is None
        assert session.scalar(select(func.count()).select_from(Meeting)) == 0
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
    # The wrapped key is gone from the live database file too (secure_delete on SQLite).
    if store.settings.uses_sqlite:
        store.db.dispose()
        raw = b"".join(p.read_bytes() for p in store.settings.data_dir.glob("salon.db*"))
        assert wrapped not in raw


def test_rotate_master_rewraps_every_org(store: Services, tmp_path: Path, clock: FakeClock):
    org = store.orgs.create("acme", "privacy@acme.example")
    store.orgs.create("beta")
    old_id = store.keyring.master_key_id
    old_file = store.settings.master_key_file.read_text()
    assert store.keyring.rotate_master() == 2
    assert store.keyring.master_key_id != old_id
    assert store.settings.master_key_file.read_text() != old_file
    # A fresh process (new keyring, no cache) reads the data with the new master key.
    fresh = build_services(store.settings, clock)
    try:
        assert fresh.orgs.settings(org.org_id).contact_email == "privacy@acme.example"
    finally:
        fresh.close()


def test_old_master_key_cannot_open_after_rotation(store: Services, clock: FakeClock):
    org = store.orgs.create("acme", "privacy@acme.example")
    old_file = store.settings.master_key_file.read_text()
    store.keyring.rotate_master()
    store.settings.master_key_file.write_text(old_file)
    stale = build_services(store.settings, clock)
    try:
        with pytest.raises(DecryptionError):
            stale.orgs.settings(org.org_id)
    finally:
        stale.close()


def test_interrupted_rotation_is_finished_on_start(store: Services, clock: FakeClock):
    org = store.orgs.create("acme", "privacy@acme.example")
    path = store.settings.master_key_file
    store.keyring.rotate_master()
    # Simulate a crash after the database commit but before the new key file moved in:
    # the new key sits in .next, the old one in place.
    new_text = path.read_text()
    path.with_name(path.name + ".next").write_text(new_text)
    path.write_text("salon-master-key-v1:" + "A" * 43 + "=\n")
    resumed = build_services(store.settings, clock)
    try:
        assert path.read_text() == new_text
        assert resumed.orgs.settings(org.org_id).contact_email == "privacy@acme.example"
    finally:
        resumed.close()


def test_purge_removes_only_rooms_past_their_purge_time(store: Services, clock: FakeClock):
    org = store.orgs.create("acme")
    early = store.meetings.create(org.org_id, NewMeeting(end_date=clock.now()))
    late = store.meetings.create(org.org_id, NewMeeting(end_date=clock.now() + timedelta(days=1)))
    clock.advance(timedelta(hours=22, minutes=59))
    assert store.meetings.purge_expired() == 0
    clock.advance(timedelta(minutes=1))
    assert store.meetings.purge_expired() == 1
    page = store.meetings.list_page(org.org_id)
    assert [m.meeting_id for m in page.results] == [late.meeting_id]
    assert early.meeting_id not in {m.meeting_id for m in page.results}


def test_pagination_is_stable_across_equal_sort_values(store: Services, clock: FakeClock):
    org = store.orgs.create("acme")
    ids = {
        store.meetings.create(org.org_id, NewMeeting(end_date=clock.now())).meeting_id
        for _ in range(7)
    }
    seen: list[str] = []
    cursor = None
    while True:
        page = store.meetings.list_page(org.org_id, cursor=cursor, limit=3)
        seen += [m.meeting_id for m in page.results]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids)


def test_running_server_follows_a_rotation_done_by_another_process(
    store: Services, clock: FakeClock
):
    before = store.orgs.create("before", "a@before.example")
    other_process = build_services(store.settings, clock)
    try:
        other_process.keyring.rotate_master()
    finally:
        other_process.close()
    # The long-running process wraps new keys with the new master key and reads old ones.
    after = store.orgs.create("after", "b@after.example")
    fresh = build_services(store.settings, clock)
    try:
        assert fresh.orgs.settings(before.org_id).contact_email == "a@before.example"
        assert fresh.orgs.settings(after.org_id).contact_email == "b@after.example"
    finally:
        fresh.close()

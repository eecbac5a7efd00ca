"""The room lifecycle, as a table.

A room is OPEN from creation; at end date + 1 hour it is DEACTIVATED (keys stop working, joins
are refused, no host privileges, no webhooks, no new recordings); the sweeper PURGES it before
end date + 24 hours. The phase is a pure function of the room's end date and the time, so it
needs no timer and tests move a fake clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "DEACTIVATE_AFTER_END",
    "PURGE_AFTER_END",
    "RoomAction",
    "RoomPhase",
    "allows",
    "deactivates_at",
    "phase_at",
    "purge_due_at",
]

DEACTIVATE_AFTER_END = timedelta(hours=1)
# Purged by the sweeper once this has passed; with the sweep interval well under an hour the
# room is gone within 24 h after its end date, as promised.
PURGE_AFTER_END = timedelta(hours=23)


class RoomPhase(StrEnum):
    OPEN = "open"
    DEACTIVATED = "deactivated"
    PURGED = "purged"


class RoomAction(StrEnum):
    JOIN = "join"
    HOST_PRIVILEGES = "host_privileges"
    WEBHOOKS = "webhooks"
    START_RECORDING = "start_recording"
    SHOW_IN_API = "show_in_api"


ALLOWED: dict[RoomPhase, frozenset[RoomAction]] = {
    RoomPhase.OPEN: frozenset(RoomAction),
    RoomPhase.DEACTIVATED: frozenset({RoomAction.SHOW_IN_API}),
    RoomPhase.PURGED: frozenset(),
}


def deactivates_at(end_date: datetime) -> datetime:
    return end_date + DEACTIVATE_AFTER_END


def purge_due_at(end_date: datetime) -> datetime:
    return end_date + PURGE_AFTER_END


def phase_at(end_date: datetime, now: datetime) -> RoomPhase:
    if now >= purge_due_at(end_date):
        return RoomPhase.PURGED
    if now >= deactivates_at(end_date):
        return RoomPhase.DEACTIVATED
    return RoomPhase.OPEN


def allows(phase: RoomPhase, action: RoomAction) -> bool:
    return action in ALLOWED[phase]

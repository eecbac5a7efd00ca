"""Keyset pagination with opaque cursors and ``field:direction`` sorting."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_

from salon.errors import InvalidInput
from salon.storage.models import UTCDateTime

__all__ = ["Cursor", "SortSpec", "decode_cursor", "encode_cursor", "keyset", "parse_sort"]

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class SortSpec:
    field: str
    descending: bool


@dataclass(frozen=True, slots=True)
class Cursor:
    sort: SortSpec
    value: str
    last_id: str


def parse_sort(raw: str | None, allowed: Mapping[str, Any], default: SortSpec) -> SortSpec:
    if raw is None:
        return default
    field, _, direction = raw.partition(":")
    direction = direction or "asc"
    if field not in allowed or direction not in ("asc", "desc"):
        options = ", ".join(f"{name}:asc|desc" for name in allowed)
        raise InvalidInput.one("sortBy", f"must be one of {options}")
    return SortSpec(field, direction == "desc")


def _as_text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def encode_cursor(sort: SortSpec, value: object, last_id: str) -> str:
    payload = json.dumps(
        [sort.field, "desc" if sort.descending else "asc", _as_text(value), last_id],
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(raw: str, sort: SortSpec) -> Cursor:
    problem = InvalidInput.one(
        "cursor", "is not a cursor returned by this endpoint; drop it to start from the beginning"
    )
    if len(raw) > 512:
        raise problem
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise problem from None
    if not (
        isinstance(payload, list) and len(payload) == 4 and all(isinstance(p, str) for p in payload)
    ):
        raise problem
    field, direction, value, last_id = payload
    if field != sort.field or (direction == "desc") != sort.descending:
        raise InvalidInput.one(
            "cursor", "was returned for another sortBy; use the same sortBy as the first page"
        )
    return Cursor(sort, value, last_id)


def keyset(
    query: Select[Any],
    column: Any,
    id_column: Any,
    sort: SortSpec,
    cursor: Cursor | None,
    limit: int,
) -> Select[Any]:
    """``query`` in ``column`` then id order, after ``cursor``, one row past ``limit``."""
    if cursor is not None:
        value: object = cursor.value
        if isinstance(column.type, UTCDateTime):
            try:
                value = datetime.fromisoformat(cursor.value)
            except ValueError:
                raise InvalidInput.one(
                    "cursor", "is not a cursor returned by this endpoint"
                ) from None
        after: ColumnElement[bool]
        if sort.descending:
            after = or_(column < value, and_(column == value, id_column < cursor.last_id))
        else:
            after = or_(column > value, and_(column == value, id_column > cursor.last_id))
        query = query.where(after)
    order = (
        (column.desc(), id_column.desc()) if sort.descending else (column.asc(), id_column.asc())
    )
    return query.order_by(*order).limit(limit + 1)

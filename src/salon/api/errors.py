"""How an error looks on the wire: ``{"error", "code", "data"}`` for every failure.

``error`` is a sentence for the caller (what was wrong and how to fix it), ``code`` a stable
machine code, ``data`` the details: ``fields`` for invalid input, ``msLeft`` for rate limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from salon.errors import FieldProblem, InvalidInput, RateLimited, SalonError

__all__ = ["MissingFields", "error_bytes", "error_payload", "problems_from_pydantic"]

_PYDANTIC_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field; remove it",
    "json_invalid": "is not valid JSON",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "model_attributes_type": "must be an object",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
}


class MissingFields(ValueError):
    """Raised by a model validator when fields that depend on another field are missing."""

    def __init__(self, fields: Sequence[str], reason: str) -> None:
        super().__init__(reason)
        self.fields = tuple(fields)
        self.reason = reason


def error_payload(exc: SalonError) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if isinstance(exc, InvalidInput):
        data["fields"] = [{"field": p.field, "message": p.message} for p in exc.problems]
    if isinstance(exc, RateLimited):
        data["msLeft"] = exc.ms_left
    return {"error": exc.message, "code": exc.code, "data": data}


def error_bytes(exc: SalonError) -> bytes:
    return json.dumps(error_payload(exc)).encode()


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path") else []
    if not parts:
        return "body" if loc and loc[0] == "body" else ".".join(str(p) for p in loc) or "request"
    # pydantic names union branches after types ("function-after[...]", "StorageDestination");
    # callers only know field names.
    return ".".join(p for p in parts if not p[:1].isupper() and "[" not in p)


def problems_from_pydantic(errors: Sequence[Mapping[str, Any]]) -> list[FieldProblem]:
    """Pydantic's errors as Salon's field problems, one per field, in the caller's words."""
    problems: list[FieldProblem] = []
    for error in errors:
        field = "body" if error["type"] == "json_invalid" else _field_name(error["loc"])
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, MissingFields):
            prefix = f"{field}." if field not in ("", "body") else ""
            problems += [
                FieldProblem(f"{prefix}{name}", f"is required: {cause.reason}")
                for name in cause.fields
            ]
            continue
        message = _PYDANTIC_MESSAGES.get(error["type"]) or str(error["msg"])
        problems.append(FieldProblem(field, message.removeprefix("Value error, ")))
    return problems

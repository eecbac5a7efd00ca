"""Bad input to /v1, field by field: every refusal names the field, says what is allowed, and
leaves nothing behind.

Every error body is ``{"error": ..., "code": ..., "data": {...}}``; a 400 (and a 413/415, which
refuse the body as a whole) lists ``data.fields`` as ``{"field", "message"}`` pairs, where
``field`` is the dotted path of the offending value (``recording.destination.bucket``).

The tables share one server per module (a fresh server per case would only add start-up time);
each case counts the stored meetings before and after itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from salon.clock import FakeClock
from salon.services.container import build_services
from salon.storage.models import Meeting
from tests.conftest import make_settings
from tests.support.server import RunningServer, https_server

END = "2030-01-01T14:00:00Z"  # two hours after FakeClock's start
MAX_BODY = 65536  # the default body limit (64 KiB)

S3_ACCESS_KEY = {
    "provider": "s3",
    "authenticationType": "accessKey",
    "bucket": "acme-recordings/meetings",
    "region": "eu-west-1",
    "accessKeyId": "AKIAEXAMPLE",
    "accessKeySecret": "example-secret",
}
S3_ROLE = {
    "provider": "s3",
    "authenticationType": "roleBased",
    "bucket": "acme-recordings",
    "oidcRoleArn": "arn:aws:iam::123456789012:role/salon-recordings",
}


def body(**fields: Any) -> dict[str, Any]:
    """A valid create body with ``fields`` replaced (``...`` removes one)."""
    return _drop({"endDate": END}, fields)


def _drop(options: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (options | changes).items() if v is not ...}


def _with_destination(dest: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any]:
    return changes | ({"destination": dest} if dest is not None else {})


def s3(base: dict[str, Any] = S3_ACCESS_KEY, **changes: Any) -> dict[str, Any]:
    """An S3 destination (access key unless ``base`` says otherwise) with ``changes``."""
    return _drop(base, changes)


def rec(dest: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A valid body recording to S3, with ``dest`` and ``changes`` in ``recording``."""
    base = {"type": "cloud", "destination": S3_ACCESS_KEY, "startTrigger": "prompt"}
    return body(recording=_drop(base, _with_destination(dest, changes)))


def lt(dest: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A valid body with live transcription, with ``dest`` and ``changes`` in it."""
    base = {"destination": {"provider": "whereby"}, "startTrigger": "manual", "language": "en"}
    return body(liveTranscription=_drop(base, _with_destination(dest, changes)))


def stream(url: str = "rtmp://live.example.com/app/key", **changes: Any) -> dict[str, Any]:
    """A valid body streaming to ``url``, with ``changes`` in ``streaming``."""
    return body(streaming=_drop({"destination": {"url": url}, "startTrigger": "none"}, changes))


def bad(case_id: str, *values: Any) -> Any:
    """One table row: ``pytest.param`` whose last values are the "what is allowed" fragments."""
    *head, allowed = values
    return pytest.param(*head, allowed if isinstance(allowed, tuple) else (allowed,), id=case_id)


@dataclass
class Shared:
    server: RunningServer
    key: str
    meeting_ids: list[str]

    def client(self, key: str | None = None) -> httpx.Client:
        return self.server.client(self.key if key is None else key)

    def meeting_count(self) -> int:
        with self.server.services.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(Meeting)) or 0)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One server for the tables, with a rate limit no table can reach, and two meetings."""
    settings = make_settings(tmp_path_factory.mktemp("bad-input"), rate_limit_points="10000000")
    services = build_services(settings, FakeClock())
    try:
        services.orgs.create("acme")
        key = services.orgs.create_api_key("acme").plaintext
        with https_server(services) as running:
            state = Shared(running, key, [])
            with state.client() as http:
                for prefix in ("zeta", "alpha"):
                    response = http.post("/v1/meetings", json=body(roomNamePrefix=prefix))
                    assert response.status_code == 201, response.text
                    state.meeting_ids.append(response.json()["meetingId"])
            yield state
    finally:
        services.close()


def assert_refused(
    response: httpx.Response, status: int, code: str, field: str, allowed: tuple[str, ...]
) -> None:
    """``status`` with the error shape, ``field`` named in data.fields and in the message, and
    every ``allowed`` fragment in that field's message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    payload = response.json()
    assert set(payload) == {"error", "code", "data"}, payload
    assert payload["code"] == code, payload
    assert isinstance(payload["error"], str)
    assert isinstance(payload["data"], dict), payload
    problems = payload["data"].get("fields")
    assert isinstance(problems, list), f"no data.fields in {payload}"
    assert problems
    assert all(set(p) == {"field", "message"} for p in problems), problems
    named = [p for p in problems if p["field"] == field or p["field"].startswith(field + ".")]
    assert named, f"{field!r} is not among {[p['field'] for p in problems]}"
    assert field in payload["error"], payload["error"]
    messages = " ".join(p["message"] for p in named)
    missing = [fragment for fragment in allowed if fragment not in messages]
    assert not missing, f"{field}: {messages!r} does not say {missing}"


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    payload = response.json()
    assert set(payload) == {"error", "code", "data"}, payload
    assert payload["code"] == "unauthenticated"
    assert "API key" in payload["error"]
    assert isinstance(payload["data"], dict), payload


# --- the POST /v1/meetings body, field by field --------------------------------------------------

LANGS = ("en", "en-US", "pt-BR")  # a few of the allowed codes the message must list
REC, RD = "recording.", "recording.destination."
LT, LD = "liveTranscription.", "liveTranscription.destination."

BAD_BODIES = [
    # (id, body, the field named, fragments of the "what is allowed" message)
    bad("endDate-missing", {}, "endDate", "required"),
    bad("endDate-null", body(endDate=None), "endDate", "string"),
    bad("endDate-number", body(endDate=1893506400), "endDate", "string"),
    bad("endDate-not-a-date", body(endDate="next tuesday"), "endDate", "ISO 8601"),
    bad("endDate-date-only", body(endDate="2030-01-02"), "endDate", "ISO 8601"),
    bad("endDate-impossible", body(endDate="2030-13-45T25:00:00Z"), "endDate", "ISO 8601"),
    bad("endDate-past", body(endDate="2029-12-31T12:00:00Z"), "endDate", "after"),
    bad("isLocked-string", body(isLocked="yes"), "isLocked", "true or false"),
    bad("isLocked-true-string", body(isLocked="true"), "isLocked", "true or false"),
    bad("isLocked-number", body(isLocked=1), "isLocked", "true or false"),
    bad("roomMode-unknown", body(roomMode="huge"), "roomMode", ("normal", "group")),
    bad("roomMode-case", body(roomMode="Group"), "roomMode", ("normal", "group")),
    bad("prefix-40", body(roomNamePrefix="a" * 40), "roomNamePrefix", "39"),
    bad("prefix-40-spaced", body(roomNamePrefix="ab " * 20), "roomNamePrefix", "39"),
    bad("prefix-underscore", body(roomNamePrefix="my_clinic"), "roomNamePrefix", ("a-z", "0-9")),
    bad("prefix-slash", body(roomNamePrefix="clinic/x"), "roomNamePrefix", "a-z"),
    bad("prefix-non-ascii", body(roomNamePrefix="café"), "roomNamePrefix", "a-z"),
    bad("prefix-number", body(roomNamePrefix=7), "roomNamePrefix", "string"),
    bad("pattern", body(roomNamePattern="short"), "roomNamePattern", ("uuid", "human-short")),
    bad("templateType", body(templateType="audience"), "templateType", "viewerMode"),
    bad("fields-unknown", body(fields=["guestUrl"]), "fields", ("hostRoomUrl", "viewerRoomUrl")),
    bad("fields-not-a-list", body(fields="hostRoomUrl"), "fields", "list"),
    bad("rec-not-object", body(recording="cloud"), "recording", "object"),
    bad("rec-type", rec(type="tape"), REC + "type", ("none", "local", "cloud")),
    bad("rec-type-missing", rec(type=...), REC + "type", "required"),
    bad("rec-trigger", rec(startTrigger="manual"), REC + "startTrigger", ("prompt", "automatic")),
    bad("rec-provider", rec(s3(provider="gcs")), RD + "provider", ("s3", "whereby")),
    bad("rec-auth-type", rec(s3(authenticationType="iam")), RD + "authenticationType", "roleBased"),
    bad("rec-s3-no-region", rec(s3(region=...)), RD + "region", "region"),
    bad(
        "rec-s3-no-secret", rec(s3(accessKeySecret=...)), RD + "accessKeySecret", "accessKeySecret"
    ),
    bad("rec-s3-no-bucket", rec(s3(bucket=...)), RD + "bucket", "bucket"),
    bad("rec-role-no-arn", rec(s3(S3_ROLE, oidcRoleArn=...)), RD + "oidcRoleArn", "oidcRoleArn"),
    bad("rec-role-bad-arn", rec(s3(S3_ROLE, oidcRoleArn="x")), RD + "oidcRoleArn", "arn:aws:iam::"),
    bad("rec-bad-bucket", rec(s3(bucket="Bad_Bucket!")), RD + "bucket", "S3 bucket name"),
    bad("rec-short-bucket", rec(s3(bucket="ab")), RD + "bucket", "3-63"),
    bad("rec-bad-region", rec(s3(region="Europe")), RD + "region", "eu-west-1"),
    bad("rec-fileFormat", rec(s3(fileFormat="avi")), RD + "fileFormat", ("mkv", "mp4")),
    bad("rec-dest-unknown", rec(s3(colour="red")), RD + "colour", "not a known field"),
    bad("rec-unknown", rec(quality="hd"), REC + "quality", "not a known field"),
    bad("lang-xx", lt(language="xx"), LT + "language", LANGS),
    bad("lang-comma", lt(language="en,"), LT + "language", LANGS),
    bad("lang-name", lt(language="english"), LT + "language", LANGS),
    bad("lt-trigger", lt(startTrigger="prompt"), LT + "startTrigger", ("manual", "automatic")),
    bad("lt-captions", lt(liveCaptions="on"), LT + "liveCaptions", "true or false"),
    bad("lt-s3-no-region", lt(s3(region=...)), LD + "region", "region"),
    bad("lt-bad-bucket", lt(s3(bucket="-bad-")), LD + "bucket", "S3 bucket name"),
    bad(
        "stream-https",
        stream("https://live.example.com/app"),
        "streaming.destination.url",
        "rtmp://",
    ),
    bad("stream-no-host", stream("rtmp://"), "streaming.destination.url", "rtmp://"),
    bad(
        "stream-trigger",
        stream(startTrigger="manual"),
        "streaming.startTrigger",
        ("none", "prompt"),
    ),
    bad("stream-no-dest", stream(destination=...), "streaming.destination", "required"),
    bad("unknown-top-level", body(colour="blue"), "colour", "not a known field"),
]


@pytest.mark.parametrize(("payload", "field", "allowed"), BAD_BODIES)
def test_bad_body_is_refused_and_nothing_stored(
    shared: Shared, payload: dict[str, Any], field: str, allowed: tuple[str, ...]
):
    before = shared.meeting_count()
    with shared.client() as http:
        response = http.post("/v1/meetings", json=payload)
    assert_refused(response, 400, "invalid_input", field, allowed)
    assert shared.meeting_count() == before


def test_the_good_twin_of_each_nested_body_is_accepted(shared: Shared):
    """The tables' builders make valid bodies; only the one change makes a case bad."""
    before = shared.meeting_count()
    goods = [
        rec(),
        rec(s3(S3_ROLE)),
        rec(s3(fileFormat="mkv")),
        lt(),
        lt(s3()),
        stream(),
        stream("rtmps://live.example.com:443/app/key"),
        body(roomNamePrefix="ab " * 13),  # 39 characters once the spaces are removed
        body(roomNamePrefix="a" * 39),
    ]
    with shared.client() as http:
        for good in goods:
            response = http.post("/v1/meetings", json=good)
            assert response.status_code == 201, f"{good}: {response.text}"
    assert shared.meeting_count() == before + len(goods)


def _padded(size: int) -> bytes:
    """A valid create body padded with JSON whitespace to exactly ``size`` bytes."""
    raw = json.dumps(body()).encode()
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


@dataclass(frozen=True)
class Chunked:
    """A body sent as a chunked upload: no Content-Length, so only the byte count can stop it."""

    data: bytes

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), 8192):
            yield self.data[start : start + 8192]


JSON_TYPE = {"Content-Type": "application/json"}
TEXT, FORM = {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}
VALID, TOO_BIG = json.dumps(body()).encode(), _padded(MAX_BODY + 1)
CODES = {400: "invalid_input", 413: "payload_too_large", 415: "unsupported_content_type"}

BAD_RAW = [
    # (id, content, headers, status, the field named, fragments of the "what is allowed" message)
    bad("json-array", b"[]", JSON_TYPE, 400, "body", "object"),
    bad("array-of-body", b"[" + VALID + b"]", JSON_TYPE, 400, "body", "object"),
    bad("json-string", b'"hello"', JSON_TYPE, 400, "body", "object"),
    bad("json-number", b"42", JSON_TYPE, 400, "body", "object"),
    bad("json-null", b"null", JSON_TYPE, 400, "body", "object"),
    bad("invalid-json", b'{"endDate": ', JSON_TYPE, 400, "body", "valid JSON"),
    bad("single-quotes", b"{'endDate': 'x'}", JSON_TYPE, 400, "body", "valid JSON"),
    bad("empty-body", b"", JSON_TYPE, 400, "body", "required"),
    bad("text-plain", VALID, TEXT, 415, "Content-Type", "application/json"),
    bad("form", b"endDate=2030-01-01T14:00:00Z", FORM, 415, "Content-Type", "application/json"),
    bad("no-content-type", VALID, {}, 415, "Content-Type", "application/json"),
    bad("over-64KiB", TOO_BIG, JSON_TYPE, 413, "body", str(MAX_BODY)),
    bad("over-64KiB-chunked", Chunked(TOO_BIG), JSON_TYPE, 413, "body", str(MAX_BODY)),
]


@pytest.mark.parametrize(("content", "headers", "status", "field", "allowed"), BAD_RAW)
def test_bad_raw_body_is_refused_and_nothing_stored(
    shared: Shared,
    content: Any,
    headers: dict[str, str],
    status: int,
    field: str,
    allowed: tuple[str, ...],
):
    before = shared.meeting_count()
    with shared.client() as http:
        upload = iter(content) if isinstance(content, Chunked) else content
        response = http.post("/v1/meetings", content=upload, headers=headers)
    assert_refused(response, status, CODES[status], field, allowed)
    assert shared.meeting_count() == before


def test_body_of_exactly_64KiB_is_accepted(shared: Shared):
    with shared.client() as http:
        response = http.post("/v1/meetings", content=_padded(MAX_BODY), headers=JSON_TYPE)
    assert response.status_code == 201, response.text


# --- query parameters ----------------------------------------------------------------------------

OTHER_SORT = "cursor=<issued for sortBy=endDate:asc>"
LIST, ONE, INSIGHTS = "/v1/meetings", "/v1/meetings/<meetingId>", "/v1/insights/rooms"

BAD_QUERIES = [
    # (id, path, query, the field named, fragments of the "what is allowed" message)
    bad("limit-0", LIST, "limit=0", "limit", "1"),
    bad("limit-101", LIST, "limit=101", "limit", "100"),
    bad("limit-negative", LIST, "limit=-5", "limit", "1"),
    bad("limit-abc", LIST, "limit=abc", "limit", "whole number"),
    bad("limit-fraction", LIST, "limit=2.5", "limit", "whole number"),
    bad("sortBy-unknown", LIST, "sortBy=unknown", "sortBy", ("createdAt", "endDate")),
    bad("sortBy-direction", LIST, "sortBy=endDate:up", "sortBy", ("asc", "desc")),
    bad("cursor-garbage", LIST, "cursor=!!garbage!!", "cursor", "cursor returned"),
    bad("cursor-not-json", LIST, "cursor=bm90LWpzb24", "cursor", "cursor returned"),
    bad("cursor-wrong-shape", LIST, "cursor=WyJjcmVhdGVkQXQiXQ", "cursor", "cursor returned"),
    bad("cursor-other-sortBy", LIST, OTHER_SORT, "cursor", "sortBy"),
    bad("list-fields", LIST, "fields=unknown", "fields", ("hostRoomUrl", "viewerRoomUrl")),
    bad("list-fields-mix", LIST, "fields=hostRoomUrl,guestUrl", "fields", "viewerRoomUrl"),
    bad("get-fields", ONE, "fields=unknown", "fields", ("hostRoomUrl", "viewerRoomUrl")),
    bad("insights-from", INSIGHTS, "createdAt[from]=not-a-date", "createdAt[from]", "ISO 8601"),
    bad("insights-to-date-only", INSIGHTS, "createdAt[to]=2030-01-01", "createdAt[to]", "ISO 8601"),
    bad("insights-limit-0", INSIGHTS, "limit=0", "limit", "1"),
    bad("insights-limit-101", INSIGHTS, "limit=101", "limit", "100"),
    bad("insights-sortBy", INSIGHTS, "sortBy=colour:asc", "sortBy", "createdAt"),
    bad("insights-cursor", INSIGHTS, "cursor=!!garbage!!", "cursor", "cursor returned"),
]


@pytest.mark.parametrize(("path", "query", "field", "allowed"), BAD_QUERIES)
def test_bad_query_is_refused(
    shared: Shared, path: str, query: str, field: str, allowed: tuple[str, ...]
):
    with shared.client() as http:
        if query == OTHER_SORT:
            first = http.get(path, params={"sortBy": "endDate:asc", "limit": 1})
            assert first.json()["cursor"], first.text
            query = f"cursor={first.json()['cursor']}"  # now sent with the default sortBy
        url = path.replace("<meetingId>", shared.meeting_ids[0])
        response = http.get(url, params=httpx.QueryParams(query))
    assert_refused(response, 400, "invalid_input", field, allowed)


# --- authentication ------------------------------------------------------------------------------

BAD_AUTH = [
    pytest.param(None, id="no-header"),
    pytest.param("", id="empty-header"),
    pytest.param("Bearer", id="bearer-without-key"),
    pytest.param("Basic {key}", id="basic-scheme"),
    pytest.param("Token {key}", id="token-scheme"),
    pytest.param("{key}", id="key-without-scheme"),
    pytest.param("Bearer salon_thisKeyWasNeverIssuedToAnyone0000000000000", id="unknown-key"),
    pytest.param("Bearer {key}x", id="key-with-extra-char"),
]
ENDPOINTS = [
    pytest.param("POST", LIST, id="create"),
    pytest.param("GET", LIST, id="list"),
    pytest.param("GET", ONE, id="get"),
    pytest.param("DELETE", ONE, id="delete"),
    pytest.param("GET", INSIGHTS, id="insights"),
]


def _send(http: httpx.Client, method: str, path: str, shared: Shared) -> httpx.Response:
    url = path.replace("<meetingId>", shared.meeting_ids[1])
    if method == "POST":
        return http.post(url, json=body())
    return http.request(method, url)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("authorization", BAD_AUTH)
def test_bad_credentials_are_401_and_change_nothing(
    shared: Shared, authorization: str | None, method: str, path: str
):
    before = shared.meeting_count()
    with shared.client() as http:
        http.headers.pop("Authorization")
        if authorization is not None:
            http.headers["Authorization"] = authorization.format(key=shared.key)
        response = _send(http, method, path, shared)
        still_there = http.get(
            f"/v1/meetings/{shared.meeting_ids[1]}",
            headers={"Authorization": f"Bearer {shared.key}"},
        )
    assert_unauthenticated(response)
    assert shared.meeting_count() == before
    assert still_there.status_code == 200


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_revoked_key_is_401(shared: Shared, method: str, path: str):
    orgs = shared.server.services.orgs
    known = {k.key_id for k in orgs.list_api_keys("acme")}
    revoked = orgs.create_api_key("acme").plaintext
    (new_id,) = {k.key_id for k in orgs.list_api_keys("acme")} - known
    with shared.client(revoked) as http:
        assert http.get("/v1/meetings").status_code == 200  # it worked before revocation
        orgs.revoke_api_key(new_id)
        before = shared.meeting_count()
        response = _send(http, method, path, shared)
    assert_unauthenticated(response)
    assert shared.meeting_count() == before

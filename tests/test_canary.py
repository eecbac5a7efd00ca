"""Secrets and personal data given to the API are nowhere in plaintext on disk or in the log.

A real ``salon serve`` process gets a recording-destination secret, an RTMP stream key and a
contact email, each a unique canary string; afterwards every file in the data dir (database,
WAL, keys) and the server's log are searched for them, and for the client's IP address.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.process import salon, serve


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_canaries_never_reach_disk_or_log(tmp_path: Path):
    data = tmp_path / "data"
    salon(data, "org", "create", "acme")
    key = salon(data, "keys", "create", "--org", "acme").stdout.strip().splitlines()[-1]
    secret = f"canary-secret-{uuid.uuid4().hex}"
    stream_key = f"canary-stream-{uuid.uuid4().hex}"
    email = f"canary-{uuid.uuid4().hex[:12]}@privacy.example"
    end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {
        "endDate": end,
        "recording": {
            "type": "cloud",
            "destination": {
                "provider": "s3",
                "bucket": "acme-recordings",
                "region": "eu-west-1",
                "accessKeyId": "AKIACANARY",
                "accessKeySecret": secret,
            },
            "startTrigger": "none",
        },
        "streaming": {
            "destination": {"url": f"rtmp://live.example.com/app/{stream_key}"},
            "startTrigger": "none",
        },
    }
    with serve(data) as running, running.client(key) as http:
        assert http.post("/v1/meetings", json=body).status_code == 201
        # A refused request that carries the canaries must not log them either.
        bad = body | {"unknownField": secret, "roomMode": stream_key}
        assert http.post("/v1/meetings", json=bad).status_code == 400
        assert http.patch("/v1/organization", json={"contactEmail": email}).status_code == 200
        assert http.get("/v1/organization").json()["contactEmail"] == email
        log = running.log()
    assert "POST /v1/meetings 201" in log, "the access log is expected to be on"

    canaries = [secret.encode(), stream_key.encode(), email.encode(), key.encode()]
    for path in _files(tmp_path):
        content = path.read_bytes()
        for canary in canaries:
            assert canary not in content, f"{canary!r} found in {path}"
        if path.suffix != ".log":
            assert b"127.0.0.1" not in content, f"an IP address is stored in {path}"
    for line in log.splitlines():
        if "salon.access" in line:
            assert "127.0.0.1" not in line

"""Allowed embed domains: which entries are patterns, how origins match them, and the CSP
``frame-ancestors`` they make."""

from __future__ import annotations

import pytest

from salon.errors import InvalidInput
from salon.services.embed_domains import (
    MAX_DOMAINS,
    frame_ancestors,
    normalise,
    origin_allowed,
    origin_matches,
    parse_domains,
)


@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("https://*.example.com", "https://*.example.com"),
        ("https://*.eu.example.com:8443", "https://*.eu.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        ("https://10.0.0.5", "https://10.0.0.5"),
    ],
)
def test_patterns_are_stored_normalised(entry: str, stored: str) -> None:
    assert normalise(entry) == stored


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("", "must be an origin"),
        ("app.example.com", "must start with https://"),
        ("ftp://app.example.com", "ftp:// is not allowed"),
        ("javascript://x", "javascript:// is not allowed"),
        ("http://app.example.com", "only for local development"),
        ("http://*.localhost:3000", "wildcard needs a domain of at least two labels"),
        ("https://app.example.com/", "without a path"),
        ("https://app.example.com/embed", "without a path"),
        ("https://app.example.com?x=1", "without a query"),
        ("https://app.example.com#x", "without a fragment"),
        ("https://user@app.example.com", "without a user"),
        ("https://*", "only as the first label"),
        ("*", "must start with https://"),
        ("https://*.com", "at least two labels"),
        ("https://app.*.example.com", "only as the first label"),
        ("https://*app.example.com", "only as the first label"),
        ("https://app.example.com:0", "port must be a number"),
        ("https://app.example.com:99999", "port must be a number"),
        ("https://app.example.com:²", "port must be a number"),
        ("https://app.example.com:", "port must be a number"),
        ("https://bücher.example", "punycode"),
        ("https://app_x.example.com", "not a host name"),
        ("https://-app.example.com", "not a host name"),
        ("https://app..example.com", "not a host name"),
        ("https://[zz::1]", "not an IPv6 address"),
        (" https://app.example.com", "spaces"),
        ("https://app.example.com; script-src *", "spaces"),
        ("https://app.example.com,https://b.example", "one origin per entry"),
        ("https://'self'", "not a host name"),
        ("https://" + "a" * 250 + ".com", "at most 253"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(entry: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalise(entry)


def test_a_list_is_taken_whole_or_refused_naming_each_bad_entry() -> None:
    assert parse_domains(
        ["https://a.example", "HTTPS://A.example:443", "http://localhost:3000"]
    ) == ("https://a.example", "http://localhost:3000")
    with pytest.raises(InvalidInput) as refused:
        parse_domains(["https://ok.example", "http://bad.example", "nope"])
    fields = [p.field for p in refused.value.problems]
    assert fields == ["allowedEmbedDomains[1]", "allowedEmbedDomains[2]"]
    assert "'http://bad.example'" in refused.value.message
    with pytest.raises(InvalidInput, match=f"at most {MAX_DOMAINS} entries"):
        parse_domains([f"https://a{i}.example" for i in range(MAX_DOMAINS + 1)])
    assert len(parse_domains([f"https://a{i}.example" for i in range(MAX_DOMAINS)])) == MAX_DOMAINS


def test_origins_match_as_csp_matches_them() -> None:
    assert origin_matches("https://app.example.com", "https://app.example.com")
    assert origin_matches("https://a.b.example.com", "https://*.example.com")
    assert not origin_matches("https://example.com", "https://*.example.com")
    assert not origin_matches("https://evilexample.com", "https://*.example.com")
    assert not origin_matches("https://app.example.com.evil.net", "https://app.example.com")
    assert not origin_matches("https://app.example.com:8443", "https://app.example.com")
    assert not origin_matches("http://app.example.com", "https://app.example.com")
    assert origin_matches("http://localhost:3000", "http://localhost:3000")
    assert not origin_matches("http://localhost:3001", "http://localhost:3000")
    assert not origin_matches("https://*.example.com", "https://*.example.com")


def test_an_empty_list_allows_any_site() -> None:
    assert origin_allowed("https://anyone.example", ())
    assert origin_allowed("http://anyone.example", ())
    assert not origin_allowed("null", ())
    assert not origin_allowed("https://anyone.example", ("https://app.example.com",))
    assert origin_allowed("https://x.example.com", ("https://a.example", "https://*.example.com"))


def test_frame_ancestors_is_exactly_the_list_or_any() -> None:
    assert frame_ancestors(()) == "*"
    assert frame_ancestors(("https://a.example", "http://localhost:3000")) == (
        "https://a.example http://localhost:3000"
    )

"""Allowed embed domains: the sites that may show an organization's rooms.

An organization keeps a list of origin patterns. Its room pages carry them as CSP
``frame-ancestors`` (so a browser refuses to frame the room anywhere else), the room page's
embed API talks only to a page whose origin matches one, and the signaling server refuses
joins and knocks from a foreign page that matches none. An empty list lets any site embed.

A pattern is one of:

- ``https://host`` or ``https://host:port`` — that origin exactly;
- ``https://*.example.com`` (optionally with a port) — any subdomain of example.com, at any
  depth, not example.com itself (as CSP matches it);
- ``http://localhost:PORT``, ``http://127.0.0.1:PORT``, ``http://[::1]:PORT`` — development.

Patterns are stored normalised: lower case, no default port (``:443``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from salon.errors import FieldProblem, InvalidInput

__all__ = [
    "FIELD",
    "MAX_DOMAINS",
    "MAX_LENGTH",
    "frame_ancestors",
    "normalise",
    "origin_allowed",
    "origin_matches",
    "parse_domains",
]

FIELD = "allowedEmbedDomains"
MAX_DOMAINS = 50
MAX_LENGTH = 253
_DEFAULT_PORT = {"http": 80, "https": 443}
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SPLIT = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
_PORT = re.compile(r"^(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>[^:]*))?$")


def _host_problem(host: str, wildcard: bool) -> str | None:
    if host.startswith("[") and host.endswith("]"):
        if wildcard:
            return "a wildcard goes only before a domain name"
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{host} is not an IPv6 address"
        return None
    if not host:
        return "has no host name"
    if any(ord(c) > 127 for c in host):
        return "write an international domain name in its xn-- (punycode) form"
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return f"{host} is not a host name (letters, digits, '-' and '.')"
    if wildcard and len(labels) < 2:
        return "a wildcard needs a domain of at least two labels, such as *.example.com"
    return None


def _split(text: str) -> tuple[str, str, int, bool]:
    """Scheme, host, port and whether the host is a wildcard, of ``scheme://host[:port]``
    (lower case); raises ValueError saying what is wrong."""
    split = _SPLIT.match(text)
    if split is None:
        raise ValueError("must start with https:// (or http://localhost:PORT for development)")
    scheme, rest = split["scheme"], split["rest"]
    if "," in rest:
        raise ValueError("must be one origin per entry (no commas)")
    if scheme not in _DEFAULT_PORT:
        raise ValueError(f"{scheme}:// is not allowed; use https://")
    for mark, what in (("/", "a path"), ("?", "a query"), ("#", "a fragment"), ("@", "a user")):
        if mark in rest:
            raise ValueError(f"must be an origin without {what}, such as {scheme}://example.com")
    hostport = _PORT.match(rest)
    if hostport is None:
        raise ValueError("is not scheme://host[:port]")
    host, port_text = hostport["host"], hostport["port"]
    wildcard = host.startswith("*.")
    if wildcard:
        host = host[2:]
    if "*" in host:
        raise ValueError("a wildcard is allowed only as the first label: https://*.example.com")
    problem = _host_problem(host, wildcard)
    if problem:
        raise ValueError(problem)
    port = _DEFAULT_PORT[scheme]
    if port_text is not None:
        if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 1 <= int(port_text) <= 65535:
            raise ValueError("the port must be a number from 1 to 65535")
        port = int(port_text)
    return scheme, host, port, wildcard


def normalise(entry: str) -> str:
    """The pattern ``entry`` stands for, in its stored form; raises ValueError saying why
    it is not one."""
    if not isinstance(entry, str) or not entry:
        raise ValueError("must be an origin such as https://app.example.com")
    if len(entry) > MAX_LENGTH:
        raise ValueError(f"must be at most {MAX_LENGTH} characters")
    if entry != entry.strip() or any(c.isspace() or ord(c) < 32 for c in entry):
        raise ValueError("must not contain spaces or control characters")
    scheme, host, port, wildcard = _split(entry.lower())
    if scheme == "http" and (wildcard or host not in _LOCAL_HOSTS):
        raise ValueError(
            "http:// is allowed only for local development (http://localhost:PORT); use https://"
        )
    shown = ("*." if wildcard else "") + host
    return f"{scheme}://{shown}" if port == _DEFAULT_PORT[scheme] else f"{scheme}://{shown}:{port}"


def parse_domains(entries: Sequence[str], field: str = FIELD) -> tuple[str, ...]:
    """The normalised list (duplicates dropped, order kept); raises InvalidInput naming every
    bad entry, so a list is taken whole or not at all."""
    if len(entries) > MAX_DOMAINS:
        raise InvalidInput.one(field, f"at most {MAX_DOMAINS} entries; got {len(entries)}")
    problems: list[FieldProblem] = []
    seen: dict[str, None] = {}
    for i, entry in enumerate(entries):
        try:
            seen.setdefault(normalise(entry), None)
        except ValueError as exc:
            shown = entry[:80] if isinstance(entry, str) else repr(entry)
            problems.append(FieldProblem(f"{field}[{i}]", f"{shown!r} {exc}"))
    if problems:
        raise InvalidInput(problems)
    return tuple(seen)


def _parts(text: str) -> tuple[str, str, int, bool] | None:
    if not isinstance(text, str) or len(text) > MAX_LENGTH + 8:
        return None
    try:
        return _split(text.lower())
    except ValueError:
        return None


def origin_matches(origin: str, pattern: str) -> bool:
    """Whether a browser's ``origin`` (``https://app.example.com``) matches ``pattern``."""
    o, p = _parts(origin), _parts(pattern)
    if o is None or p is None or o[3]:
        return False
    if o[0] != p[0] or o[2] != p[2]:
        return False
    if p[3]:
        return o[1].endswith("." + p[1])
    return o[1] == p[1]


def origin_allowed(origin: str, domains: Sequence[str]) -> bool:
    """Whether a page of ``origin`` may embed or use the rooms of an organization with
    ``domains`` (none: any site)."""
    parts = _parts(origin)
    if parts is None or parts[3]:
        return False
    return not domains or any(origin_matches(origin, pattern) for pattern in domains)


def frame_ancestors(domains: Sequence[str]) -> str:
    """The CSP ``frame-ancestors`` sources for ``domains``: exactly them, or ``*`` (any site)
    when there are none."""
    return " ".join(domains) if domains else "*"

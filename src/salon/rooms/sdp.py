"""Just enough SDP to tell whether a description would send audio or video.

Viewers never publish, so the room engine looks at every offer and answer a viewer signals. The
rules are RFC 4566 / RFC 3264 / JSEP as browsers apply them: each ``m=`` line starts a media
section; its direction is the section's ``a=sendrecv|sendonly|recvonly|inactive``, else the
session-level one, else ``sendrecv``; a section with port 0 is rejected and carries nothing —
unless it is ``a=bundle-only`` (RFC 8843), which libwebrtc keeps alive on the bundled transport.

Sizes are bounded by the signaling schema, not here. Anything that does not parse raises
``InvalidSdp``; callers that must fail closed treat that as "would send".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from salon.errors import FieldProblem, InvalidInput

__all__ = ["Direction", "InvalidSdp", "MediaSection", "media_sections", "would_send_media"]

_MEDIA_KINDS = frozenset({"audio", "video"})
_MAX_PORT = 65535


class Direction(StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)


_DIRECTIONS = frozenset(d.value for d in Direction)


@dataclass(frozen=True, slots=True)
class MediaSection:
    """One ``m=`` section: its media kind (``audio``, ``video``, ``application``…), port and
    effective direction."""

    kind: str
    port: int
    direction: Direction
    bundle_only: bool = False

    @property
    def rejected(self) -> bool:
        return self.port == 0 and not self.bundle_only

    @property
    def sends_media(self) -> bool:
        """Whether this section would carry audio or video from the describing side."""
        return self.kind.lower() in _MEDIA_KINDS and not self.rejected and self.direction.sends


class InvalidSdp(InvalidInput):
    """The text is not a session description this parser understands."""

    def __init__(self, reason: str) -> None:
        super().__init__([FieldProblem("description.sdp", reason)])


@dataclass(slots=True)
class _Section:
    kind: str
    port: int
    direction: Direction | None = None
    bundle_only: bool = False


def media_sections(sdp: str) -> list[MediaSection]:
    """The media sections of ``sdp`` in order; raises ``InvalidSdp`` if it does not parse."""
    lines = [line.removesuffix("\r") for line in sdp.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines or lines[0] != "v=0":
        raise InvalidSdp("must start with 'v=0'")
    session_direction: Direction | None = None
    sections: list[_Section] = []
    for number, line in enumerate(lines, start=1):
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise InvalidSdp(f"line {number} is not '<letter>=<value>'")
        kind, value = line[0], line[2:]
        if kind == "m":
            sections.append(_media_line(value, number))
        elif kind == "a" and value in _DIRECTIONS:
            direction = Direction(value)
            if sections:
                if sections[-1].direction is not None:
                    raise InvalidSdp(f"line {number} sets a second direction for one section")
                sections[-1].direction = direction
            else:
                if session_direction is not None:
                    raise InvalidSdp(f"line {number} sets a second session direction")
                session_direction = direction
        elif kind == "a" and value == "bundle-only" and sections:
            sections[-1].bundle_only = True
    default = session_direction or Direction.SENDRECV
    return [MediaSection(s.kind, s.port, s.direction or default, s.bundle_only) for s in sections]


def _media_line(value: str, number: int) -> _Section:
    # m=<media> <port>[/<number of ports>] <proto> <fmt> ...
    fields = value.split(" ")
    if len(fields) < 4 or not all(fields):
        raise InvalidSdp(f"line {number} is not 'm=<media> <port> <proto> <fmt> ...'")
    port = fields[1].split("/", 1)[0]
    if not port.isascii() or not port.isdigit() or int(port) > _MAX_PORT:
        raise InvalidSdp(f"line {number} has no valid port")
    return _Section(kind=fields[0], port=int(port))


def would_send_media(sdp: str) -> bool:
    """True if any audio or video section would send; raises ``InvalidSdp`` if unparseable."""
    return any(section.sends_media for section in media_sections(sdp))

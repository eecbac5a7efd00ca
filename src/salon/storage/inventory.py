"""The data inventory: every stored column, what it holds, why, for how long, and how.

This is the start of the records of processing (GDPR art. 30). A test fails when a model column
is missing here, or when a column declared encrypted is not a ciphertext column. ``salon privacy
inventory`` prints it as Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["INVENTORY", "Category", "Protection", "StoredField", "render_markdown"]


class Category(StrEnum):
    NONE = "not personal"
    CONTACT = "contact data"
    CREDENTIAL = "customer credential"
    ROOM_METADATA = "meeting metadata"
    KEY_MATERIAL = "key material"
    ATTENDANCE = "attendance data"


class Protection(StrEnum):
    PLAIN = "plain"
    ORG_KEY = "AES-256-GCM, org data key"
    MASTER_KEY = "AES-256-GCM, master key"
    BLIND_INDEX = "HMAC-SHA-256 blind index, org key"
    HASH = "SHA-256 hash"


@dataclass(frozen=True, slots=True)
class StoredField:
    column: str
    category: Category
    purpose: str
    retention: str
    protection: Protection
    personal: bool

    @property
    def readable_without_keys(self) -> bool:
        return self.protection is Protection.PLAIN


_UNTIL_ORG_DELETED = "until the organization is deleted"
_UNTIL_PURGE = "until the room is purged, within 24 h after its end date"
_INSIGHTS = "until the organization is deleted (usage history outlives the room)"
_SFU_NODE = "while the node is in use; deleted once no server has reported it for 7 days"


def _f(
    column: str,
    category: Category,
    purpose: str,
    retention: str,
    *,
    protection: Protection = Protection.PLAIN,
    personal: bool = False,
) -> StoredField:
    return StoredField(column, category, purpose, retention, protection, personal)


INVENTORY: tuple[StoredField, ...] = (
    _f("organizations.id", Category.NONE, "identify the customer account", _UNTIL_ORG_DELETED),
    _f("organizations.name", Category.NONE, "name the customer account", _UNTIL_ORG_DELETED),
    _f("organizations.created_at", Category.NONE, "account bookkeeping", _UNTIL_ORG_DELETED),
    _f(
        "organizations.wrapped_data_key",
        Category.KEY_MATERIAL,
        "the org's data key, wrapped by the master key; destroyed on deletion",
        _UNTIL_ORG_DELETED,
        protection=Protection.MASTER_KEY,
    ),
    _f(
        "organizations.master_key_id",
        Category.NONE,
        "which master key wraps the data key",
        _UNTIL_ORG_DELETED,
    ),
    _f(
        "organizations.contact_email_enc",
        Category.CONTACT,
        "reach the customer about privacy and security matters",
        _UNTIL_ORG_DELETED,
        protection=Protection.ORG_KEY,
        personal=True,
    ),
    _f(
        "organizations.contact_email_bidx",
        Category.CONTACT,
        "find an organization by contact email without decrypting (keyed blind index)",
        _UNTIL_ORG_DELETED,
        protection=Protection.BLIND_INDEX,
        personal=True,
    ),
    _f(
        "organizations.relay_only",
        Category.NONE,
        "privacy setting: every participant's media goes through a TURN relay",
        _UNTIL_ORG_DELETED,
    ),
    _f(
        "organizations.embed_domains",
        Category.NONE,
        "security setting: the sites (origins) allowed to embed the org's rooms (CSP "
        "frame-ancestors, embed API, SDK signaling)",
        _UNTIL_ORG_DELETED,
    ),
    _f("api_keys.id", Category.NONE, "name an API key for revocation", _UNTIL_ORG_DELETED),
    _f("api_keys.org_id", Category.NONE, "the key's organization", _UNTIL_ORG_DELETED),
    _f(
        "api_keys.key_hash",
        Category.CREDENTIAL,
        "authenticate API calls; only a SHA-256 hash of the key is kept",
        _UNTIL_ORG_DELETED,
        protection=Protection.HASH,
    ),
    _f("api_keys.prefix", Category.NONE, "recognise a key in listings", _UNTIL_ORG_DELETED),
    _f("api_keys.created_at", Category.NONE, "key bookkeeping", _UNTIL_ORG_DELETED),
    _f("api_keys.revoked_at", Category.NONE, "refuse revoked keys", _UNTIL_ORG_DELETED),
    _f("meetings.id", Category.NONE, "identify the meeting (meetingId)", _UNTIL_PURGE),
    _f("meetings.org_id", Category.NONE, "the meeting's organization", _UNTIL_PURGE),
    _f(
        "meetings.room_name",
        Category.ROOM_METADATA,
        "the room's address; the prefix is chosen by the customer",
        _UNTIL_PURGE,
    ),
    _f("meetings.room_mode", Category.ROOM_METADATA, "normal (P2P) or group (SFU)", _UNTIL_PURGE),
    _f("meetings.is_locked", Category.ROOM_METADATA, "initial lock state", _UNTIL_PURGE),
    _f("meetings.template_type", Category.ROOM_METADATA, "room template", _UNTIL_PURGE),
    _f("meetings.start_date", Category.ROOM_METADATA, "when the room opened", _UNTIL_PURGE),
    _f("meetings.end_date", Category.ROOM_METADATA, "deactivation and purge", _UNTIL_PURGE),
    _f("meetings.created_at", Category.ROOM_METADATA, "listing order", _UNTIL_PURGE),
    _f(
        "meetings.recording_enc",
        Category.CREDENTIAL,
        "where recordings go, with the customer's storage credentials",
        _UNTIL_PURGE,
        protection=Protection.ORG_KEY,
    ),
    _f(
        "meetings.live_transcription_enc",
        Category.CREDENTIAL,
        "where transcripts go, with the customer's storage credentials",
        _UNTIL_PURGE,
        protection=Protection.ORG_KEY,
    ),
    _f(
        "meetings.streaming_enc",
        Category.CREDENTIAL,
        "the RTMP destination, whose URL carries a stream key",
        _UNTIL_PURGE,
        protection=Protection.ORG_KEY,
    ),
    _f(
        "meetings.relay_only",
        Category.ROOM_METADATA,
        "privacy setting: the room's media goes through a TURN relay (relayOnly)",
        _UNTIL_PURGE,
    ),
    _f("room_sessions.id", Category.NONE, "identify a session (roomSessionId)", _INSIGHTS),
    _f("room_sessions.org_id", Category.NONE, "the session's organization", _INSIGHTS),
    _f(
        "room_sessions.meeting_id",
        Category.NONE,
        "the session's room while it exists; set to null when the room is purged",
        _UNTIL_PURGE,
    ),
    _f(
        "room_sessions.room_name",
        Category.ROOM_METADATA,
        "find a room's sessions by name, also after the room is purged",
        _INSIGHTS,
    ),
    _f("room_sessions.started_at", Category.ROOM_METADATA, "usage insights", _INSIGHTS),
    _f("room_sessions.ended_at", Category.ROOM_METADATA, "usage insights", _INSIGHTS),
    _f("session_participants.id", Category.NONE, "identify an attendance row", _INSIGHTS),
    _f("session_participants.session_id", Category.NONE, "the attendance's session", _INSIGHTS),
    _f(
        "session_participants.participant_id",
        Category.NONE,
        "a random id drawn per connection; links to no person, device or address",
        _INSIGHTS,
    ),
    _f(
        "session_participants.role",
        Category.ATTENDANCE,
        "host / visitor / viewer counts in insights",
        _INSIGHTS,
    ),
    _f(
        "session_participants.joined_at",
        Category.ATTENDANCE,
        "participant minutes in insights",
        _INSIGHTS,
    ),
    _f(
        "session_participants.left_at",
        Category.ATTENDANCE,
        "participant minutes in insights",
        _INSIGHTS,
    ),
    _f(
        "session_participants.minutes",
        Category.ATTENDANCE,
        "the connection's length rounded up to minutes (totalParticipantMinutes)",
        _INSIGHTS,
    ),
    _f(
        "session_participants.display_name_enc",
        Category.ATTENDANCE,
        "the name a participant chose, shown in /insights/participants",
        _INSIGHTS,
        protection=Protection.ORG_KEY,
        personal=True,
    ),
    _f(
        "session_participants.external_id_enc",
        Category.ATTENDANCE,
        "the customer's own id for the participant, given at join (externalId)",
        _INSIGHTS,
        protection=Protection.ORG_KEY,
        personal=True,
    ),
    _f(
        "session_participants.external_id_bidx",
        Category.ATTENDANCE,
        "find a participant's sessions by externalId without decrypting (keyed blind index)",
        _INSIGHTS,
        protection=Protection.BLIND_INDEX,
        personal=True,
    ),
    _f(
        "sfu_nodes.node_id",
        Category.NONE,
        "name a media server (Janus) node: HOST:PORT of its API, as configured by the "
        "operator, or 'local'; infrastructure, never a participant's address",
        _SFU_NODE,
    ),
    _f("sfu_nodes.draining", Category.NONE, "operator: no new rooms on the node", _SFU_NODE),
    _f(
        "sfu_nodes.moves_requested",
        Category.NONE,
        "operator: requests to move the node's rooms to other nodes now",
        _SFU_NODE,
    ),
    _f("sfu_nodes.changed_at", Category.NONE, "when the operator last changed it", _SFU_NODE),
    _f("sfu_nodes.region", Category.NONE, "the node's region label (placement)", _SFU_NODE),
    _f("sfu_nodes.up", Category.NONE, "node status a server last saw", _SFU_NODE),
    _f(
        "sfu_nodes.draining_applied",
        Category.NONE,
        "whether a server's pool applied the drain",
        _SFU_NODE,
    ),
    _f("sfu_nodes.rooms", Category.NONE, "node load a server last saw: rooms", _SFU_NODE),
    _f(
        "sfu_nodes.participants",
        Category.NONE,
        "node load a server last saw: a count of participants, nobody's identity",
        _SFU_NODE,
    ),
    _f("sfu_nodes.reported_at", Category.NONE, "when a server last reported it", _SFU_NODE),
)


def render_markdown() -> str:
    """The inventory as a Markdown table, plus what is deliberately never stored."""
    lines = [
        "# Salon data inventory",
        "",
        "| column | category | personal | protection | purpose | retention |",
        "|---|---|---|---|---|---|",
    ]
    for item in INVENTORY:
        lines.append(
            f"| `{item.column}` | {item.category.value} | {'yes' if item.personal else 'no'} | "
            f"{item.protection.value} | {item.purpose} | {item.retention} |"
        )
    lines += [
        "",
        "Never stored: IP addresses, user agents, audio, video, chat messages.",
        "Encrypted values use AES-256-GCM under a per-organization data key wrapped by the",
        "master key; API keys are stored only as SHA-256 hashes.",
    ]
    return "\n".join(lines) + "\n"

"""TURN relays: coturn's config and supervision, ephemeral credentials, ICE grants."""

from salon.turn.credentials import TurnCredential, issue_credential, verify_credential
from salon.turn.ice import IceGrant, IceProvider, TransportPolicy, TurnIceProvider

__all__ = [
    "IceGrant",
    "IceProvider",
    "TransportPolicy",
    "TurnCredential",
    "TurnIceProvider",
    "issue_credential",
    "verify_credential",
]

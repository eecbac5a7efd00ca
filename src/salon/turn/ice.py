"""What a participant's browser is told about ICE: servers, credentials, and transport policy.

The signaling shell asks ``services.ice.grant(facts, now)`` at join and again before the grant's
``refresh_at``; the answer goes to the browser as its ``RTCConfiguration``. A room whose meeting or
organization is relay-only gets ``iceTransportPolicy: "relay"``: every participant's media goes
through a TURN relay, so no participant learns another's address.

Which TURN servers: those of this Salon node's region (``SALON_TURN_REGION``) in the pool
(``SALON_TURN_SERVERS``), or the whole pool when the region has none or the node has no region
(``servers_for_region``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from salon.config import Secret, TurnServer, TurnSettings
from salon.services.sessions import RoomFacts
from salon.turn.credentials import ice_servers, issue_credential

__all__ = ["IceGrant", "IceProvider", "TransportPolicy", "TurnIceProvider", "servers_for_region"]

log = logging.getLogger("salon.turn")

TransportPolicy = Literal["all", "relay"]

# A grant is refreshed once this share of its lifetime has passed, leaving the rest (12 minutes
# of the default hour) for the new credentials to reach the browser and ICE to restart.
_REFRESH_SHARE = 0.8


def servers_for_region(pool: Sequence[TurnServer], region: str | None) -> tuple[TurnServer, ...]:
    """The TURN servers a participant of a node in ``region`` gets: every server of the pool
    labelled ``region``; when there is none (or ``region`` is ``None``), the whole pool.

    Falling back to everything rather than to some home region keeps a node with a typo'd or
    unserved region connectable, and lets a pool without labels work as one region. Every chosen
    server is given, so the browser's ICE agent uses whichever answers: a server that is down
    costs a failed allocation, not a failed call.
    """
    own = tuple(server for server in pool if server.region == region)
    return own if own else tuple(pool)


@dataclass(frozen=True, slots=True)
class IceGrant:
    """The ICE configuration of one participant, valid until ``expires_at``.

    ``servers`` are RTCIceServer dicts (STUN first, then TURN with ephemeral credentials).
    ``expires_at`` / ``refresh_at`` are ``None`` when there is no TURN credential to expire.
    """

    servers: list[dict[str, Any]]
    transport_policy: TransportPolicy
    expires_at: datetime | None
    refresh_at: datetime | None

    def rtc_configuration(self) -> dict[str, Any]:
        """The browser's ``RTCConfiguration`` fields: ``iceServers``, ``iceTransportPolicy``."""
        return {"iceServers": self.servers, "iceTransportPolicy": self.transport_policy}


class IceProvider(Protocol):
    def grant(self, facts: RoomFacts, now: datetime) -> IceGrant:
        """A fresh grant for one participant of the room ``facts`` describes."""
        ...


class TurnIceProvider:
    """Grants from Salon's settings: STUN URLs, and TURN credentials for the servers of this
    node's region (``TurnSettings.region``)."""

    def __init__(self, turn: TurnSettings, stun_urls: Sequence[str], secret: Secret | None):
        if turn.enabled and secret is None:
            raise ValueError("TURN is on but no shared secret was given")
        self._servers = servers_for_region(turn.servers, turn.region) if turn.enabled else ()
        self._stun_urls = tuple(stun_urls)
        self._secret = secret
        self._ttl = timedelta(seconds=turn.credential_ttl_seconds)
        self._warned_no_relay = False

    def grant(self, facts: RoomFacts, now: datetime) -> IceGrant:
        policy: TransportPolicy = "relay" if facts.relay_only else "all"
        stun = [{"urls": list(self._stun_urls)}] if self._stun_urls else []
        servers = self._servers
        if not servers or self._secret is None:
            if policy == "relay" and not self._warned_no_relay:
                # Privacy wins over connectivity: the policy stays "relay" and calls in
                # relay-only rooms cannot connect until TURN is configured.
                log.warning("a relay-only room was joined but TURN is off (SALON_TURN_MODE)")
                self._warned_no_relay = True
            return IceGrant(stun, policy, None, None)
        credential = issue_credential(self._secret, now + self._ttl)
        lifetime = credential.expires_at - now
        return IceGrant(
            servers=[*stun, *ice_servers(servers, credential)],
            transport_policy=policy,
            expires_at=credential.expires_at,
            refresh_at=now + lifetime * _REFRESH_SHARE,
        )

"""One typed container of services, built from settings; tests build it with a fake clock."""

from __future__ import annotations

import os
from dataclasses import dataclass

from salon.auth.room_keys import RoomKeySigner, RoomKeyVerifier, load_room_key_secret
from salon.clock import Clock, SystemClock
from salon.config import Secret, Settings
from salon.janus.credentials import JanusCredentials, load_janus_credentials
from salon.janus.pool import SfuPool, pool_from_settings
from salon.services.insights import InsightsService
from salon.services.keyring import Keyring
from salon.services.meetings import MeetingService
from salon.services.orgs import OrgService
from salon.services.rate_limit import InMemoryRateLimiter, RateLimiter
from salon.services.sessions import SessionService
from salon.services.sfu_nodes import SfuNodes
from salon.signaling.registry import RoomRegistry
from salon.storage.db import Database
from salon.turn.credentials import load_turn_secret
from salon.turn.ice import IceProvider, TurnIceProvider
from salon.turn.policy import RelayPolicy

__all__ = ["Services", "build_services"]


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    db: Database
    keyring: Keyring
    room_keys: RoomKeyVerifier
    room_key_signer: RoomKeySigner
    rate_limiter: RateLimiter
    orgs: OrgService
    meetings: MeetingService
    insights: InsightsService
    sessions: SessionService
    # The live rooms of this node (in memory; the signaling shell is their only user).
    rooms: RoomRegistry
    # ICE servers, TURN credentials and transport policy for a participant: ice.grant(facts, now).
    ice: IceProvider
    # The organizations' relay-only privacy setting.
    relay_policy: RelayPolicy
    # The TURN REST shared secret (coturn's static-auth-secret); None when TURN is off.
    turn_secret: Secret | None
    # The operator's asks for each SFU node (drain, move its rooms away) and the servers'
    # reports of them, shared through the database (`salon sfu`, salon.services.sfu_nodes).
    sfu_nodes: SfuNodes
    # The SFU of group rooms: one SfuBackend over the Janus pool (salon.janus.pool), None when
    # SALON_JANUS_MODE=off. `salon serve` starts it (and the embedded node); until then every
    # call raises SfuUnavailable. Its listen() stream carries RoomMoved after a failover.
    sfu: SfuPool | None = None
    # The secrets Salon drives Janus with; None when Janus is off.
    janus_credentials: JanusCredentials | None = None

    def close(self) -> None:
        self.db.dispose()


def _private_dir(path: os.PathLike[str]) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Everything Salon needs, wired; creates the data dir, keys and schema on first use."""
    clock = clock or SystemClock()
    _private_dir(settings.data_dir)
    db = Database(settings.database_url.reveal())
    db.migrate()
    keyring = Keyring(settings.master_key_file, db)
    secret = load_room_key_secret(settings.room_key_secret_file)
    verifier = RoomKeyVerifier(secret, clock)
    signer = RoomKeySigner(secret)
    meetings = MeetingService(db, keyring, clock, settings.server.public_url, signer, verifier)
    turn = settings.turn
    turn_secret = load_turn_secret(turn.secret_file, create=turn.embedded) if turn.enabled else None
    janus = settings.janus
    janus_credentials = load_janus_credentials(janus, secret) if janus.enabled else None
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        keyring=keyring,
        room_keys=verifier,
        room_key_signer=signer,
        rate_limiter=InMemoryRateLimiter(settings.rate_limit_points, clock),
        orgs=OrgService(db, keyring, clock),
        meetings=meetings,
        insights=InsightsService(db, keyring, meetings),
        sessions=SessionService(db, keyring),
        rooms=RoomRegistry(),
        ice=TurnIceProvider(turn, settings.stun_urls, turn_secret),
        relay_policy=RelayPolicy(db),
        turn_secret=turn_secret,
        sfu_nodes=SfuNodes(db, clock, janus),
        sfu=pool_from_settings(janus, janus_credentials) if janus_credentials else None,
        janus_credentials=janus_credentials,
    )

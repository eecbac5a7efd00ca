"""The ``salon`` command: serve, migrate, organizations, API keys, master key, TURN, SFU nodes,
privacy."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import uvloop

from salon.config import Settings, load_settings
from salon.errors import SalonError
from salon.services.container import Services, build_services
from salon.services.sfu_nodes import SYNC_INTERVAL, SfuNodeRecord
from salon.storage.inventory import render_markdown
from salon.turn.config import CoturnFiles, coturn_config

__all__ = ["main"]


def _serve(services: Services, _args: argparse.Namespace) -> int:
    from salon.server import serve

    print(f"Salon is starting on {services.settings.server.public_url}", flush=True)
    if not services.orgs.all():
        data_dir = services.settings.data_dir
        print(
            "No organization yet. To call the REST API, create one and an API key:\n"
            f"    salon --data-dir {data_dir} org create myorg\n"
            f"    salon --data-dir {data_dir} keys create --org myorg",
            flush=True,
        )
    # uvloop's TLS keeps a far smaller buffer per connection than asyncio's (bench/signaling.py:
    # ~80 KiB instead of ~320 KiB per idle signaling connection).
    uvloop.run(serve(services))
    return 0


def _migrate(services: Services, _args: argparse.Namespace) -> int:
    print("database schema is up to date")
    return 0


def _org_create(services: Services, args: argparse.Namespace) -> int:
    org = services.orgs.create(args.name, args.contact_email)
    if args.relay_only:
        services.relay_policy.set_org_relay_only(org.org_id, True)
    print(f"created organization {org.name} ({org.org_id})")
    return 0


def _org_relay_only(services: Services, args: argparse.Namespace) -> int:
    org = services.orgs.by_name(args.name)
    services.relay_policy.set_org_relay_only(org.org_id, args.state == "on")
    if args.state == "on":
        print(f"{org.name}: every participant's media now goes through a TURN relay")
    else:
        print(f"{org.name}: participants may connect directly (unless a meeting is relay-only)")
    return 0


def _org_embed_domains(services: Services, args: argparse.Namespace) -> int:
    org = services.orgs.by_name(args.name)
    if args.clear:
        domains = services.orgs.set_embed_domains(org.org_id, [])
    elif args.set is not None:
        entries = [entry.strip() for entry in args.set.split(",") if entry.strip()]
        if not entries:
            print("salon: --set needs at least one origin; use --clear for none", file=sys.stderr)
            return 2
        domains = services.orgs.set_embed_domains(org.org_id, entries)
    else:
        domains = services.orgs.embed_domains(org.org_id)
    if domains:
        print(f"{org.name}: its rooms may be embedded by these sites only:")
        for domain in domains:
            print(f"  {domain}")
    else:
        print(f"{org.name}: any site may embed its rooms (no allowed embed domains set)")
    return 0


def _org_list(services: Services, _args: argparse.Namespace) -> int:
    for org in services.orgs.all():
        print(f"{org.org_id}  {org.name}")
    return 0


def _org_delete(services: Services, args: argparse.Namespace) -> int:
    if not args.yes:
        print(
            f"Deleting {args.name!r} destroys its data key and every meeting and API key it has. "
            "Run again with --yes to do it.",
            file=sys.stderr,
        )
        return 2
    services.orgs.delete(args.name)
    print(f"deleted organization {args.name}; its data key is destroyed")
    return 0


def _org_find(services: Services, args: argparse.Namespace) -> int:
    for org in services.orgs.find_by_contact_email(args.email):
        print(f"{org.org_id}  {org.name}")
    return 0


def _turn_config(services: Services, args: argparse.Namespace) -> int:
    settings = services.settings
    cert = settings.server.tls_cert or settings.data_dir / "tls-cert.pem"
    key = settings.server.tls_key or settings.data_dir / "tls-key.pem"
    config = coturn_config(settings.turn, CoturnFiles(cert, key), services.turn_secret)
    if args.output is None:
        sys.stdout.write(config.text(with_secret=False))
        return 0
    if services.turn_secret is None:
        print(
            "salon: TURN is off, so there is no shared secret to write. Set SALON_TURN_MODE="
            "external and SALON_TURN_SECRET_FILE (the secret Salon and coturn share).",
            file=sys.stderr,
        )
        return 2
    path = Path(args.output)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(config.text(with_secret=True))
    print(f"wrote the coturn configuration, with the shared secret, to {path} (mode 0600)")
    return 0


# A node report older than this: no running server has the node in its pool, or none runs.
_STALE_REPORT = timedelta(seconds=max(30.0, 10 * SYNC_INTERVAL))


def _ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{then:%Y-%m-%d %H:%M} UTC"


def _fresh(record: SfuNodeRecord, now: datetime) -> bool:
    return record.report is not None and now - record.report.reported_at <= _STALE_REPORT


def _sfu_nodes(services: Services, _args: argparse.Namespace) -> int:
    records = services.sfu_nodes.all()
    if not records:
        print(
            "No SFU nodes: Janus is off (SALON_JANUS_MODE=off) and no running Salon has "
            "reported one."
        )
        return 0
    now = services.clock.now()
    header = ("NODE", "REGION", "STATUS", "DRAINING", "ROOMS", "PARTICIPANTS", "REPORTED")
    rows = [header]
    for record in records:
        report = record.report
        draining = "yes" if record.draining else "no"
        # Asked, and not yet applied by the server that reported last.
        if (report.draining if report else False) != record.draining:
            draining += " (pending)"
        rows.append(
            (
                record.node_id,
                record.region or "-",
                "unknown" if report is None else "up" if report.up else "down",
                draining,
                "-" if report is None else str(report.rooms),
                "-" if report is None else str(report.participants),
                _ago(report.reported_at if report else None, now),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if any(not _fresh(record, now) for record in records):
        print(
            f"\nA node not reported in the last {int(_STALE_REPORT.total_seconds())} s is in no "
            "running server's pool (or no `salon serve` is running): what it shows is old."
        )
    return 0


def _sfu_drain(services: Services, args: argparse.Namespace) -> int:
    draining = not args.undrain
    record = services.sfu_nodes.set_draining(args.node, draining, move=args.move)
    within = f"within {SYNC_INTERVAL:g} s"
    if not draining:
        print(f"SFU node {record.node_id} takes new rooms again (running servers: {within}).")
    elif args.move:
        print(
            f"SFU node {record.node_id} is draining, and its rooms move to other nodes now "
            f"(running servers: {within}): their participants reconnect there in a few "
            "seconds. A room no other node can take stays."
        )
    else:
        rooms = f"its rooms ({record.report.rooms} now)" if record.report else "its rooms"
        print(
            f"SFU node {record.node_id} is draining: running servers place no new rooms on it "
            f"({within}); {rooms} stay until they end. `--move` moves them now."
        )
    now = services.clock.now()
    others = [r for r in services.sfu_nodes.all() if r.node_id != record.node_id]
    if draining and not any(not r.draining and (r.report is None or r.report.up) for r in others):
        print(
            "warning: no other node takes rooms: new group rooms have no media server until "
            "you undrain one (salon sfu drain NODE --undrain).",
            file=sys.stderr,
        )
    if not _fresh(record, now):
        print(
            "note: no running Salon has reported this node lately; servers apply this when "
            "they start.",
            file=sys.stderr,
        )
    return 0


def _add_sfu_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    sfu = sub.add_parser("sfu", parents=[common], help="the SFU (Janus) nodes of group rooms")
    sfu_sub = sfu.add_subparsers(dest="sfu_command", required=True, metavar="ACTION")
    sfu_sub.add_parser(
        "nodes",
        parents=[common],
        help="list the nodes: up or down, draining, rooms, participants, region",
    ).set_defaults(handler=_sfu_nodes)
    drain = sfu_sub.add_parser(
        "drain",
        parents=[common],
        help="place no new rooms on a node (every running server, within seconds)",
    )
    drain.add_argument("node", help="the node's id, as `salon sfu nodes` lists it (HOST:PORT)")
    how = drain.add_mutually_exclusive_group()
    how.add_argument("--undrain", action="store_true", help="let the node take rooms again")
    how.add_argument(
        "--move",
        action="store_true",
        help="also move its rooms to other nodes now (their participants reconnect there)",
    )
    drain.set_defaults(handler=_sfu_drain)


def _keys_create(services: Services, args: argparse.Namespace) -> int:
    new = services.orgs.create_api_key(args.org)
    print(f"API key for {args.org} (shown once; store it now, Salon keeps only a hash):")
    print(new.plaintext)
    return 0


def _keys_list(services: Services, args: argparse.Namespace) -> int:
    for key in services.orgs.list_api_keys(args.org):
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        print(f"{key.key_id}  {key.prefix}…  created {key.created_at:%Y-%m-%d %H:%M}  {state}")
    return 0


def _keys_revoke(services: Services, args: argparse.Namespace) -> int:
    key = services.orgs.revoke_api_key(args.key_id)
    print(f"revoked {key.key_id} ({key.prefix}…) of {key.org_name}")
    return 0


def _rotate_master(services: Services, _args: argparse.Namespace) -> int:
    count = services.keyring.rotate_master()
    print(f"new master key {services.keyring.master_key_id}; re-wrapped {count} data keys")
    return 0


def _add_turn_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    turn = sub.add_parser("turn", parents=[common], help="TURN relays (coturn)")
    turn_sub = turn.add_subparsers(dest="turn_command", required=True, metavar="ACTION")
    config = turn_sub.add_parser(
        "config",
        parents=[common],
        help="print coturn's configuration from Salon's settings (secret left out)",
    )
    config.add_argument(
        "--output",
        metavar="FILE",
        help="write it, with the shared secret, to FILE (mode 0600) instead of printing it",
    )
    config.add_argument("--tls-cert", help="PEM certificate coturn serves (default: Salon's)")
    config.add_argument("--tls-key", help="PEM private key for --tls-cert")
    config.add_argument("--turn-mode", help="embedded, external or off")
    config.set_defaults(handler=_turn_config)


def _add_embed_domains_parser(
    org: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    embed = org.add_parser(
        "embed-domains",
        parents=[common],
        help="show or set the sites allowed to embed the organization's rooms",
    )
    embed.add_argument("name")
    embed_change = embed.add_mutually_exclusive_group()
    embed_change.add_argument(
        "--set",
        metavar="ORIGINS",
        help="comma-separated origins, replacing the list: https://app.example.com, "
        "https://*.example.com, http://localhost:3000",
    )
    embed_change.add_argument(
        "--clear", action="store_true", help="empty the list: any site may embed"
    )
    embed.set_defaults(handler=_org_embed_domains)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="where Salon keeps its database, keys and certificate (default ./salon-data)",
    )
    parser = argparse.ArgumentParser(prog="salon", parents=[common], description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the HTTPS server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", help="HTTPS port (default 8443)")
    serve.add_argument("--public-url", help="https:// URL people reach Salon at")
    serve.add_argument("--tls-cert", help="PEM certificate (default: self-signed in data dir)")
    serve.add_argument("--tls-key", help="PEM private key for --tls-cert")
    serve.add_argument("--http-redirect-port", help="also listen in HTTP, only to redirect")
    serve.add_argument(
        "--mode", help="embedded (default; landing page on) or production (landing page off)"
    )
    serve.add_argument(
        "--turn-mode",
        help="embedded (start coturn; default in embedded mode), external (a pool you run), off",
    )
    serve.add_argument(
        "--janus-mode",
        help="embedded (start Janus; default in embedded mode), external (a pool you run), off",
    )
    serve.set_defaults(handler=_serve)

    sub.add_parser("migrate", parents=[common], help="bring the schema up to date").set_defaults(
        handler=_migrate
    )

    org = sub.add_parser("org", parents=[common], help="organizations").add_subparsers(
        dest="org_command", required=True, metavar="ACTION"
    )
    create = org.add_parser("create", parents=[common], help="create an organization")
    create.add_argument("name")
    create.add_argument("--contact-email", help="privacy/security contact (stored encrypted)")
    create.add_argument(
        "--relay-only", action="store_true", help="every participant's media goes through TURN"
    )
    create.set_defaults(handler=_org_create)
    relay = org.add_parser(
        "relay-only",
        parents=[common],
        help="turn the relay-only privacy setting on or off (media always through TURN)",
    )
    relay.add_argument("name")
    relay.add_argument("state", choices=["on", "off"])
    relay.set_defaults(handler=_org_relay_only)
    _add_embed_domains_parser(org, common)
    org.add_parser("list", parents=[common], help="list organizations").set_defaults(
        handler=_org_list
    )
    delete = org.add_parser("delete", parents=[common], help="delete and crypto-shred")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="really delete")
    delete.set_defaults(handler=_org_delete)
    find = org.add_parser("find", parents=[common], help="find by contact email")
    find.add_argument("--email", required=True)
    find.set_defaults(handler=_org_find)

    keys = sub.add_parser("keys", parents=[common], help="API keys and the master key")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    kc = keys_sub.add_parser("create", parents=[common], help="create an API key")
    kc.add_argument("--org", required=True)
    kc.set_defaults(handler=_keys_create)
    kl = keys_sub.add_parser("list", parents=[common], help="list an organization's API keys")
    kl.add_argument("--org", required=True)
    kl.set_defaults(handler=_keys_list)
    kr = keys_sub.add_parser("revoke", parents=[common], help="revoke an API key by id")
    kr.add_argument("key_id")
    kr.set_defaults(handler=_keys_revoke)
    keys_sub.add_parser(
        "rotate-master", parents=[common], help="re-wrap all data keys under a new master key"
    ).set_defaults(handler=_rotate_master)

    _add_turn_parser(sub, common)
    _add_sfu_parser(sub, common)
    _add_privacy_parser(sub, common)
    return parser


def _add_privacy_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    privacy = sub.add_parser("privacy", parents=[common], help="privacy records")
    privacy.add_subparsers(dest="privacy_command", required=True, metavar="ACTION").add_parser(
        "inventory", help="print the data inventory as Markdown"
    ).set_defaults(handler=None)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "privacy":
        sys.stdout.write(render_markdown())
        return 0
    flags = {
        name: getattr(args, name, None)
        for name in (
            "data_dir",
            "host",
            "port",
            "public_url",
            "tls_cert",
            "tls_key",
            "http_redirect_port",
            "mode",
            "turn_mode",
            "janus_mode",
        )
    }
    handler: Callable[[Services, argparse.Namespace], int] = args.handler
    try:
        settings = load_settings(flags=flags)
        _configure_logging(settings)
        services = build_services(settings)
    except SalonError as exc:
        print(f"salon: {exc.message}", file=sys.stderr)
        return 2
    try:
        return handler(services, args)
    except SalonError as exc:
        print(f"salon: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        services.close()


if __name__ == "__main__":
    sys.exit(main())

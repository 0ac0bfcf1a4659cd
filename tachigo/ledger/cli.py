"""Command-line entry points that work on the ledger: reconcile and channel admin."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from tachigo import channels
from tachigo.errors import TachigoError
from tachigo.kafka.producer import RecordProducer
from tachigo.ledger.pool import create_pool
from tachigo.ledger.reconcile import find_violations
from tachigo.settings import Settings


async def reconcile(settings: Settings) -> int:
    """Print every invariant violation; return 1 if there is any, else 0."""
    pool = await create_pool(settings, size_max=2)
    try:
        violations = await find_violations(pool)
        accounts = await pool.fetchval("SELECT count(*) FROM accounts")
        entries = await pool.fetchval("SELECT count(*) FROM ledger_entries")
    finally:
        await pool.close()
    for violation in violations:
        print(f"VIOLATION {violation.check}: {violation.detail}")
    verdict = "clean" if not violations else f"{len(violations)} violation(s)"
    print(f"reconcile: {accounts} accounts, {entries} journal rows: {verdict}")
    return 1 if violations else 0


async def channel_command(settings: Settings, args: argparse.Namespace) -> int:
    """``tachigo channel create|live|offline ID``: writes Postgres and tells the
    worker.
    """
    pool = await create_pool(settings, size_max=2)
    producer = RecordProducer(settings)
    try:
        await producer.start()
        if args.action == "create":
            row = await channels.upsert_channel(
                pool, producer, settings, args.channel_id, changes=channel_changes(args)
            )
            print(
                f"channel {row.channel_id}: {json.dumps(row.settings, sort_keys=True)}"
            )
        else:
            await channels.set_live(
                pool, producer, settings, args.channel_id, online=args.action == "live"
            )
            print(f"channel {args.channel_id} is now {args.action}")
    except TachigoError as error:
        print(f"error [{error.code}]: {error.message}")
        return 2
    finally:
        await producer.stop()
        await pool.close()
    return 0


def channel_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("seconds_per_point", "multiplier", "daily_cap_points", "time_zone"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.no_require_live:
        changes["require_live"] = False
    return changes


async def role_command(settings: Settings, args: argparse.Namespace) -> int:
    """``tachigo role USER_ID ROLE``: audited role change without an admin token."""
    from tachigo.auth.roles import assign_role

    try:
        user_id = uuid.UUID(args.user_id)
    except ValueError:
        print(f"error: {args.user_id!r} is not a UUID; copy the id from GET /users/me")
        return 2
    pool = await create_pool(settings, size_max=1)
    try:
        old, new = await assign_role(
            pool, user_id, args.role, changed_by=None, reason=args.reason
        )
    except TachigoError as error:
        print(f"error [{error.code}]: {error.message}")
        return 2
    finally:
        await pool.close()
    print(f"user {user_id}: role {old} -> {new}")
    return 0

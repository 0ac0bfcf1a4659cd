"""The streamer and agency directory over ``channels``, and the dashboard's stats.

A "streamer" in the Go service's API is a (user, channel) row; here it is a channel
with an owner, and ``streamer_id`` is the id the schema gives each such pairing.
Stats are derived from the journal (DESIGN section 9), never from a second copy.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tachigo import channels
from tachigo.auth.roles import assign_role_in
from tachigo.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from tachigo.kafka.producer import RecordProducer
from tachigo.settings import Settings

STREAMER_COLUMNS = (
    "c.channel_id, c.streamer_id, c.owner_user_id, c.agency_user_id, c.display_name,"
    " c.owner_since, c.updated_at, c.time_zone, c.is_live, c.live_changed_at"
)
# Marker for "leave the agency as it is" (None means "no agency").
KEEP = object()


def streamer_view(row: asyncpg.Record) -> dict[str, Any]:
    """The Go service's streamer object."""
    return {
        "id": str(row["streamer_id"]) if row["streamer_id"] else None,
        "user_id": str(row["owner_user_id"]) if row["owner_user_id"] else None,
        "channel_id": row["channel_id"],
        "display_name": row["display_name"],
        "agency_user_id": str(row["agency_user_id"]) if row["agency_user_id"] else None,
        "created_at": row["owner_since"],
        "updated_at": row["updated_at"],
    }


async def get_channel_owners(
    pool: asyncpg.Pool | asyncpg.Connection, channel_id: str
) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT {STREAMER_COLUMNS} FROM channels c WHERE c.channel_id = $1", channel_id
    )


async def get_streamer(
    pool: asyncpg.Pool, streamer_id: uuid.UUID
) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT {STREAMER_COLUMNS} FROM channels c WHERE c.streamer_id = $1",
        streamer_id,
    )


async def twitch_id_of(
    pool: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID
) -> str | None:
    """The Twitch user id linked to ``user_id`` (a broadcaster's channel id)."""
    found: str | None = await pool.fetchval(
        "SELECT provider_id FROM auth_providers WHERE user_id = $1"
        " AND provider = 'twitch' AND deleted_at IS NULL ORDER BY created_at LIMIT 1",
        user_id,
    )
    return found


async def check_channel_matches_twitch(
    pool: asyncpg.Pool, user_id: uuid.UUID, channel_id: str, *, yours: bool
) -> None:
    """A channel may only be owned by the Twitch account that broadcasts on it.

    Raises:
        ForbiddenError: ``channel_mismatch``.
    """
    if await twitch_id_of(pool, user_id) != channel_id:
        whose = "your" if yours else "the user's"
        raise ForbiddenError(
            f"channel_id does not match {whose} Twitch account; link the "
            "broadcaster's Twitch account first",
            code="channel_mismatch",
            channel_id=channel_id,
        )


async def check_agency(conn: asyncpg.Connection, agency_user_id: uuid.UUID) -> None:
    role = await conn.fetchval(
        "SELECT role FROM users WHERE id = $1 AND deleted_at IS NULL", agency_user_id
    )
    if role != "agency":
        raise ValidationError(
            "agency_user_id must reference an agency user; create it "
            "with POST /api/v1/agencies",
            code="invalid_agency",
            status=400,
            field="agency_user_id",
        )


async def assign_streamer(
    pool: asyncpg.Pool,
    producer: RecordProducer,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    channel_id: str,
    display_name: str | None,
    agency_user_id: uuid.UUID | None | object = KEEP,
    changed_by: uuid.UUID,
    reassign: bool = False,
) -> asyncpg.Record:
    """Make ``user_id`` the owner of ``channel_id`` (registering the channel if new).

    One transaction sets owner, display name and agency and promotes a viewer to
    streamer with an audit row. A new channel's settings reach the worker through
    ``channels.upsert_channel``. Only ``reassign`` (admins) takes a channel from
    another owner.

    Raises:
        ConflictError: another user owns the channel (``channel_owned``).
        ValidationError: ``agency_user_id`` is not an agency.
    """
    if await channels.get_channel(pool, channel_id) is None:
        await channels.upsert_channel(
            pool, producer, settings, channel_id, changes={}, display_name=display_name
        )
    async with pool.acquire() as conn, conn.transaction():
        current = await conn.fetchval(
            "SELECT owner_user_id FROM channels WHERE channel_id = $1 FOR UPDATE",
            channel_id,
        )
        if current not in (None, user_id) and not reassign:
            raise ConflictError(
                "channel is owned by another account; an admin must reassign it",
                code="channel_owned",
                channel_id=channel_id,
            )
        if isinstance(agency_user_id, uuid.UUID):
            await check_agency(conn, agency_user_id)
        await assign_streamer_row(
            conn, channel_id, user_id, display_name, agency_user_id
        )
        await promote_viewer(conn, user_id, channel_id, changed_by=changed_by)
        row = await get_channel_owners(conn, channel_id)
    if row is None:
        raise NotFoundError(f"channel {channel_id} vanished", code="unknown_channel")
    return row


async def assign_streamer_row(
    conn: asyncpg.Connection,
    channel_id: str,
    user_id: uuid.UUID,
    display_name: str | None,
    agency_user_id: uuid.UUID | None | object,
) -> None:
    await conn.execute(
        "UPDATE channels SET owner_user_id = $2,"
        " display_name = coalesce($3, display_name),"
        " agency_user_id = CASE WHEN $4 THEN agency_user_id ELSE $5 END,"
        " updated_at = now() WHERE channel_id = $1",
        channel_id,
        user_id,
        display_name,
        agency_user_id is KEEP,
        agency_user_id if isinstance(agency_user_id, uuid.UUID) else None,
    )


async def promote_viewer(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    channel_id: str,
    *,
    changed_by: uuid.UUID,
) -> None:
    """A viewer who owns a channel becomes a streamer; other roles stay."""
    role = await conn.fetchval("SELECT role FROM users WHERE id = $1", user_id)
    if role == "viewer":
        await assign_role_in(
            conn,
            user_id,
            "streamer",
            changed_by=changed_by,
            reason=f"owner of channel {channel_id}",
        )


_SUMMARY = """
SELECT {columns},
  coalesce((SELECT sum(e.watch_seconds) FROM ledger_entries e
            WHERE e.channel_id = c.channel_id AND e.kind = 'watch'
            AND e.bucket_start >= date_trunc('day', now() AT TIME ZONE 'UTC')
                                  AT TIME ZONE 'UTC'), 0)::bigint AS daily_seconds,
  (SELECT count(*) FROM accounts a WHERE a.channel_id = c.channel_id
   AND a.cumulative > 0) AS unique_miners,
  coalesce((SELECT sum(a.cumulative) FROM accounts a
            WHERE a.channel_id = c.channel_id), 0)::bigint AS total_token_minted
FROM channels c
WHERE c.owner_user_id IS NOT NULL AND ($1::uuid IS NULL OR c.agency_user_id = $1)
ORDER BY c.owner_since, c.channel_id
LIMIT $2 OFFSET $3
"""


async def list_streamers(
    pool: asyncpg.Pool, *, agency_user_id: uuid.UUID | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Owned channels (all, or one agency's) with the Go service's summary fields."""
    rows = await pool.fetch(
        _SUMMARY.format(columns=STREAMER_COLUMNS), agency_user_id, limit, offset
    )
    return [
        streamer_view(r)
        | {
            "daily_seconds": r["daily_seconds"],
            "unique_miners": r["unique_miners"],
            "total_token_minted": r["total_token_minted"],
        }
        for r in rows
    ]


async def list_owned_channels(
    pool: asyncpg.Pool, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {STREAMER_COLUMNS} FROM channels c WHERE c.owner_user_id = $1"
        " ORDER BY c.owner_since, c.channel_id",
        user_id,
    )
    return [streamer_view(r) for r in rows]


_WINDOWS = """
WITH tz AS (SELECT $2::text AS name),
starts AS (
  SELECT date_trunc('day', now() AT TIME ZONE name) AT TIME ZONE name AS day_start,
         date_trunc('month', now() AT TIME ZONE name) AT TIME ZONE name AS month_start,
         date_trunc('year', now() AT TIME ZONE name) AT TIME ZONE name AS year_start
  FROM tz)
SELECT
  coalesce(sum(e.watch_seconds) FILTER (WHERE e.bucket_start >= s.day_start), 0)::bigint
    AS daily_seconds,
  coalesce(sum(e.watch_seconds) FILTER (WHERE e.bucket_start >= s.month_start),
           0)::bigint
    AS monthly_seconds,
  coalesce(sum(e.watch_seconds), 0)::bigint AS yearly_seconds
FROM starts s LEFT JOIN ledger_entries e
  ON e.channel_id = $1 AND e.kind = 'watch' AND e.bucket_start >= s.year_start
"""

_TOTALS = """
SELECT count(*) FILTER (WHERE cumulative > 0) AS unique_miners,
       coalesce(sum(cumulative), 0)::bigint AS total_token_minted,
       coalesce(sum(spendable), 0)::bigint AS spendable_in_circulation
FROM accounts WHERE channel_id = $1
"""

# LIMIT(auth): sessions live in the worker, not in Postgres; the average is per viewer
# and day (watch seconds of one viewer on one local day) until analytics store sessions.
_AVERAGE = """
SELECT coalesce(avg(seconds), 0)::float8 FROM (
  SELECT sum(watch_seconds) AS seconds FROM ledger_entries
  WHERE channel_id = $1 AND kind = 'watch'
    AND bucket_start >= now() - interval '365 days'
  GROUP BY user_id, (bucket_start AT TIME ZONE $2)::date) per_day
"""


async def channel_time_stats(
    pool: asyncpg.Pool, channel: asyncpg.Record
) -> dict[str, Any]:
    """Watch seconds credited today, this month and this year, in the channel's zone,
    plus how long the current stream has been live."""
    row = await pool.fetchrow(_WINDOWS, channel["channel_id"], channel["time_zone"])
    live_s = 0
    if channel["is_live"] and channel["live_changed_at"] is not None:
        live_s = await pool.fetchval(
            "SELECT greatest(0, extract(epoch FROM now() - $1::timestamptz))::bigint",
            channel["live_changed_at"],
        )
    return {
        "current_session_seconds": live_s,
        "daily_seconds": row["daily_seconds"],
        "monthly_seconds": row["monthly_seconds"],
        "yearly_seconds": row["yearly_seconds"],
    }


async def streamer_stats(pool: asyncpg.Pool, channel: asyncpg.Record) -> dict[str, Any]:
    """The Go service's streamer stats object for one owned channel."""
    stats = await channel_time_stats(pool, channel)
    totals = await pool.fetchrow(_TOTALS, channel["channel_id"])
    average = await pool.fetchval(_AVERAGE, channel["channel_id"], channel["time_zone"])
    return stats | dict(totals) | {"avg_session_seconds": average}


async def agency_channels(
    pool: asyncpg.Pool, agency_user_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Channels managed by one agency (``channels.agency_user_id``), oldest first."""
    rows = await pool.fetch(
        f"SELECT {STREAMER_COLUMNS} FROM channels c WHERE c.agency_user_id = $1"
        " ORDER BY c.created_at, c.channel_id",
        agency_user_id,
    )
    return [
        {
            "channel_id": r["channel_id"],
            "user_id": str(r["owner_user_id"]) if r["owner_user_id"] else None,
            "streamer_id": str(r["streamer_id"]) if r["streamer_id"] else None,
            "display_name": r["display_name"],
        }
        for r in rows
    ]


_CONFIG_COLUMNS = (
    "channel_id, seconds_per_point, multiplier, daily_cap_points, require_live,"
    " time_zone, click_boost, ignored_user_ids, daily_airdrop_limit, updated_at"
)


async def channel_config(pool: asyncpg.Pool, channel_id: str) -> dict[str, Any]:
    """The channel's earn settings as the dashboard shows them.

    Raises:
        NotFoundError: ``unknown_channel``.
    """
    row = await pool.fetchrow(
        f"SELECT {_CONFIG_COLUMNS} FROM channels WHERE channel_id = $1", channel_id
    )
    if row is None:
        raise NotFoundError(
            f"channel {channel_id} is not registered", code="unknown_channel"
        )
    return dict(row) | {"ignored_user_ids": list(row["ignored_user_ids"])}


async def update_channel_config(
    pool: asyncpg.Pool,
    producer: RecordProducer,
    settings: Settings,
    channel_id: str,
    changes: dict[str, Any],
) -> None:
    """Apply validated earn-setting changes to an existing channel.

    Settings go through ``channels.upsert_channel``, which persists them and sends a
    settings control record to every heartbeats partition.

    Raises:
        ValidationError: a value out of range.
    """
    if changes:
        await channels.upsert_channel(
            pool, producer, settings, channel_id, changes=changes
        )

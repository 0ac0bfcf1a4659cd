"""The channel directory: earn settings and live state in Postgres, and the control
records that tell the worker about changes (DESIGN section 4, "Time is data")."""

from __future__ import annotations

import functools
import time
import zoneinfo
from dataclasses import dataclass
from typing import Any

import asyncpg

from tachigo.errors import NotFoundError, ValidationError
from tachigo.kafka.producer import RecordProducer
from tachigo.kafka.records import LIVE_CLOCK, SettingsEvent, StreamEvent
from tachigo.settings import Settings

SETTING_FIELDS = (
    "seconds_per_point",
    "multiplier",
    "daily_cap_points",
    "require_live",
    "time_zone",
    "ignored_user_ids",
    "click_boost",
)


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel_id: str
    settings: dict[str, Any]
    is_live: bool


# Names zoneinfo resolves that are not real, portable zones.
_NOT_ZONES = ("localtime", "Factory", "posixrules")


def validate_time_zone(name: str) -> str:
    """Accept canonical IANA zone names only (not ``localtime``, folders or paths).

    Raises:
        ValidationError: ``invalid_time_zone``.
    """
    if (
        name in _zone_names()
        and name not in _NOT_ZONES
        and not name.startswith(("posix/", "right/"))
    ):
        return name
    raise ValidationError(
        f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin",
        code="invalid_time_zone",
        field="time_zone",
    )


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


async def get_channel(
    pool: asyncpg.Pool | asyncpg.Connection, channel_id: str
) -> ChannelRow | None:
    row = await pool.fetchrow(
        "SELECT channel_id, seconds_per_point, multiplier, daily_cap_points,"
        " require_live,"
        " time_zone, ignored_user_ids, click_boost, is_live FROM channels WHERE"
        " channel_id = $1",
        channel_id,
    )
    if row is None:
        return None
    settings = {k: row[k] for k in SETTING_FIELDS}
    settings["ignored_user_ids"] = list(settings["ignored_user_ids"])
    return ChannelRow(row["channel_id"], settings, row["is_live"])


async def upsert_channel(
    pool: asyncpg.Pool,
    producer: RecordProducer,
    settings: Settings,
    channel_id: str,
    *,
    changes: dict[str, Any],
    display_name: str | None = None,
    clock: str = LIVE_CLOCK,
    at_ms: int | None = None,
) -> ChannelRow:
    """Create or update a channel's earn settings and tell every worker partition.

    Produces one ``settings`` control record per ``heartbeats`` partition.

    Raises:
        ValidationError: a setting is out of range.
    """
    unknown = set(changes) - set(SETTING_FIELDS)
    if unknown:
        raise ValidationError(
            f"unknown settings {sorted(unknown)}", code="unknown_field"
        )
    if "time_zone" in changes:
        validate_time_zone(changes["time_zone"])
    columns = ["channel_id", "display_name", *changes]
    values = [channel_id, display_name, *changes.values()]
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    updates = (
        ", ".join(f"{c} = EXCLUDED.{c}" for c in changes)
        or "channel_id = EXCLUDED.channel_id"
    )
    # One writer per channel at a time, from the write to the acked control record:
    # two concurrent changes must reach the worker in the order Postgres saw them.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", channel_id)
        try:
            await conn.execute(
                f"INSERT INTO channels ({', '.join(columns)}) VALUES ({placeholders})"
                f" ON CONFLICT (channel_id) DO UPDATE SET {updates},"
                " updated_at = now()",
                *values,
            )
        except asyncpg.CheckViolationError as error:
            raise ValidationError(
                f"setting out of range: {error.constraint_name}",
                code="invalid_setting",
            ) from error
        row = await get_channel(conn, channel_id)
        assert row is not None  # just written in this transaction; not a ledger rule
        snapshot = {
            **row.settings,
            "ignored_user_ids": await ignored_ids_both_ways(
                conn, row.settings["ignored_user_ids"]
            ),
        }
        event = SettingsEvent(
            channel_id, snapshot, at_ms or int(time.time() * 1000), clock
        )
        await producer.send_to_every_partition(settings.kafka.heartbeats_topic, event)
    return row


async def ignored_ids_both_ways(
    conn: asyncpg.Connection, ignored: list[str]
) -> list[str]:
    """Streamers list Twitch ids; heartbeats carry our user id (and the Twitch id only
    when the token has it). Send the worker both forms."""
    if not ignored:
        return []
    ours = await conn.fetch(
        "SELECT user_id::text AS id FROM auth_providers WHERE provider = 'twitch'"
        " AND provider_id = ANY($1::text[]) AND deleted_at IS NULL",
        ignored,
    )
    return sorted({*ignored, *(r["id"] for r in ours)})


async def set_live(
    pool: asyncpg.Pool,
    producer: RecordProducer,
    settings: Settings,
    channel_id: str,
    *,
    online: bool,
    stream_id: str | None = None,
    at_ms: int | None = None,
    clock: str = LIVE_CLOCK,
) -> bool:
    """Record a stream going online/offline and fan it out to every worker partition.

    ``at_ms`` is when it happened (default: now). An event older than the last one
    applied to the channel is ignored and ``False`` returned.

    Produces the event on ``stream-events`` (key: channel) and on each ``heartbeats``
    partition, so the worker judges heartbeats against it in arrival order.

    Raises:
        NotFoundError: the channel is not registered.
    """
    changed_at_ms = at_ms or int(time.time() * 1000)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", channel_id)
        current = await conn.fetchrow(
            "SELECT live_changed_at FROM channels WHERE channel_id = $1", channel_id
        )
        if current is None:
            raise NotFoundError(
                f"channel {channel_id} is not registered; create it first",
                code="unknown_channel",
                channel_id=channel_id,
            )
        seen = current["live_changed_at"]
        if seen is not None and seen.timestamp() * 1000 > changed_at_ms:
            return (
                False  # an older event arriving late (Twitch retries) changes nothing
            )
        await conn.execute(
            "UPDATE channels SET is_live = $2, stream_id = $3,"
            " live_changed_at = to_timestamp($4::double precision / 1000),"
            " updated_at = now() WHERE channel_id = $1",
            channel_id,
            online,
            stream_id,
            changed_at_ms,
        )
        event = StreamEvent(channel_id, online, changed_at_ms, stream_id, clock)
        await producer.send(settings.kafka.stream_events_topic, event, key=channel_id)
        await producer.send_to_every_partition(settings.kafka.heartbeats_topic, event)
    return True

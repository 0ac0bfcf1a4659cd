"""The replay's Postgres reads and writes: its accounts and channels, and the totals the
worker credited to them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from tachigo.channels import SETTING_FIELDS
from tachigo.replay.expected import ChannelTotals
from tachigo.replay.schedule import REPLAY_PROVIDER, Schedule, provider_id_for

# Rows per executemany call; 1,600 viewers fit in one, the bound keeps any run sane.
INSERT_BATCH_ROWS_MAX = 5_000
# Generous: a full 43-day replay sums a few hundred thousand journal rows.
QUERY_TIMEOUT_S = 60.0


async def register_accounts(pool: asyncpg.Pool, schedule: Schedule) -> None:
    """Insert the replay's users, their 'replay' identities and its channels.

    Idempotent: every insert is ``ON CONFLICT DO NOTHING``. Channels get the default
    earn settings. One identity per user, so the identity row reuses the user id.
    """
    user_rows = [
        (uuid.UUID(user_id), f"{schedule.name} viewer {code}")
        for code, user_id in schedule.user_ids.items()
    ]
    provider_rows = [
        (
            uuid.UUID(user_id),
            uuid.UUID(user_id),
            REPLAY_PROVIDER,
            provider_id_for(schedule.name, code),
        )
        for code, user_id in schedule.user_ids.items()
    ]
    channel_rows = [
        (channel_id, f"{schedule.name} channel {code}")
        for code, channel_id in schedule.channel_ids.items()
    ]
    async with pool.acquire() as conn, conn.transaction(isolation="read_committed"):
        await register_accounts_insert(
            conn, "INSERT INTO users (id, display_name) VALUES ($1, $2)", user_rows
        )
        await register_accounts_insert(
            conn,
            "INSERT INTO auth_providers (id, user_id, provider, provider_id)"
            " VALUES ($1, $2, $3, $4)",
            provider_rows,
        )
        await register_accounts_insert(
            conn,
            "INSERT INTO channels (channel_id, display_name) VALUES ($1, $2)",
            channel_rows,
        )


async def register_accounts_insert(
    conn: asyncpg.Connection, sql: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    for first in range(0, len(rows), INSERT_BATCH_ROWS_MAX):
        await conn.executemany(
            f"{sql} ON CONFLICT DO NOTHING",
            rows[first : first + INSERT_BATCH_ROWS_MAX],
            timeout=QUERY_TIMEOUT_S,
        )


async def load_channel_settings(
    pool: asyncpg.Pool, channel_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Return channel id -> settings snapshot, shaped like ``get_channel``'s."""
    rows = await pool.fetch(
        f"SELECT channel_id, {', '.join(SETTING_FIELDS)} FROM channels"
        " WHERE channel_id = ANY($1::text[])",
        list(channel_ids),
        timeout=QUERY_TIMEOUT_S,
    )
    snapshots = {}
    for row in rows:
        snapshot = {k: row[k] for k in SETTING_FIELDS}
        snapshot["ignored_user_ids"] = list(snapshot["ignored_user_ids"])
        snapshots[row["channel_id"]] = snapshot
    return snapshots


async def fetch_credited(
    pool: asyncpg.Pool, channel_ids: Sequence[str]
) -> dict[str, ChannelTotals]:
    """Return channel id -> watch points, seconds and journal rows (buckets)."""
    rows = await pool.fetch(
        "SELECT channel_id, sum(delta_cumulative) AS points,"
        " sum(watch_seconds) AS seconds,"
        " count(*) AS buckets FROM ledger_entries"
        " WHERE kind = 'watch' AND channel_id = ANY($1::text[]) GROUP BY channel_id",
        list(channel_ids),
        timeout=QUERY_TIMEOUT_S,
    )
    return {
        r["channel_id"]: ChannelTotals(
            int(r["seconds"]), int(r["points"]), int(r["buckets"])
        )
        for r in rows
    }


async def fetch_rejections(
    pool: asyncpg.Pool, channel_ids: Sequence[str]
) -> dict[str, int]:
    """Return reason -> heartbeats the worker rejected on these channels."""
    rows = await pool.fetch(
        "SELECT reason, sum(count) AS n FROM watch_rejections"
        " WHERE channel_id = ANY($1::text[]) GROUP BY reason",
        list(channel_ids),
        timeout=QUERY_TIMEOUT_S,
    )
    return {r["reason"]: int(r["n"]) for r in rows}


def unsupported_settings(snapshots: Mapping[str, dict[str, Any]]) -> list[str]:
    """Channels with settings the replay's check does not model (caps, ignores)."""
    return sorted(
        channel_id
        for channel_id, s in snapshots.items()
        if s.get("daily_cap_points") or s.get("ignored_user_ids")
    )

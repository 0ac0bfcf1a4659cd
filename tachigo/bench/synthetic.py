"""Synthetic viewers and channels for the benchmarks (fresh ids on every run)."""

from __future__ import annotations

import uuid

import asyncpg

from tachigo import channels
from tachigo.kafka.producer import RecordProducer
from tachigo.settings import Settings

# COPY is one round trip per call; 50,000 rows keep one call's memory small.
COPY_ROWS_MAX = 50_000


async def insert_viewers(
    pool: asyncpg.Pool, count: int, *, label: str
) -> list[uuid.UUID]:
    """Insert ``count`` new users (role viewer); return their ids."""
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [(user_id, f"{label} viewer") for user_id in ids]
    async with pool.acquire() as conn:
        for first in range(0, len(rows), COPY_ROWS_MAX):
            await conn.copy_records_to_table(
                "users",
                records=rows[first : first + COPY_ROWS_MAX],
                columns=["id", "display_name"],
                timeout=60,
            )
    return ids


async def register_channels(
    pool: asyncpg.Pool,
    producer: RecordProducer,
    settings: Settings,
    *,
    prefix: str,
    count: int,
    clock: str,
    at_ms: int | None = None,
) -> list[str]:
    """Create ``count`` channels that earn without being live (``require_live`` false).

    Each one's settings go to every heartbeats partition under ``clock``.
    """
    channel_ids = [f"{prefix}-ch{n}" for n in range(count)]
    for channel_id in channel_ids:
        await channels.upsert_channel(
            pool,
            producer,
            settings,
            channel_id,
            changes={"require_live": False},
            display_name=f"{prefix} channel",
            clock=clock,
            at_ms=at_ms,
        )
    return channel_ids

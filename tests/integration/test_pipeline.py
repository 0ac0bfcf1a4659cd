"""Heartbeats through the real Kafka and the real Faust worker into the real ledger."""

from __future__ import annotations

import secrets
import uuid

import pytest

from tachigo import channels
from tachigo.kafka import records
from tachigo.ledger import repository
from tests.integration.helpers import eventually, read_topic

pytestmark = pytest.mark.integration

BUCKET_MS = 300_000


async def make_users(pool, n: int) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(n)]
    await pool.executemany("INSERT INTO users (id) VALUES ($1)", [(u,) for u in users])
    return users


async def make_channel(
    pool, producer, settings, *, clock: str, require_live: bool
) -> str:
    channel_id = f"ch-{secrets.token_hex(4)}"
    await channels.upsert_channel(
        pool,
        producer,
        settings,
        channel_id,
        changes={"require_live": require_live},
        clock=clock,
        at_ms=0,
    )
    return channel_id


def watch(users, channel_id: str, *, start_ms: int, beats: int, clock: str):
    return [
        records.Heartbeat(str(u), channel_id, start_ms + k * 30_000, clock=clock)
        for k in range(beats)
        for u in users
    ]


async def send_all(producer, settings, items) -> None:
    topic = settings.kafka.heartbeats_topic
    parts = await producer.partitions(topic)
    batch = []
    for item in items:
        if isinstance(item, records.Heartbeat):
            batch.append((item.user_id, None, item))
        else:
            batch.extend((None, p, item) for p in parts)
    await producer.send_many(topic, batch)


async def test_heartbeats_become_points_in_the_ledger(pool, producer, settings, worker):
    clock = f"test:{secrets.token_hex(4)}"
    users = await make_users(pool, 3)
    channel_id = await make_channel(
        pool, producer, settings, clock=clock, require_live=True
    )
    start_ms = 1_000 * BUCKET_MS  # bucket aligned
    online = records.StreamEvent(channel_id, True, start_ms - 1, "s1", clock)
    beats = watch(users, channel_id, start_ms=start_ms, beats=25, clock=clock)
    await send_all(
        producer,
        settings,
        [online, *beats, records.Tick(start_ms + 3 * BUCKET_MS + 61_000, clock)],
    )

    # 24 credited heartbeats x 30 s = 720 s -> 12 points each, over three buckets.
    async def all_credited():
        balances = [await repository.get_balance(pool, u, channel_id) for u in users]
        return all(b.cumulative == 12 for b in balances) and balances

    balances = await eventually(all_credited, what="12 points per viewer")
    assert all(b.spendable == 12 for b in balances)
    rows = await pool.fetch(
        "SELECT watch_seconds FROM ledger_entries WHERE channel_id = $1", channel_id
    )
    assert sorted(r["watch_seconds"] for r in rows) == sorted([270, 300, 150] * 3)


async def test_offline_channel_heartbeats_earn_nothing_and_are_counted(
    pool, producer, settings, worker
):
    clock = f"test:{secrets.token_hex(4)}"
    users = await make_users(pool, 1)
    channel_id = await make_channel(
        pool, producer, settings, clock=clock, require_live=True
    )
    start_ms = 2_000 * BUCKET_MS
    beats = watch(users, channel_id, start_ms=start_ms, beats=12, clock=clock)
    await send_all(
        producer, settings, [*beats, records.Tick(start_ms + 10 * BUCKET_MS, clock)]
    )

    async def counted():
        return await pool.fetchval(
            "SELECT coalesce(sum(count), 0) FROM watch_rejections WHERE channel_id = $1"
            " AND reason = 'channel_offline'",
            channel_id,
        )

    async def all_counted():
        return await counted() >= 12

    await eventually(all_counted, what="12 offline rejections")
    assert await counted() == 12
    assert (await repository.get_balance(pool, users[0], channel_id)).cumulative == 0


async def test_poison_record_is_dead_lettered_and_later_heartbeats_still_credit(
    pool, producer, settings, worker
):
    clock = f"test:{secrets.token_hex(4)}"
    users = await make_users(pool, 1)
    channel_id = await make_channel(
        pool, producer, settings, clock=clock, require_live=False
    )
    poison = b'{"kind": "hb", "user_id": 5}' + secrets.token_hex(4).encode()
    await producer._producer.send_and_wait(
        settings.kafka.heartbeats_topic, poison, key=str(users[0]).encode()
    )
    start_ms = 3_000 * BUCKET_MS
    beats = watch(users, channel_id, start_ms=start_ms, beats=11, clock=clock)
    await send_all(
        producer, settings, [*beats, records.Tick(start_ms + 3 * BUCKET_MS, clock)]
    )

    async def credited():
        return (
            await repository.get_balance(pool, users[0], channel_id)
        ).cumulative == 5

    await eventually(credited, what="5 points after the poison record")
    dead = [
        records.decode(m.value)
        for m in await read_topic(settings, settings.kafka.dead_letters_topic)
    ]
    assert [d.error_code for d in dead if d.value == poison.decode()] == ["undecodable"]

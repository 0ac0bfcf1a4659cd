"""``tachigo replay --no-wait`` writes its records to the real Kafka and Postgres."""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from typing import Any

import asyncpg
import pytest

from tachigo.__main__ import build_parser
from tachigo.kafka import records
from tachigo.replay import schedule as sc
from tachigo.replay.cli import plan_schedule, read_options, run_replay
from tachigo.replay.store import load_channel_settings
from tachigo.settings import Settings
from tests.integration.helpers import read_topic

pytestmark = pytest.mark.integration


def replay_args(name: str, *extra: str) -> Any:
    return build_parser().parse_args(
        [
            "replay",
            "--users",
            "12",
            "--days",
            "0.2",
            "--start-day",
            "3",
            "--name",
            name,
            *extra,
        ]
    )


async def read_clock(
    settings: Settings, topic: str, clock: str
) -> list[tuple[int, Any]]:
    """(partition, record) of each record of ``clock`` on ``topic``, in offset order."""
    messages = await read_topic(settings, topic)
    messages.sort(key=lambda m: (m.partition, m.offset))
    found = [(m.partition, decode_or_none(m.value)) for m in messages]
    return [(p, r) for p, r in found if getattr(r, "clock", None) == clock]


def decode_or_none(value: bytes) -> object:
    """Other tests of the session write poison records to the same topic; skip them."""
    try:
        return records.decode(value)
    except records.RecordFormatError:
        return None


async def test_replay_without_wait_writes_every_record_to_the_right_partitions(
    settings: Settings,
    pool: asyncpg.Pool,
    topics: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"it-{secrets.token_hex(3)}"
    args = replay_args(name, "--no-wait")

    assert await run_replay(settings, args) == 0

    schedule = plan_schedule(settings, read_options(args))
    counts = schedule.counts()
    written = await read_clock(
        settings, settings.kafka.heartbeats_topic, schedule.clock
    )
    partitions = sorted({p for p, _ in written})
    assert len(partitions) == settings.kafka.heartbeat_partitions
    # 1. Control records reach every partition exactly once each.
    for partition in partitions:
        kinds = Counter(r.kind for p, r in written if p == partition and r.kind != "hb")
        assert kinds == {
            "stream": counts.stream_events,
            "settings": counts.settings,
            "tick": counts.ticks,
        }
    # 2. Each viewer's heartbeats sit on one partition; none is missing or doubled.
    viewer_partitions: dict[str, set[int]] = defaultdict(set)
    for partition, record in written:
        if record.kind == "hb":
            viewer_partitions[record.user_id].add(partition)
    assert all(len(parts) == 1 for parts in viewer_partitions.values())
    assert sum(r.kind == "hb" for _, r in written) == counts.heartbeats
    # 3. Each partition holds the schedule's order, restricted to its viewers.
    snapshots = await load_channel_settings(pool, list(schedule.channel_ids.values()))
    in_order = list(sc.iter_records(schedule, settings_by_channel=snapshots))
    for partition in partitions:
        on_partition = [r for p, r in written if p == partition]
        wanted = [
            r
            for r in in_order
            if not isinstance(r, records.Heartbeat)
            or viewer_partitions[r.user_id] == {partition}
        ]
        assert on_partition == wanted
    assert "records written; not waiting" in capsys.readouterr().out


async def test_replay_registers_viewers_channels_and_stream_events(
    settings: Settings,
    pool: asyncpg.Pool,
    topics: list[str],
) -> None:
    name = f"it-{secrets.token_hex(3)}"
    args = replay_args(name, "--no-wait")

    assert await run_replay(settings, args) == 0
    assert await run_replay(settings, args) == 0  # accounts are inserted idempotently

    schedule = plan_schedule(settings, read_options(args))
    users = await pool.fetch(
        "SELECT u.id, a.provider_id FROM users u"
        " JOIN auth_providers a ON a.user_id = u.id"
        " WHERE a.provider = 'replay' AND a.provider_id LIKE $1",
        f"{name}:%",
    )
    assert {str(r["id"]) for r in users} == set(schedule.user_ids.values())
    assert {r["provider_id"] for r in users} == {
        sc.provider_id_for(name, c) for c in schedule.user_ids
    }
    snapshots = await load_channel_settings(pool, list(schedule.channel_ids.values()))
    assert set(snapshots) == set(schedule.channel_ids.values())
    assert all(s["require_live"] for s in snapshots.values())
    stream = await read_clock(
        settings, settings.kafka.stream_events_topic, schedule.clock
    )
    assert len(stream) == 2 * schedule.counts().stream_events

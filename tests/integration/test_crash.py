"""Kill the worker with SIGKILL in the middle of a replay of real data, restart it, and
prove that no credit is lost or applied twice."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import asyncpg
import pytest

from tachigo.__main__ import build_parser
from tachigo.ledger.reconcile import find_violations
from tachigo.replay import check, store
from tachigo.replay.cli import expected_limits, plan_schedule, read_options, run_replay
from tachigo.replay.expected import expected_totals
from tachigo.replay.schedule import iter_records
from tachigo.settings import Settings
from tests.integration.conftest import WorkerProcess
from tests.integration.helpers import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = 2


async def journal_rows(pool: asyncpg.Pool, channel_ids: list[str]) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE channel_id = ANY($1::text[])",
        channel_ids,
    )
    return count


async def test_worker_killed_mid_replay_credits_everything_exactly_once(
    settings: Settings,
    pool: asyncpg.Pool,
    test_env: dict[str, str],
    database: str,
    topics: list[str],
    tmp_path: Path,
) -> None:
    worker = WorkerProcess(test_env, tmp_path / "worker.log", supervised=False)
    worker.start()
    try:
        await worker.wait_ready()
        await kill_during_replay_and_check(settings, pool, worker)
    finally:
        worker.stop()


async def kill_during_replay_and_check(
    settings: Settings, pool: asyncpg.Pool, worker: WorkerProcess
) -> None:
    args = build_parser().parse_args(
        [
            "replay",
            "--users",
            "500",
            "--days",
            "1",
            "--start-day",
            "3",
            "--name",
            f"crash-{secrets.token_hex(3)}",
            "--no-wait",
        ]
    )
    schedule = await asyncio.to_thread(plan_schedule, settings, read_options(args))
    channel_ids = list(schedule.channel_ids.values())

    # 1. Write the whole replay while the worker runs; kill it with SIGKILL as soon as
    #    credits start to land, restart it, and do that again.
    writing = asyncio.create_task(run_replay(settings, args))
    killed_at_rows = []
    for _ in range(KILLS):
        seen = await journal_rows(pool, channel_ids)

        async def more_credited(seen: int = seen) -> bool:
            return await journal_rows(pool, channel_ids) > seen

        await eventually(more_credited, timeout_s=120, what="new credits before a kill")
        worker.kill()
        killed_at_rows.append(await journal_rows(pool, channel_ids))
        worker.start()
        await worker.wait_ready()
    assert await writing == 0

    # 2. The expected totals, computed straight from the schedule.
    snapshots = await store.load_channel_settings(pool, channel_ids)
    expected = await asyncio.to_thread(
        expected_totals,
        iter_records(schedule, settings_by_channel=snapshots),
        limits=expected_limits(settings),
    )
    assert killed_at_rows[-1] < expected.buckets, "the kills came after the last credit"

    # 3. Everything is credited exactly once and the ledger reconciles.
    async def all_credited() -> check.Observed | None:
        observed = await check.observe(pool, channel_ids)
        return observed if observed.buckets >= expected.buckets else None

    observed = await eventually(
        all_credited, timeout_s=300, what="every bucket credited"
    )
    assert (observed.points, observed.seconds, observed.buckets) == (
        expected.points,
        expected.seconds,
        expected.buckets,
    )
    assert observed.channels == {
        k: v for k, v in expected.channels.items() if v.buckets
    }
    assert await journal_rows(pool, channel_ids) == expected.buckets
    assert await find_violations(pool) == []

"""A replay through the real worker: the ledger matches the expected totals, and
running the same replay again changes nothing and still passes its check."""

from __future__ import annotations

import secrets

import asyncpg
import pytest

from tachigo.__main__ import build_parser
from tachigo.replay.cli import plan_schedule, read_options, run_replay
from tachigo.settings import Settings
from tests.integration.conftest import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def journal_rows(pool: asyncpg.Pool, channel_ids: list[str]) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE channel_id = ANY($1::text[])",
        channel_ids,
    )
    return count


async def test_replay_credits_the_expected_totals_and_a_second_run_adds_nothing(
    settings: Settings,
    pool: asyncpg.Pool,
    worker: WorkerProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"e2e-{secrets.token_hex(3)}"
    args = build_parser().parse_args(
        [
            "replay",
            "--users",
            "25",
            "--days",
            "0.25",
            "--start-day",
            "5",
            "--name",
            name,
            "--timeout",
            "180",
        ]
    )
    channel_ids = list(plan_schedule(settings, read_options(args)).channel_ids.values())

    first = await run_replay(settings, args)
    first_out = capsys.readouterr().out
    rows_after_first = await journal_rows(pool, channel_ids)
    second = await run_replay(settings, args)
    second_out = capsys.readouterr().out

    assert first == 0, first_out + worker.tail()
    assert "run kind: fresh" in first_out and "result: OK" in first_out
    assert rows_after_first > 0
    assert second == 0, second_out + worker.tail()
    assert "run kind: repeat" in second_out and "result: OK" in second_out
    assert await journal_rows(pool, channel_ids) == rows_after_first

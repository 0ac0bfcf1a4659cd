"""``tachigo replay``: write a window of the real sessions data set into Kafka, wait for
the worker to credit it, and check the ledger against the expected totals."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from tachigo.errors import TachigoError
from tachigo.kafka.producer import RecordProducer
from tachigo.ledger.pool import create_pool
from tachigo.ledger.reconcile import Violation, find_violations
from tachigo.replay import check, store
from tachigo.replay.errors import ReplayError
from tachigo.replay.expected import ExpectedLimits, ExpectedTotals, expected_totals
from tachigo.replay.offsets import OffsetReader
from tachigo.replay.progress import ProgressBar
from tachigo.replay.schedule import (
    Schedule,
    build_schedule,
    default_name,
    iter_records,
    read_rows,
    select_rows,
)
from tachigo.replay.writer import ChunkedSender, Destinations, write_records
from tachigo.settings import Settings

DATA_RELATIVE_PATH = Path("shared/data/twitch-sessions/twitch105k_1600users.csv.gz")
# The replay needs one connection for writes and one for polling; four leaves slack.
POOL_SIZE_MAX = 4
# One extra tick past the last bucket's grace, so the final sweep is strictly after it.
FINAL_TICK_EXTRA_S = 60


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    data: Path
    days: float
    start_day: int
    users_max: int
    speed: float
    seed: int
    name: str
    timeout_s: float
    wait: bool


def default_data_path() -> Path:
    """The data set beside the repository (``../shared``), else beside the cwd.

    Raises:
        ReplayError: neither place has the file.
    """
    repo_root = Path(__file__).resolve().parents[2]
    candidates = [
        repo_root.parent / DATA_RELATIVE_PATH,
        Path.cwd().parent / DATA_RELATIVE_PATH,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ReplayError(
        f"sessions data not found at {candidates[0]}; pass --data PATH",
        code="replay_bad_data",
    )


def read_options(args: argparse.Namespace) -> ReplayOptions:
    """Validate the command line.

    Raises:
        ReplayError: an option is out of range or the data file is missing.
    """
    if args.days <= 0 or args.start_day < 0 or args.users < 0 or args.speed < 0:
        raise ReplayError(
            "--days must be > 0 and --start-day, --users, --speed >= 0",
            code="replay_bad_option",
        )
    if args.timeout <= 0:
        raise ReplayError("--timeout must be > 0 seconds", code="replay_bad_option")
    data = Path(args.data) if args.data else default_data_path()
    name = args.name or default_name(
        data,
        seed=args.seed,
        start_day=args.start_day,
        days=args.days,
        users_max=args.users,
    )
    return ReplayOptions(
        data=data,
        days=args.days,
        start_day=args.start_day,
        users_max=args.users,
        speed=args.speed,
        seed=args.seed,
        name=name,
        timeout_s=args.timeout,
        wait=not args.no_wait,
    )


def plan_schedule(settings: Settings, options: ReplayOptions) -> Schedule:
    """Read, select and schedule the rows (CPU work: run it in a thread)."""
    rows = select_rows(
        read_rows(options.data),
        start_day=options.start_day,
        days=options.days,
        users_max=options.users_max,
    )
    watch = settings.watch
    margin_ms = (watch.bucket_s + watch.grace_s + FINAL_TICK_EXTRA_S) * 1000
    return build_schedule(
        rows, name=options.name, seed=options.seed, close_margin_ms=margin_ms
    )


def expected_limits(settings: Settings) -> ExpectedLimits:
    watch = settings.watch
    return ExpectedLimits(
        min_gap_s=watch.min_gap_s,
        max_credit_s=watch.max_credit_s,
        session_gap_s=watch.session_gap_s,
        bucket_s=watch.bucket_s,
    )


async def run_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``tachigo replay``; 0 when written and (unless --no-wait) verified."""
    try:
        options = read_options(args)
        schedule = await asyncio.to_thread(plan_schedule, settings, options)
        print(describe_schedule(schedule, options))
        pool = await create_pool(settings, size_max=POOL_SIZE_MAX)
        try:
            return await run_replay_with_pool(settings, options, schedule, pool)
        finally:
            await pool.close()
    except TachigoError as error:
        print(f"replay failed: {error.message}", file=sys.stderr)
        return 2


async def run_replay_with_pool(
    settings: Settings, options: ReplayOptions, schedule: Schedule, pool: asyncpg.Pool
) -> int:
    producer, offsets = RecordProducer(settings), OffsetReader(settings)
    await producer.start()
    try:
        await offsets.start()
        try:
            return await replay(settings, options, schedule, pool, producer, offsets)
        finally:
            await offsets.stop()
    finally:
        await producer.stop()


async def replay(
    settings: Settings,
    options: ReplayOptions,
    schedule: Schedule,
    pool: asyncpg.Pool,
    producer: RecordProducer,
    offsets: OffsetReader,
) -> int:
    # 1. Accounts and channels, then the settings every channel's records will carry.
    channel_ids = list(schedule.channel_ids.values())
    await store.register_accounts(pool, schedule)
    snapshots = await store.load_channel_settings(pool, channel_ids)
    refuse_unsupported(snapshots)
    if not options.wait:
        await write_run(settings, options, schedule, snapshots, producer, offsets)
        print("records written; not waiting for the worker (--no-wait)")
        return 0

    # 2. Expected totals and the ledger before writing (tells fresh from repeat runs).
    expected = await asyncio.to_thread(
        expected_totals,
        iter_records(schedule, settings_by_channel=snapshots),
        limits=expected_limits(settings),
    )
    baseline = await check.observe(pool, channel_ids)
    kind = check.classify_run(baseline, expected)

    # 3. Write every record in order; remember where this run's messages sit.
    progress = await write_run(
        settings, options, schedule, snapshots, producer, offsets
    )

    # 4. Wait for the worker, then compare, reconcile and report.
    observed, share = await check.wait_for_worker(
        pool,
        offsets,
        kind=kind,
        expected=expected,
        baseline=baseline,
        channel_ids=channel_ids,
        progress=progress,
        timeout_s=options.timeout_s,
    )
    violations = await find_violations(pool)
    return report(
        kind,
        expected,
        baseline=baseline,
        observed=observed,
        share=share,
        violations=violations,
    )


async def write_run(
    settings: Settings,
    options: ReplayOptions,
    schedule: Schedule,
    snapshots: dict[str, dict[str, object]],
    producer: RecordProducer,
    offsets: OffsetReader,
) -> check.WorkerProgress:
    """Write the schedule; return where its heartbeats topic messages sit."""
    topic = settings.kafka.heartbeats_topic
    partitions = await producer.partitions(topic)
    start = await offsets.end_offsets(topic, partitions)
    await write_schedule(settings, options, schedule, snapshots, producer, partitions)
    end = await offsets.end_offsets(topic, partitions)
    return check.WorkerProgress(settings.kafka.app_id, topic, start, end)


def refuse_unsupported(snapshots: dict[str, dict[str, object]]) -> None:
    """Raises ``ReplayError`` if a channel uses settings the expected totals ignore."""
    odd = store.unsupported_settings(snapshots)
    if odd:
        raise ReplayError(
            f"{len(odd)} replay channel(s) have a daily cap or ignore list (first: "
            f"{odd[0]}), which the replay's check does not model; use another --name",
            code="replay_unsupported_settings",
        )


async def write_schedule(
    settings: Settings,
    options: ReplayOptions,
    schedule: Schedule,
    snapshots: dict[str, dict[str, object]],
    producer: RecordProducer,
    partitions: list[int],
) -> None:
    counts = schedule.counts()
    total = counts.messages(partitions=len(partitions))
    progress = ProgressBar(total, label="replay", unit="messages")
    destinations = Destinations(
        settings.kafka.heartbeats_topic,
        settings.kafka.stream_events_topic,
        tuple(partitions),
    )
    sender = ChunkedSender(producer, destinations, progress)
    started = time.monotonic()
    sent = await write_records(
        sender,
        iter_records(schedule, settings_by_channel=snapshots),
        speed=options.speed,
        first_ms=schedule.first_ms,
    )
    progress.finish()
    elapsed_s = time.monotonic() - started
    print(
        f"wrote {sent:,} Kafka messages in {elapsed_s:.1f}s "
        f"({sent / max(elapsed_s, 1e-9):,.0f}/s): "
        f"{counts.heartbeats:,} heartbeats; {counts.stream_events:,} stream events, "
        f"{counts.settings:,} settings and {counts.ticks:,} ticks to each of "
        f"{len(partitions)} partitions; clock {schedule.clock}"
    )


def describe_schedule(schedule: Schedule, options: ReplayOptions) -> str:
    first = datetime.fromtimestamp(schedule.first_ms / 1000, tz=UTC)
    last = datetime.fromtimestamp(schedule.last_ms / 1000, tz=UTC)
    return (
        f"replay {schedule.name}: {len(schedule.sessions):,} sessions of "
        f"{len(schedule.user_ids):,} viewers in "
        f"{len(schedule.channel_ids):,} channels, "
        f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC (nominal), "
        f"seed {options.seed}, data {options.data.name}"
    )


def report(
    kind: str,
    expected: ExpectedTotals,
    *,
    baseline: check.Observed,
    observed: check.Observed,
    share: float | None,
    violations: list[Violation],
) -> int:
    """Print the summary; 0 only if every figure matches and reconcile is clean."""
    rows = check.compare(kind, expected, baseline=baseline, observed=observed)
    lines = ["", *check.format_channel_table(expected, observed), ""]
    lines.append(
        "rejections by reason (this run): "
        + check.format_rejections(check.rejection_delta(baseline, observed))
    )
    lines.append(
        f"run kind: {kind}; {expected.heartbeats:,} heartbeats, "
        f"{expected.accepted:,} expected accepted"
    )
    if kind == "resumed":
        lines.append(
            "note: an earlier run of this replay stopped part-way, so rejection "
            "counts mix both runs and are not checked"
        )
    lines.extend(["", *check.format_comparisons(rows), ""])
    lines.extend(check.format_violations(violations))
    hints = check.advice(rows, share)
    is_ok = not hints and not violations
    lines.append("result: OK" if is_ok else "result: FAILED")
    lines.extend(f"  hint: {hint}" for hint in hints)
    print("\n".join(lines))
    return 0 if is_ok else 1

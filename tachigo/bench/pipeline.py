"""``tachigo bench pipeline``: heartbeats per second through the watch agent, and the
time from a bucket's close to its credit being readable in the ledger.

1. Synthetic viewers and channels (require_live false) under a fresh ``bench:`` clock.
2. All heartbeats, with a tick every 60 s of bench time, produced as fast as Kafka
   takes them; the worker's throughput is heartbeats over the time from the first
   produce until its consumer group has committed every offset we wrote.
3. One final tick, written at wall time t0, closes every viewer's last bucket; the
   journal's ``created_at`` of those credits minus t0 is the close-to-balance latency.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from tachigo.bench.errors import BenchError
from tachigo.bench.machine import describe_machine, percentile, verdict
from tachigo.bench.synthetic import insert_viewers, register_channels
from tachigo.kafka.producer import RecordProducer
from tachigo.ledger.pool import create_pool
from tachigo.replay.offsets import OffsetReader
from tachigo.rules import credit_id
from tachigo.settings import Settings

CHANNELS = 100
BEATS_PER_VIEWER_MIN = 4
BEAT_INTERVAL_MS = 30_000
TICK_INTERVAL_MS = 60_000
# Bench time starts at a bucket boundary far from the replay's 2019 and from now.
BENCH_EPOCH_MS = 1_700_000_100_000 // 300_000 * 300_000
POLL_INTERVAL_S = 0.05
WAIT_MAX_S = 600.0
TARGET_HEARTBEATS_PER_S = 30_000
TARGET_P99_S = 2.0


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """Viewer i watches channel i mod 100 and beats every 30 s at i mod 30 seconds."""

    clock: str
    viewers: list[uuid.UUID]
    channel_ids: list[str]
    partitions: list[int]
    beats_per_viewer: int

    def channel_of(self, index: int) -> str:
        return self.channel_ids[index % len(self.channel_ids)]

    @property
    def last_beat_ms(self) -> int:
        return BENCH_EPOCH_MS + (self.beats_per_viewer - 1) * BEAT_INTERVAL_MS + 29_000

    def last_bucket_s(self, bucket_s: int) -> int:
        """Every viewer's last beat falls in this bucket: beats are 30-s aligned plus
        under 30 s, and buckets are whole multiples of 30 s."""
        last_s = self.last_beat_ms // 1000
        return last_s - last_s % bucket_s


def beats_per_viewer(*, seconds: float, viewers: int) -> int:
    """Enough beats that the run lasts about ``seconds`` at the target rate."""
    wanted = int(seconds * TARGET_HEARTBEATS_PER_S)
    return max(BEATS_PER_VIEWER_MIN, -(-wanted // viewers))


def heartbeat_messages(run: PipelineRun, *, start_ms: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of every heartbeat in time order, pre-encoded so encoding is not
    part of the measured produce."""
    beats = []
    for beat in range(run.beats_per_viewer):
        for index, viewer in enumerate(run.viewers):
            at_ms = start_ms + beat * BEAT_INTERVAL_MS + index % 30 * 1000
            beats.append((at_ms, index, viewer))
    beats.sort()
    return [
        (
            str(viewer).encode(),
            orjson.dumps(
                {
                    "user_id": str(viewer),
                    "channel_id": run.channel_of(index),
                    "at_ms": at_ms,
                    "source": "ext",
                    "clock": run.clock,
                    "kind": "hb",
                }
            ),
        )
        for at_ms, index, viewer in beats
    ]


def tick_value(run: PipelineRun, at_ms: int) -> bytes:
    return orjson.dumps({"at_ms": at_ms, "clock": run.clock, "kind": "tick"})


async def produce_all(
    producer: AIOKafkaProducer, run: PipelineRun, topic: str, *, start_ms: int
) -> tuple[int, float, float]:
    """Produce heartbeats and 60-s ticks; return (heartbeats, first send, last ack)."""
    messages = heartbeat_messages(run, start_ms=start_ms)
    next_tick_ms = start_ms + TICK_INTERVAL_MS
    beats_per_tick = len(run.viewers) * TICK_INTERVAL_MS // BEAT_INTERVAL_MS
    futures = []
    first_send = time.monotonic()
    for n, (key, value) in enumerate(messages):
        futures.append(await producer.send(topic, value, key=key))
        if (n + 1) % beats_per_tick == 0:
            for partition in run.partitions:
                futures.append(
                    await producer.send(
                        topic, tick_value(run, next_tick_ms), partition=partition
                    )
                )
            next_tick_ms += TICK_INTERVAL_MS
    await asyncio.gather(*futures)
    return len(messages), first_send, time.monotonic()


async def wait_committed(
    offsets: OffsetReader, settings: Settings, end: dict[int, int]
) -> float:
    """Poll until the worker's group committed ``end`` on every partition; return when.

    Raises:
        BenchError: no progress within ``WAIT_MAX_S``.
    """
    topic, group = settings.kafka.heartbeats_topic, settings.kafka.app_id
    deadline = time.monotonic() + WAIT_MAX_S
    while time.monotonic() < deadline:
        committed = await offsets.committed_offsets(group, topic)
        if all(committed.get(p, 0) >= end[p] for p in end):
            return time.monotonic()
        await asyncio.sleep(POLL_INTERVAL_S)
    raise BenchError(
        f"consumer group {group} did not reach the end of {topic} in "
        f"{WAIT_MAX_S:g}s; is the worker running? `tachigo dev status`"
    )


async def wait_credits(
    pool: asyncpg.Pool, run: PipelineRun, *, bucket_start_s: int, timeout_s: float
) -> list[datetime]:
    """Poll the journal until every viewer's credit for the bucket is there; return
    their ``created_at``. Counting by (channel, bucket) uses the journal's index and
    keeps the polling light next to the writes it measures.

    Raises:
        BenchError: some credits did not arrive in time.
    """
    where = (
        "FROM ledger_entries WHERE kind = 'watch' AND channel_id = ANY($1::text[])"
        " AND bucket_start = to_timestamp($2)"
    )
    deadline = time.monotonic() + timeout_s
    found = 0
    while time.monotonic() < deadline:
        found = await pool.fetchval(
            f"SELECT count(*) {where}", run.channel_ids, bucket_start_s
        )
        if found >= len(run.viewers):
            rows = await pool.fetch(
                f"SELECT idempotency_key, created_at {where}",
                run.channel_ids,
                bucket_start_s,
            )
            expected = {
                credit_id(str(v), run.channel_of(i), bucket_start_s)
                for i, v in enumerate(run.viewers)
            }
            return [r["created_at"] for r in rows if r["idempotency_key"] in expected]
        await asyncio.sleep(POLL_INTERVAL_S)
    raise BenchError(
        f"only {found:,} of {len(run.viewers):,} closed buckets reached the "
        f"ledger in {timeout_s:g}s; check the worker log"
    )


async def prepare_run(
    settings: Settings, pool: asyncpg.Pool, *, viewers: int, seconds: float
) -> PipelineRun:
    tag = secrets.token_hex(4)
    clock = f"bench:{tag}"
    producer = RecordProducer(settings)
    await producer.start()
    try:
        channel_ids = await register_channels(
            pool,
            producer,
            settings,
            prefix=f"bench-{tag}",
            count=CHANNELS,
            clock=clock,
            at_ms=BENCH_EPOCH_MS,
        )
        partitions = await producer.partitions(settings.kafka.heartbeats_topic)
    finally:
        await producer.stop()
    users = await insert_viewers(pool, viewers, label=f"bench-{tag}")
    beats = beats_per_viewer(seconds=seconds, viewers=viewers)
    return PipelineRun(clock, users, channel_ids, partitions, beats)


async def bench_pipeline(settings: Settings, *, viewers: int, seconds: float) -> int:
    pool = await create_pool(settings, size_max=2)
    offsets = OffsetReader(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka.linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=int(settings.kafka.request_timeout_s * 1000),
    )
    try:
        await offsets.start()
        await producer.start()
        run = await prepare_run(settings, pool, viewers=viewers, seconds=seconds)
        return await bench_pipeline_run(settings, pool, offsets, producer, run)
    finally:
        await producer.stop()
        await offsets.stop()
        await pool.close()


async def bench_pipeline_run(
    settings: Settings,
    pool: asyncpg.Pool,
    offsets: OffsetReader,
    producer: AIOKafkaProducer,
    run: PipelineRun,
) -> int:
    topic, watch = settings.kafka.heartbeats_topic, settings.watch
    # 1. Throughput: everything but the final tick, then wait for the worker's commits.
    beats, first_send, last_ack = await produce_all(
        producer, run, topic, start_ms=BENCH_EPOCH_MS
    )
    end = await offsets.end_offsets(topic, run.partitions)
    done = await wait_committed(offsets, settings, end)

    # 2. Latency: one tick past every open bucket's end + grace, then the journal.
    final_ms = run.last_beat_ms + (watch.bucket_s + watch.grace_s + 60) * 1000
    t0 = time.time()
    futures = [
        await producer.send(topic, tick_value(run, final_ms), partition=p)
        for p in run.partitions
    ]
    await asyncio.gather(*futures)
    created = await wait_credits(
        pool,
        run,
        bucket_start_s=run.last_bucket_s(watch.bucket_s),
        timeout_s=WAIT_MAX_S,
    )
    delays_s = [c.timestamp() - t0 for c in created]

    print_pipeline(
        settings,
        run,
        beats=beats,
        produce_s=last_ack - first_send,
        consume_s=done - first_send,
        delays_s=delays_s,
    )
    return 0


def print_pipeline(
    settings: Settings,
    run: PipelineRun,
    *,
    beats: int,
    produce_s: float,
    consume_s: float,
    delays_s: list[float],
) -> None:
    worker_rate = beats / consume_s
    produce_rate = beats / produce_s
    p50, p99 = percentile(delays_s, 0.50), percentile(delays_s, 0.99)
    rate_verdict = verdict(
        worker_rate, target=TARGET_HEARTBEATS_PER_S, higher_is_better=True
    )
    p99_verdict = verdict(p99, target=TARGET_P99_S, higher_is_better=False)
    lines = [
        f"bench pipeline: {beats:,} heartbeats of {len(run.viewers):,} viewers in "
        f"{len(run.channel_ids)} channels ({run.beats_per_viewer} each), "
        f"clock {run.clock}",
        describe_machine(),
        f"produced in {produce_s:.2f}s ({produce_rate:,.0f}/s, acks=all)",
        f"watch agent: {worker_rate:,.0f} heartbeats/s (first produce to last offset "
        f"committed, {consume_s:.2f}s; commit interval 1 s) "
        f"[target >= {TARGET_HEARTBEATS_PER_S:,}/s: {rate_verdict}]",
        f"bucket close -> balance readable, {len(delays_s):,} buckets closed by "
        "one tick: "
        f"p50 {p50:.3f}s, p99 {p99:.3f}s, all present after {max(delays_s):.3f}s "
        f"[target p99 < {TARGET_P99_S:g}s: {p99_verdict}]",
    ]
    if produce_rate < worker_rate * 1.2:
        lines.append(
            "note: the producer was barely faster than the worker, so the "
            "worker figure is a lower bound"
        )
    print("\n".join(lines))

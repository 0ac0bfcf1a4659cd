"""The Faust application: topics, tables, the two agents and their runner.

Failure rules (faust acks a ``take_events`` batch when the body exits, even on error):
- the body never raises: Kafka and Postgres failures are retried until they succeed;
- on shutdown the current batch gets ``shutdown_grace_s`` to finish; if it cannot,
  the process exits at once without committing offsets, so the batch is redelivered;
- a bug (unexpected exception) logs CRITICAL and exits the same way.
Delivery is at least once; credit ids make the ledger effect exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
import faust
import orjson
from faust.types import TP

from tachigo.agents.ledger import decode_credits, partition_spans, write_credits
from tachigo.agents.watch import RawRecord, StateStore, WatchBatch, WatchProcessor
from tachigo.errors import TachigoError
from tachigo.kafka.producer import RecordProducer
from tachigo.ledger.pool import create_pool
from tachigo.rules import WatchLimits
from tachigo.settings import Settings
from tachigo.tables.state import ViewerEntry

log = logging.getLogger(__name__)

_SHUTDOWN_GRACE_S = 10.0
# Stale records already in flight after a rewind ask for the same rewind again; one
# seek per partition per this many seconds is enough.
_REWIND_SPACING_S = 0.5
# Heartbeats judged per batch: large enough to amortise the acked sends and the
# Postgres round trip, small enough that one batch takes well under a second.
_WATCH_BATCH_MAX = 5000
_RETRY_DELAY_MAX_S = 5.0
# Exit code when a batch could not be finished: nothing committed, batch redelivered.
_EXIT_UNFINISHED_BATCH = 75


class FaustStore(StateStore):
    """Reads the tables' memory stores directly: ``table.get`` goes through several
    layers of mapping wrappers, a measurable share of the agent's time per heartbeat."""

    def __init__(self, viewers: faust.Table, facts: faust.Table) -> None:
        self.viewers, self.facts = viewers, facts

    def get_viewer(self, user_id: str) -> ViewerEntry | None:
        raw = self.viewers.data.data.get(user_id)
        return ViewerEntry.from_json(raw) if raw is not None else None

    def get_fact(self, key: str) -> Any | None:
        return self.facts.data.data.get(key)

    def iter_viewers(self) -> Iterable[tuple[str, ViewerEntry]]:
        return [
            (k, ViewerEntry.from_json(v)) for k, v in self.viewers.data.data.items()
        ]


class WorkerRunner:
    """Owns the worker's outside resources and runs each batch to completion."""

    def __init__(self, app: faust.App, settings: Settings, store: FaustStore) -> None:
        self.app = app
        self.settings = settings
        self._rewound_at: dict[tuple[str, int], float] = {}
        self.store = store
        watch = settings.watch
        self.processor = WatchProcessor(
            store,
            limits=WatchLimits(
                watch.min_gap_s,
                watch.max_credit_s,
                watch.session_gap_s,
                watch.bucket_s,
                watch.grace_s,
            ),
            excluded_user_ids=frozenset(watch.excluded_user_ids),
        )
        self._producer: RecordProducer | None = None
        self._pool: asyncpg.Pool | None = None

    async def producer(self) -> RecordProducer:
        if self._producer is None:
            producer = RecordProducer(self.settings)
            await retry_until_done("kafka_producer_start", producer.start)
            self._producer = producer
        return self._producer

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await retry_until_done(
                "postgres_connect", lambda: create_pool(self.settings, size_max=4)
            )
        return self._pool

    async def run_watch_batch(self, events: list[faust.EventT]) -> None:
        raws = [raw_record(e) for e in events]
        batch = self.processor.process(raws)
        # 1. Credits and dead letters durable in Kafka, 2. rejection counts in Postgres,
        # 3. only then the table writes: a crash before 3 replays the batch and the
        # replay yields the same credit ids, which the ledger ignores.
        await self.emit(
            self.settings.kafka.credits_topic,
            [(c.user_id, None, c) for c in batch.credits],
        )
        await self.emit(
            self.settings.kafka.dead_letters_topic,
            [(d.key, None, d) for d in batch.dead_letters],
        )
        await self.write_rejections(batch)
        await self.write_tables(batch)
        topic = self.settings.kafka.heartbeats_topic
        await self.rewind({(topic, p): offset for p, offset in batch.rewinds.items()})
        log.debug(
            "watch_batch",
            extra={
                "events": len(events),
                **batch.outcomes,
                "offsets": offset_ranges(raws),
            },
        )

    async def run_ledger_batch(self, events: list[faust.EventT]) -> None:
        raws = [raw_record(e) for e in events]
        spans, contiguous = partition_spans(raws)
        if not contiguous:
            # faust skipped records inside this batch: write nothing, re-read it all.
            await self.rewind({(s.topic, s.partition): s.first_offset for s in spans})
            return
        batch = decode_credits(raws)
        pool = await self.pool()
        started = time.perf_counter()
        inserted, rewinds = await retry_until_done(
            "ledger_write",
            lambda: write_credits(
                pool,
                batch,
                retries_max=self.settings.ledger.retries_max,
                consumer=self.settings.kafka.app_id,
                spans=spans,
            ),
        )
        await self.emit(
            self.settings.kafka.dead_letters_topic,
            [(d.key, None, d) for d in batch.dead_letters],
        )
        await self.rewind(rewinds)
        log.debug(
            "ledger_batch",
            extra={
                "credits": len(batch.credits),
                "inserted": inserted,
                "ms": round((time.perf_counter() - started) * 1e3, 1),
            },
        )

    async def rewind(self, positions: dict[tuple[str, int], int]) -> None:
        """Move the consumer back so skipped records are read again (see watch.py)."""
        now = time.monotonic()
        for (topic, partition), offset in positions.items():
            if now - self._rewound_at.get((topic, partition), -1e9) < _REWIND_SPACING_S:
                continue
            self._rewound_at[(topic, partition)] = now
            log.warning(
                "offset_rewind",
                extra={"topic": topic, "partition": partition, "offset": offset},
            )
            await self.app.consumer.seek(TP(topic, partition), offset)

    async def emit(
        self, topic: str, items: list[tuple[str | None, int | None, Any]]
    ) -> None:
        if items:
            producer = await self.producer()
            await retry_until_done(
                f"emit_{topic}", lambda: producer.send_many(topic, items)
            )

    async def write_rejections(self, batch: WatchBatch) -> None:
        if not batch.rejections:
            return
        pool = await self.pool()
        rows = sorted(batch.rejections.items())
        args = (
            [k[0] for k, _ in rows],
            [k[1] for k, _ in rows],
            [k[2] for k, _ in rows],
            [n for _, n in rows],
        )
        # LIMIT(analytics): counts are at-least-once; a batch replayed after a crash is
        # counted twice. Credits are exact; these counters may run slightly high.
        await retry_until_done(
            "rejections_write",
            lambda: pool.execute(
                "INSERT INTO watch_rejections (channel_id, minute, reason, count)"
                " SELECT c, to_timestamp(m), r, n FROM"
                " unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) v(c, m,"
                " r, n)"
                " ON CONFLICT (channel_id, minute, reason)"
                " DO UPDATE SET count = watch_rejections.count + EXCLUDED.count",
                *args,
            ),
        )

    async def write_tables(self, batch: WatchBatch) -> None:
        """Write changed keys to the tables' changelogs (acked), then to memory.

        Order matters for a crash in between: viewers first, then facts, and in each
        partition the ``next_offset`` fact last. Once a partition's position is in
        the changelog, everything the batch did to that partition is too, and the
        records below it are never judged again (see ``WatchProcessor``).
        We produce the changelog records ourselves, in acknowledged batches, instead
        of through faust's per-key buffer: it is much faster and the changelog is
        certainly durable before faust commits the batch's offsets.
        """
        facts, viewers = self.store.facts, self.store.viewers
        viewer_writes = [
            (viewers, user_id, entry.to_json(), entry.partition)
            for user_id, entry in batch.viewer_writes.items()
        ]
        fact_writes = sorted(
            (
                (facts, key, value, partition)
                for key, (partition, value) in batch.fact_writes.items()
            ),
            key=lambda w: w[1].endswith("|next_offset"),
        )
        producer = await self.producer()
        for writes in (viewer_writes, fact_writes):
            if not writes:
                continue
            topic = writes[0][0].changelog_topic.get_topic_name()
            items = [(orjson.dumps(k), p, orjson.dumps(v)) for _, k, v, p in writes]
            await retry_until_done(
                f"changelog_{topic}", lambda t=topic, i=items: producer.send_raw(t, i)
            )
        for table, key, value, partition in viewer_writes + fact_writes:
            store = table.data
            store[key] = value
            # The memory store forgets keys of partitions this worker no longer owns
            # after a rebalance; it learns a key's partition from this map.
            store._key_partition[key] = partition


def offset_ranges(raws: list[RawRecord]) -> dict[int, list[int]]:
    ranges: dict[int, list[int]] = {}
    for raw in raws:
        low_high = ranges.setdefault(raw.partition, [raw.offset, raw.offset])
        low_high[1] = raw.offset
    return ranges


def raw_record(event: faust.EventT) -> RawRecord:
    message = event.message
    return RawRecord(
        message.topic, message.partition, message.offset, message.key, message.value
    )


async def retry_until_done(what: str, action: Callable[[], Awaitable[Any]]) -> Any:
    """Retry an outside call with capped backoff until it succeeds (or we are
    cancelled).
    """
    delay_s = 0.1
    while True:
        try:
            return await action()
        except (TachigoError, OSError, TimeoutError, asyncpg.PostgresError) as error:
            log.warning(
                "retrying",
                extra={"what": what, "error": repr(error)[:300], "delay_s": delay_s},
            )
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, _RETRY_DELAY_MAX_S)


async def run_to_completion(name: str, work: Awaitable[None]) -> None:
    """Run one batch so that it either finishes or the process dies uncommitted."""
    task = asyncio.ensure_future(work, loop=asyncio.get_running_loop())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await asyncio.wait_for(asyncio.shield(task), _SHUTDOWN_GRACE_S)
        except BaseException:  # the batch cannot finish: die without committing
            log.error("batch_unfinished_at_shutdown", extra={"agent": name})
            os._exit(_EXIT_UNFINISHED_BATCH)
        raise
    except Exception:  # boundary: a bug; never let faust ack the batch
        log.critical("batch_failed", extra={"agent": name}, exc_info=True)
        logging.shutdown()
        os._exit(_EXIT_UNFINISHED_BATCH)


def create_faust_app(settings: Settings) -> tuple[faust.App, WorkerRunner]:
    kafka = settings.kafka
    app = faust.App(
        kafka.app_id,
        broker=f"kafka://{kafka.bootstrap_servers}",
        store="memory://",
        autodiscover=False,
        topic_partitions=kafka.heartbeat_partitions,
        topic_replication_factor=kafka.replication_factor,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
        broker_commit_interval=1.0,
        datadir=str(settings.dev.data_dir / "faust"),
        table_cleanup_interval=3600.0,
        stream_buffer_maxsize=16_384,
        # A killed worker is noticed after this long and its partitions move on;
        # Kafka's default would leave them unread for a minute after a crash.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        broker_max_poll_records=5000,
    )
    # Keys and values are plain JSON (faust's default codec for both).
    viewers = app.Table("viewers", partitions=kafka.heartbeat_partitions)
    facts = app.Table("partition-facts", partitions=kafka.heartbeat_partitions)
    runner = WorkerRunner(app, settings, FaustStore(viewers, facts))
    wire_agents(app, settings, runner)
    return app, runner


def wire_agents(app: faust.App, settings: Settings, runner: WorkerRunner) -> None:
    kafka, ledger = settings.kafka, settings.ledger
    heartbeats = app.topic(
        kafka.heartbeats_topic,
        key_serializer="raw",
        value_serializer="raw",
        partitions=kafka.heartbeat_partitions,
    )
    credits = app.topic(
        kafka.credits_topic,
        key_serializer="raw",
        value_serializer="raw",
        partitions=kafka.heartbeat_partitions,
    )

    @app.agent(heartbeats, name="watch", concurrency=1)
    async def watch_agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(_WATCH_BATCH_MAX, within=0.05):
            await run_to_completion("watch", runner.run_watch_batch(list(events)))

    @app.agent(credits, name="ledger", concurrency=1)
    async def ledger_agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(
            ledger.batch_rows_max, within=ledger.batch_wait_s
        ):
            await run_to_completion("ledger", runner.run_ledger_batch(list(events)))

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        runner.processor.forget_partitions(
            {tp.partition for tp in revoked if tp.topic == kafka.heartbeats_topic}
        )

    @app.on_rebalance_complete.connect
    async def on_rebalanced(sender: Any, **kwargs: Any) -> None:
        assigned = app.consumer.assignment()
        mine = sorted(
            tp.partition for tp in assigned if tp.topic == kafka.heartbeats_topic
        )
        log.info("worker_ready", extra={"heartbeat_partitions": mine})


def run_worker(settings: Settings) -> int:
    """Run the worker until SIGTERM/SIGINT; returns the process exit code."""
    app, _runner = create_faust_app(settings)
    log.info(
        "worker_starting",
        extra={
            "kafka": settings.kafka.bootstrap_servers,
            "partitions": settings.kafka.heartbeat_partitions,
        },
    )
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        override_logging=False,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
    return 0

"""Batch processing of the heartbeats topic: rules in, credits and state changes out.

This module does no I/O. The agent hands it a batch of raw records; it returns the
credits to emit, the dead letters, the rejection counts and the table writes. The agent
must make credits durable before it writes the tables (see ``app.WorkerRunner``).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tachigo.kafka import records
from tachigo.rules import (
    ChannelFacts,
    ChannelSettings,
    CreditDraft,
    ViewerState,
    WatchLimits,
    judge_heartbeat,
    sweep_viewer,
)
from tachigo.tables.state import ViewerEntry, live_key, next_offset_key, settings_key


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class StateStore(Protocol):
    def get_viewer(self, user_id: str) -> ViewerEntry | None: ...
    def get_fact(self, key: str) -> Any | None: ...
    def iter_viewers(self) -> Iterable[tuple[str, ViewerEntry]]: ...


@dataclass
class WatchBatch:
    credits: list[records.Credit] = field(default_factory=list)
    dead_letters: list[records.DeadLetter] = field(default_factory=list)
    # (channel_id, minute_start_s, reason) -> count
    rejections: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    viewer_writes: dict[str, ViewerEntry] = field(default_factory=dict)
    fact_writes: dict[str, tuple[int, Any]] = field(default_factory=dict)
    # partition -> the offset the consumer must be moved back to (records were skipped)
    rewinds: dict[int, int] = field(default_factory=dict)


class SweepIndex:
    """Per (partition, clock): a min-heap of (close_at_s, user_id) with lazy
    deletion.
    """

    def __init__(self) -> None:
        self._heaps: dict[tuple[int, str], list[tuple[int, str]]] = {}

    def push(self, partition: int, clock: str, close_at_s: int, user_id: str) -> None:
        heapq.heappush(
            self._heaps.setdefault((partition, clock), []), (close_at_s, user_id)
        )

    def pop_due(self, partition: int, clock: str, now_s: int) -> list[str]:
        heap = self._heaps.get((partition, clock))
        due: dict[str, None] = {}
        while heap and heap[0][0] <= now_s:
            due[heapq.heappop(heap)[1]] = None
        return list(due)

    def forget(self, partitions: set[int]) -> None:
        for key in [k for k in self._heaps if k[0] in partitions]:
            del self._heaps[key]


def fact_value(stored: Any | None, offset: int | None) -> Any | None:
    """The value a stored fact had when the record at ``offset`` was judged.

    A fact is stored as ``{"v": value, "prev": value before, "since": offset}``. If a
    crash kept a batch's facts but not its position, the batch is judged again; its
    records before ``since`` must see ``prev``, as they did the first time.
    """
    if not isinstance(stored, dict) or "v" not in stored:
        return stored
    if offset is not None and offset < stored["since"]:
        return stored["prev"]
    return stored["v"]


class BatchFacts(Mapping[str, ChannelFacts]):
    """Channel facts as one partition sees them at one record: this batch's writes,
    else the cache."""

    def __init__(
        self, batch: WatchBatch, cache: FactsCache, partition: int, offset: int
    ) -> None:
        self._batch, self._cache = batch, cache
        self._partition, self._offset = partition, offset

    def __getitem__(self, channel_id: str) -> ChannelFacts:
        writes = self._batch.fact_writes
        settings_at = settings_key(self._partition, channel_id)
        live_at = live_key(self._partition, channel_id)
        if settings_at in writes or live_at in writes:
            return self._cache.build(self._partition, channel_id, writes, self._offset)
        return self._cache.get(self._partition, channel_id, self._offset)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, channel_id: object) -> bool:
        return isinstance(channel_id, str)


class FactsCache:
    """Decoded channel facts per (partition, channel). Every fact write passes through
    the processor, which drops the entry, so the cache never serves a stale value."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._entries: dict[tuple[int, str], tuple[ChannelFacts, int]] = {}

    def get(self, partition: int, channel_id: str, offset: int) -> ChannelFacts:
        found = self._entries.get((partition, channel_id))
        if found is not None and offset >= found[1]:
            return found[0]
        facts = self.build(partition, channel_id, {}, offset)
        since = max(
            self.since(settings_key(partition, channel_id)),
            self.since(live_key(partition, channel_id)),
        )
        if offset >= since:
            self._entries[(partition, channel_id)] = (facts, since)
        return facts

    def since(self, key: str) -> int:
        stored = self._store.get_fact(key)
        return (
            int(stored["since"])
            if isinstance(stored, dict) and "since" in stored
            else 0
        )

    def build(
        self,
        partition: int,
        channel_id: str,
        writes: dict[str, tuple[int, Any]],
        offset: int,
    ) -> ChannelFacts:
        def lookup(key: str) -> Any | None:
            pending = writes.get(key)
            if pending is not None:
                return pending[1]["v"]
            return fact_value(self._store.get_fact(key), offset)

        raw = lookup(settings_key(partition, channel_id))
        settings = ChannelSettings.from_dict(raw) if raw else ChannelSettings()
        live = lookup(live_key(partition, channel_id))
        return ChannelFacts(settings, bool(live and live.get("online")))

    def drop(self, partition: int, channel_id: str) -> None:
        self._entries.pop((partition, channel_id), None)

    def forget(self, partitions: set[int]) -> None:
        for key in [k for k in self._entries if k[0] in partitions]:
            del self._entries[key]


class WatchProcessor:
    """Applies the watch rules to batches; owns the sweep index of open buckets."""

    def __init__(
        self,
        store: StateStore,
        *,
        limits: WatchLimits,
        agent: str = "watch",
        excluded_user_ids: frozenset[str] = frozenset(),
    ) -> None:
        self._store = store
        self._limits = limits
        self._excluded = excluded_user_ids
        self._agent = agent
        self._index = SweepIndex()
        self._indexed: set[int] = set()
        self._facts = FactsCache(store)

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop index entries of revoked partitions; rebuilt if they come back."""
        self._index.forget(partitions)
        self._facts.forget(partitions)
        self._indexed -= partitions

    def process(self, batch_records: list[RawRecord]) -> WatchBatch:
        """Judge a batch in order.

        Our stored position per partition, not Kafka's committed offset, is the truth:
        a record past it means records were skipped on the way in (faust can ack and
        commit records it never delivered during a rebalance). Such records are left
        unjudged and ``rewinds`` tells the caller where to move the consumer back to.
        """
        batch = WatchBatch()
        for raw in batch_records:
            if not self.is_next_record(raw, batch):
                continue
            self.ensure_indexed(raw.partition, batch)
            try:
                record = records.decode(raw.value)
            except records.RecordFormatError as error:
                batch.dead_letters.append(
                    dead_letter(raw, "undecodable", self._agent, str(error))
                )
                continue
            self.apply(raw.partition, record, raw, batch)
        return batch

    def is_next_record(self, raw: RawRecord, batch: WatchBatch) -> bool:
        """Whether to judge ``raw``, by our stored position in its partition.

        Below the position: already absorbed into the tables (a redelivery after a
        crash or rebalance); judging it again against later state could change its
        verdict, so it is skipped. Above it: records were skipped on the way in; the
        partition is left alone for this batch and ``rewinds`` says where to re-read.
        """
        key = next_offset_key(raw.partition)
        pending = batch.fact_writes.get(key)
        expected = pending[1] if pending is not None else self._store.get_fact(key)
        if expected is not None and raw.offset < expected:
            batch.outcomes["redelivered"] += 1
            return False
        if expected is not None and raw.offset > expected:
            batch.rewinds.setdefault(raw.partition, expected)
            return False
        if raw.partition in batch.rewinds:
            return False  # keep the partition's order: nothing after a gap this batch
        batch.fact_writes[key] = (raw.partition, raw.offset + 1)
        return True

    def apply(
        self, partition: int, record: Any, raw: RawRecord, batch: WatchBatch
    ) -> None:
        if isinstance(record, records.Heartbeat):
            self.apply_heartbeat(partition, record, batch, raw.offset)
        elif isinstance(record, records.Tick):
            self.apply_tick(partition, record, batch, raw.offset)
        elif isinstance(record, records.StreamEvent):
            self._facts.drop(partition, record.channel_id)
            self.write_fact(
                batch,
                live_key(partition, record.channel_id),
                {"online": record.online, "at": record.at_ms},
                raw,
            )
            batch.outcomes["stream_event"] += 1
        elif isinstance(record, records.SettingsEvent):
            self._facts.drop(partition, record.channel_id)
            self.write_fact(
                batch, settings_key(partition, record.channel_id), record.settings, raw
            )
            batch.outcomes["settings_event"] += 1
        else:
            batch.dead_letters.append(
                dead_letter(
                    raw,
                    "unexpected_kind",
                    self._agent,
                    f"{type(record).__name__} on heartbeats",
                )
            )

    def write_fact(
        self, batch: WatchBatch, key: str, value: Any, raw: RawRecord
    ) -> None:
        """Record a fact change with the value it replaces (see ``fact_value``)."""
        pending = batch.fact_writes.get(key)
        if pending is not None:
            prev, since = pending[1]["prev"], pending[1]["since"]
        else:
            prev, since = fact_value(self._store.get_fact(key), None), raw.offset
        batch.fact_writes[key] = (
            raw.partition,
            {"v": value, "prev": prev, "since": since},
        )

    def viewer(self, user_id: str, batch: WatchBatch) -> ViewerEntry | None:
        return batch.viewer_writes.get(user_id) or self._store.get_viewer(user_id)

    def apply_heartbeat(
        self, partition: int, hb: records.Heartbeat, batch: WatchBatch, offset: int
    ) -> None:
        entry = self.viewer(hb.user_id, batch) or ViewerEntry(
            ViewerState(), partition, hb.clock
        )
        entry.partition, entry.clock = partition, hb.clock
        facts = BatchFacts(batch, self._facts, partition, offset)
        outcome = judge_heartbeat(
            hb.user_id,
            hb.channel_id,
            hb.at_ms,
            entry.state,
            facts=facts,
            limits=self._limits,
            excluded_user_ids=self._excluded,
            alias=hb.alias,
        )
        batch.outcomes[outcome.reason] += 1
        if outcome.reason != "accepted":
            minute_s = hb.at_ms // 60_000 * 60
            batch.rejections[(hb.channel_id, minute_s, outcome.reason)] += 1
            if outcome.reason == "duplicate":
                return  # A duplicate changes nothing, so there is nothing to write.
        batch.credits.extend(to_credit(c, hb.at_ms) for c in outcome.credits)
        self.remember(hb.user_id, entry, batch)

    def apply_tick(
        self, partition: int, tick: records.Tick, batch: WatchBatch, offset: int
    ) -> None:
        batch.outcomes["tick"] += 1
        now_s = tick.at_ms // 1000
        for user_id in self._index.pop_due(partition, tick.clock, now_s):
            entry = self.viewer(user_id, batch)
            if (
                entry is None
                or entry.partition != partition
                or entry.clock != tick.clock
            ):
                continue
            facts = BatchFacts(batch, self._facts, partition, offset)
            drafts = sweep_viewer(
                user_id,
                entry.state,
                before_s=now_s - self._limits.grace_s,
                facts=facts,
                limits=self._limits,
            )
            batch.credits.extend(to_credit(c, tick.at_ms) for c in drafts)
            self.remember(user_id, entry, batch)

    def remember(self, user_id: str, entry: ViewerEntry, batch: WatchBatch) -> None:
        batch.viewer_writes[user_id] = entry
        close_at_s = entry.state.next_close_s(self._limits)
        if close_at_s is not None:
            self._index.push(entry.partition, entry.clock, close_at_s, user_id)

    def ensure_indexed(self, partition: int, batch: WatchBatch) -> None:
        """Index the open buckets of a partition the first time we see it."""
        if partition in self._indexed:
            return
        self._indexed.add(partition)
        for user_id, entry in self._store.iter_viewers():
            close_at_s = entry.state.next_close_s(self._limits)
            if entry.partition == partition and close_at_s is not None:
                self._index.push(partition, entry.clock, close_at_s, user_id)


def to_credit(draft: CreditDraft, closed_at_ms: int) -> records.Credit:
    return records.Credit(
        credit_id=draft.credit_id,
        user_id=draft.user_id,
        channel_id=draft.channel_id,
        bucket_start_s=draft.bucket_start_s,
        seconds=draft.seconds,
        points=draft.points,
        multiplier=draft.multiplier,
        closed_at_ms=closed_at_ms,
    )


def dead_letter(
    raw: RawRecord, code: str, agent: str, message: str
) -> records.DeadLetter:
    return records.DeadLetter(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key.decode(errors="replace") if raw.key is not None else None,
        value=raw.value.decode(errors="replace")[:10_000],
        error_code=code,
        agent=agent,
        message=message[:1000],
    )

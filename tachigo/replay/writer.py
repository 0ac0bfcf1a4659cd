"""Writes a replay's records to Kafka in judging order, optionally paced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tachigo.kafka.producer import RecordProducer
from tachigo.kafka.records import Heartbeat, HeartbeatTopicRecord, StreamEvent
from tachigo.replay.progress import ProgressBar

# Messages per acknowledged send_many call: big enough to batch, small enough that one
# call finishes well inside the producer's send timeout.
CHUNK_MESSAGES_MAX = 2_000
# Pacing sleeps only when this far ahead; shorter waits cost more than they smooth.
PACE_SLEEP_MIN_S = 0.05

Item = tuple[str | None, int | None, Any]


@dataclass(frozen=True, slots=True)
class Destinations:
    heartbeats_topic: str
    stream_events_topic: str
    partitions: tuple[int, ...]


@dataclass
class ChunkedSender:
    """Collects messages per topic; ``flush`` sends them and waits for the acks.

    Heartbeats are keyed by viewer (the partitioner picks the partition, as the API's
    are); control records go to every partition by number, and stream events are also
    written to the stream-events topic keyed by channel, as ``channels.set_live`` does.
    """

    producer: RecordProducer
    destinations: Destinations
    progress: ProgressBar
    heartbeat_items: list[Item] = field(default_factory=list)
    stream_items: list[Item] = field(default_factory=list)
    sent: int = 0

    def add(self, record: HeartbeatTopicRecord) -> None:
        if isinstance(record, Heartbeat):
            self.heartbeat_items.append((record.user_id, None, record))
            return
        self.heartbeat_items.extend(
            (None, p, record) for p in self.destinations.partitions
        )
        if isinstance(record, StreamEvent):
            self.stream_items.append((record.channel_id, None, record))

    def is_full(self) -> bool:
        return len(self.heartbeat_items) + len(self.stream_items) >= CHUNK_MESSAGES_MAX

    async def flush(self) -> None:
        """Send what is collected; raises ``UnavailableError`` if Kafka does not ack."""
        count = len(self.heartbeat_items) + len(self.stream_items)
        if self.heartbeat_items:
            await self.producer.send_many(
                self.destinations.heartbeats_topic, self.heartbeat_items
            )
        if self.stream_items:
            await self.producer.send_many(
                self.destinations.stream_events_topic, self.stream_items
            )
        self.heartbeat_items, self.stream_items = [], []
        self.sent += count
        self.progress.advance(count)


async def write_records(
    sender: ChunkedSender,
    records: Iterable[HeartbeatTopicRecord],
    *,
    speed: float,
    first_ms: int,
) -> int:
    """Send ``records`` in order; return the number of Kafka messages written.

    With ``speed`` > 0, a record at replay time t leaves no earlier than
    (t - first_ms) / speed after the start; 0 sends as fast as Kafka acknowledges.
    """
    started = time.monotonic()
    for record in records:
        if speed > 0:
            due_s = (record.at_ms - first_ms) / 1000 / speed
            ahead_s = due_s - (time.monotonic() - started)
            if ahead_s >= PACE_SLEEP_MIN_S:
                await sender.flush()
                await asyncio.sleep(max(0.0, due_s - (time.monotonic() - started)))
        sender.add(record)
        if sender.is_full():
            await sender.flush()
    await sender.flush()
    return sender.sent

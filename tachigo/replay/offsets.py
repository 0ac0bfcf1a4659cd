"""Kafka offsets the replay and benchmarks watch: topic ends and a group's commits."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tachigo.errors import UnavailableError
from tachigo.settings import Settings


class OffsetReader:
    """Owns a group-less consumer (end offsets) and an admin client (commits)."""

    def __init__(self, settings: Settings) -> None:
        kafka = settings.kafka
        self._timeout_s = kafka.request_timeout_s
        request_timeout_ms = int(kafka.request_timeout_s * 1000)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=request_timeout_ms,
        )
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=kafka.bootstrap_servers,
            request_timeout_ms=request_timeout_ms,
        )

    async def start(self) -> None:
        """Connect both clients.

        Raises:
            UnavailableError: Kafka is unreachable.
        """
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._consumer.start()
                await self._admin.start()
        except (KafkaError, TimeoutError, OSError) as error:
            await self.stop()
            raise UnavailableError(
                "kafka is unreachable; start it with `tachigo dev up`"
            ) from error

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def end_offsets(self, topic: str, partitions: list[int]) -> dict[int, int]:
        """Return partition -> offset of the next message to be written."""
        async with asyncio.timeout(self._timeout_s):
            found = await self._consumer.end_offsets(
                [TopicPartition(topic, p) for p in partitions]
            )
        return {tp.partition: offset for tp, offset in found.items()}

    async def committed_offsets(self, group_id: str, topic: str) -> dict[int, int]:
        """Return partition -> committed offset of ``group_id`` on ``topic``."""
        async with asyncio.timeout(self._timeout_s):
            found = await self._admin.list_consumer_group_offsets(group_id)
        return {
            tp.partition: meta.offset
            for tp, meta in found.items()
            if tp.topic == topic and meta.offset >= 0
        }


def consumed_fraction(
    *, start: dict[int, int], end: dict[int, int], committed: dict[int, int]
) -> float:
    """Share of the messages between ``start`` and ``end`` that the group committed."""
    total = sum(end[p] - start.get(p, 0) for p in end)
    if total <= 0:
        return 1.0
    done = sum(
        min(max(committed.get(p, 0), start.get(p, 0)), end[p]) - start.get(p, 0)
        for p in end
    )
    return done / total

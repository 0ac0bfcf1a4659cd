"""A producer that reports success only once the broker has the record (acks=all)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tachigo.errors import UnavailableError
from tachigo.kafka import records
from tachigo.settings import Settings

log = logging.getLogger(__name__)


class RecordProducer:
    """Owns one idempotent aiokafka producer; every send waits for the broker's ack."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout_s = settings.kafka.send_timeout_s
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=settings.kafka.linger_ms,
            request_timeout_ms=int(settings.kafka.request_timeout_s * 1000),
            max_batch_size=256 * 1024,
        )
        self._partitions: dict[str, list[int]] = {}

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._producer.start()
        except (KafkaError, TimeoutError, OSError) as error:
            await self._producer.stop()
            raise UnavailableError(
                f"kafka at {self._settings.kafka.bootstrap_servers} is unreachable; "
                "start it with `tachigo dev up` or check"
                " TACHIGO_KAFKA__BOOTSTRAP_SERVERS",
            ) from error

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self,
        topic: str,
        record: Any,
        *,
        key: str | None = None,
        partition: int | None = None,
    ) -> None:
        """Send one record and wait until the broker acknowledged it.

        Raises:
            UnavailableError: Kafka did not acknowledge within the send timeout.
        """
        await self.send_many(topic, [(key, partition, record)])

    async def send_many(
        self, topic: str, items: list[tuple[str | None, int | None, Any]]
    ) -> None:
        """Send (key, partition, record) triples; return once all are acknowledged.

        Raises:
            UnavailableError: Kafka did not acknowledge every record in time.
        """
        await self.send_raw(
            topic,
            [
                (
                    key.encode() if key is not None else None,
                    partition,
                    records.encode(record),
                )
                for key, partition, record in items
            ],
        )

    async def send_raw(
        self, topic: str, items: list[tuple[bytes | None, int | None, bytes]]
    ) -> None:
        """Send (key, partition, value) byte triples; return once all are acknowledged.

        Raises:
            UnavailableError: Kafka did not acknowledge every record in time.
        """
        try:
            async with asyncio.timeout(self._timeout_s):
                futures = [
                    await self._producer.send(
                        topic, value, key=key, partition=partition
                    )
                    for key, partition, value in items
                ]
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError) as error:
            log.warning(
                "kafka_send_failed", extra={"topic": topic, "error": repr(error)}
            )
            raise UnavailableError(
                f"kafka did not acknowledge {len(items)} record(s) on {topic} within "
                f"{self._timeout_s}s; they may still arrive later. Retrying is safe: "
                "a repeated heartbeat is ignored as a duplicate",
            ) from error

    async def check(self) -> None:
        """Ask the broker for fresh metadata (readiness probe).

        Raises:
            UnavailableError: no answer within the send timeout.
        """
        try:
            async with asyncio.timeout(min(self._timeout_s, 2.0)):
                await self._producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError, OSError) as error:
            raise UnavailableError("kafka does not answer metadata requests") from error

    async def partitions(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            async with asyncio.timeout(self._timeout_s):
                found = await self._producer.partitions_for(topic)
            if not found:
                raise UnavailableError(
                    f"topic {topic} has no partitions; run `tachigo dev up`"
                )
            self._partitions[topic] = sorted(found)
        return self._partitions[topic]

    async def send_to_every_partition(self, topic: str, record: Any) -> None:
        """Fan a control record out to each partition of ``topic`` (acknowledged)."""
        parts = await self.partitions(topic)
        await self.send_many(topic, [(None, p, record) for p in parts])

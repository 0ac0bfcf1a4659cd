"""Create our topics explicitly (the broker's auto-create is off)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from tachigo.settings import Settings

log = logging.getLogger(__name__)

# Seven days of heartbeats lets a worker that was down for a long weekend catch up.
_HEARTBEAT_RETENTION_MS = 7 * 24 * 3600 * 1000


def topic_specs(settings: Settings) -> list[NewTopic]:
    kafka = settings.kafka
    partitions = kafka.heartbeat_partitions
    rf = kafka.replication_factor
    return [
        NewTopic(
            kafka.heartbeats_topic,
            partitions,
            rf,
            topic_configs={"retention.ms": str(_HEARTBEAT_RETENTION_MS)},
        ),
        NewTopic(
            kafka.stream_events_topic,
            partitions,
            rf,
            topic_configs={"cleanup.policy": "compact"},
        ),
        # Credits share the heartbeats' partition count so a user's credits stay on
        # one partition and one ledger batch at a time.
        NewTopic(kafka.credits_topic, partitions, rf),
        NewTopic(kafka.dead_letters_topic, partitions, rf),
    ]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every missing topic; return the names created. Existing ones are kept."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        request_timeout_ms=int(settings.kafka.request_timeout_s * 1000),
    )
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topic_specs(settings) if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # Another process created them between our list and create.
            created = [t.name for t in missing]
            log.info("topics_created", extra={"topics": created})
    finally:
        await admin.close()
    return created

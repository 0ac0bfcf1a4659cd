"""Helpers for integration tests: polling with a deadline, tokens, topic offsets."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import jwt
from aiokafka import AIOKafkaConsumer, TopicPartition

from tachigo.settings import Settings

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout_s: float = 60.0,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"{what} not reached within {timeout_s}s (last value: {last!r})"
    )


def extension_jwt(
    settings: Settings,
    *,
    channel_id: str,
    user_id: str | None,
    exp_in_s: int = 300,
    secret: bytes | None = None,
    algorithm: str = "HS256",
    opaque: str | None = None,
) -> str:
    key = (
        secret
        if secret is not None
        else base64.b64decode(settings.auth.extension_secret_b64.get_secret_value())
    )
    claims: dict[str, Any] = {
        "exp": int(time.time()) + exp_in_s,
        "channel_id": channel_id,
        "role": "viewer",
        "opaque_user_id": opaque or (f"U{user_id}" if user_id else "Aanon123"),
        "pubsub_perms": {"listen": ["broadcast"], "send": []},
    }
    if user_id is not None:
        claims["user_id"] = user_id
    return jwt.encode(claims, None if algorithm == "none" else key, algorithm=algorithm)


async def end_offsets(settings: Settings, topic: str) -> int:
    """Total records ever written to ``topic`` (sum of partition end offsets)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        assert parts, f"topic {topic} has no partitions"
        offsets = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return sum(offsets.values())
    finally:
        await consumer.stop()


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    max_records: int = 100_000,
    timeout_s: float = 5.0,
) -> list[Any]:
    """Read every record currently in ``topic`` from the beginning."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    out: list[Any] = []
    try:
        batch = await consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=max_records
        )
        while batch:
            for messages in batch.values():
                out.extend(messages)
            batch = await consumer.getmany(timeout_ms=500, max_records=max_records)
    finally:
        await consumer.stop()
    return out

"""Channel registration, earn settings (validated, sent to the worker) and stats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest_asyncio
from aiokafka import AIOKafkaConsumer

from tachigo.auth import accounts
from tachigo.kafka.records import Credit
from tachigo.ledger.repository import apply_credits
from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import ApiClient
from tests.integration.auth.auth_helpers import make_user, unique


@pytest_asyncio.fixture(loop_scope="session")
async def streamer(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> AsyncIterator[dict[str, Any]]:
    """A streamer who registered its own channel through the API."""
    channel = unique("ch")
    user = await make_user(db, settings, "streamer", twitch_id=channel)
    status, body, _ = await api.call(
        "POST",
        "/api/v1/dashboard/streamers/register",
        token=user["token"],
        json_body={"channel_id": channel, "display_name": "My Stream"},
    )
    assert status == 200, body
    yield user | {"channel": channel, "streamer_id": body["data"]["streamer"]["id"]}


async def test_registering_a_channel_creates_it_with_default_settings(
    api: ApiClient, streamer: dict[str, Any]
) -> None:
    status, body, _ = await api.call(
        "GET",
        f"/api/v1/dashboard/channels/{streamer['channel']}/config",
        token=streamer["token"],
    )

    assert status == 200
    config = body["data"]["config"]
    assert (
        config["seconds_per_point"],
        config["multiplier"],
        config["daily_cap_points"],
        config["require_live"],
        config["time_zone"],
        config["click_boost"],
        config["ignored_user_ids"],
        config["daily_airdrop_limit"],
    ) == (60, 1, 0, True, "UTC", False, [], 5000)


async def test_viewer_registering_is_refused_but_admin_assignment_promotes(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    channel = unique("ch")
    viewer = await make_user(db, settings, twitch_id=channel)
    admin = await make_user(db, settings, "admin")

    refused = await api.call(
        "POST",
        "/api/v1/dashboard/streamers/register",
        token=viewer["token"],
        json_body={"channel_id": channel},
    )
    assigned = await api.call(
        "POST",
        "/api/v1/dashboard/streamers",
        token=admin["token"],
        json_body={"user_id": str(viewer["id"]), "channel_id": channel},
    )

    assert refused[0] == 403
    assert assigned[0] == 200
    assert (
        await db.fetchval("SELECT role FROM users WHERE id = $1", viewer["id"])
        == "streamer"
    )


async def test_register_lists_the_channel_and_is_idempotent(
    api: ApiClient, streamer: dict[str, Any]
) -> None:
    again = await api.call(
        "POST",
        "/api/v1/dashboard/streamers/register",
        token=streamer["token"],
        json_body={"channel_id": streamer["channel"]},
    )
    status, body, _ = await api.call(
        "GET", "/api/v1/dashboard/streamers/channels", token=streamer["token"]
    )

    assert again[0] == 200
    assert again[1]["data"]["streamer"]["id"] == streamer["streamer_id"]
    assert [c["channel_id"] for c in body["data"]["channels"]] == [streamer["channel"]]
    assert body["data"]["channels"][0]["display_name"] == "My Stream"


async def test_channel_owned_by_someone_else_cannot_be_registered(
    api: ApiClient, db: asyncpg.Pool, settings: Settings, streamer: dict[str, Any]
) -> None:
    other = await make_user(db, settings)
    await db.execute(
        "UPDATE channels SET owner_user_id = $2 WHERE channel_id = $1",
        streamer["channel"],
        other["id"],
    )

    status, body, _ = await api.call(
        "POST",
        "/api/v1/dashboard/streamers/register",
        token=streamer["token"],
        json_body={"channel_id": streamer["channel"]},
    )

    assert status == 409
    assert body["code"] == "channel_owned"


async def test_config_update_is_validated(
    api: ApiClient, streamer: dict[str, Any]
) -> None:
    path = f"/api/v1/dashboard/channels/{streamer['channel']}/config"
    cases = [
        ({"time_zone": "Mars/Olympus"}, 422, "invalid_time_zone"),
        ({"seconds_per_point": -1}, 422, "validation_failed"),
        ({"multiplier": 1001}, 422, "validation_failed"),
        ({"daily_cap_points": -5}, 422, "validation_failed"),
        ({"ignored_user_ids": ["ok", "not ok!"]}, 422, "validation_failed"),
        ({"seconds_per_point": 0, "multiplier": 0}, 400, "no_changes"),
        ({}, 400, "no_changes"),
    ]
    for body_in, status_expected, code in cases:
        status, body, _ = await api.call(
            "PUT", path, token=streamer["token"], json_body=body_in
        )
        assert (status, body["code"]) == (status_expected, code), body_in


async def test_config_update_persists_every_setting(
    api: ApiClient, streamer: dict[str, Any]
) -> None:
    path = f"/api/v1/dashboard/channels/{streamer['channel']}/config"

    status, body, _ = await api.call(
        "PUT",
        path,
        token=streamer["token"],
        json_body={
            "seconds_per_point": 30,
            "multiplier": 0,
            "daily_cap_points": 500,
            "require_live": False,
            "time_zone": "Asia/Taipei",
            "click_boost": True,
            "ignored_user_ids": ["bot1", "bot2", "bot1"],
        },
    )
    read = await api.call("GET", path, token=streamer["token"])

    assert status == 200, body
    config = read[1]["data"]["config"]
    assert config == body["data"]["config"]
    assert (
        config["seconds_per_point"],
        config["multiplier"],
        config["daily_cap_points"],
        config["require_live"],
        config["time_zone"],
        config["click_boost"],
        config["ignored_user_ids"],
    ) == (30, 1, 500, False, "Asia/Taipei", True, ["bot1", "bot2"])


async def test_config_update_reaches_every_worker_partition(
    api: ApiClient, streamer: dict[str, Any], settings: Settings
) -> None:
    topic = settings.kafka.heartbeats_topic
    # No group id: the consumer is assigned every partition of the topic at start.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, ends[tp])
        status, _, _ = await api.call(
            "PUT",
            f"/api/v1/dashboard/channels/{streamer['channel']}/config",
            token=streamer["token"],
            json_body={"seconds_per_point": 45, "require_live": False},
        )
        assert status == 200
        seen = await settings_records(consumer, streamer["channel"], len(partitions))
    finally:
        await consumer.stop()

    assert len(seen) == len(partitions) > 0
    assert {
        (r["settings"]["seconds_per_point"], r["settings"]["require_live"])
        for r in seen.values()
    } == {(45, False)}


async def settings_records(
    consumer: AIOKafkaConsumer, channel: str, partitions: int
) -> dict[int, dict[str, Any]]:
    """Poll until each partition has shown a settings record for ``channel``."""
    seen: dict[int, dict[str, Any]] = {}
    async with asyncio.timeout(20):
        while len(seen) < partitions:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, messages in batch.items():
                for message in messages:
                    record = orjson.loads(message.value)
                    if (
                        record.get("kind") == "settings"
                        and record["channel_id"] == channel
                    ):
                        seen[tp.partition] = record
    return seen


async def test_stats_are_derived_from_the_journal(
    api: ApiClient, db: asyncpg.Pool, streamer: dict[str, Any], settings: Settings
) -> None:
    viewers = [await make_user(db, settings) for _ in range(2)]
    bucket = int(time.time()) // 300 * 300 - 300
    await apply_credits(
        db,
        [
            Credit(
                f"watch:{v['id']}:{streamer['channel']}:{bucket}",
                str(v["id"]),
                streamer["channel"],
                bucket,
                300,
                5,
                1,
                bucket * 1000 + 1000,
            )
            for v in viewers
        ],
    )

    status, body, _ = await api.call(
        "GET",
        f"/api/v1/dashboard/streamers/{streamer['streamer_id']}/stats",
        token=streamer["token"],
    )
    channel_stats = await api.call(
        "GET",
        f"/api/v1/dashboard/channels/{streamer['channel']}/stats",
        token=streamer["token"],
    )

    assert status == 200, body
    stats = body["data"]["stats"]
    assert body["data"]["channel_id"] == streamer["channel"]
    at, now = datetime.fromtimestamp(bucket, UTC), datetime.now(UTC)
    assert stats["daily_seconds"] == (600 if at.date() == now.date() else 0)
    assert stats["monthly_seconds"] == (
        600 if (at.year, at.month) == (now.year, now.month) else 0
    )
    assert stats["yearly_seconds"] == (600 if at.year == now.year else 0)
    assert (
        stats["unique_miners"],
        stats["total_token_minted"],
        stats["spendable_in_circulation"],
    ) == (2, 10, 10)
    assert stats["avg_session_seconds"] == 300.0
    assert stats["current_session_seconds"] == 0
    assert set(channel_stats[1]["data"]["stats"]) == {
        "current_session_seconds",
        "daily_seconds",
        "monthly_seconds",
        "yearly_seconds",
    }


async def test_admin_reassigns_a_channel_with_a_new_streamer_id(
    api: ApiClient, db: asyncpg.Pool, settings: Settings, streamer: dict[str, Any]
) -> None:
    admin = await make_user(db, settings, "admin")
    successor = await make_user(db, settings)
    channel = streamer["channel"]
    await db.execute(
        "UPDATE auth_providers SET deleted_at = now() WHERE user_id = $1",
        streamer["id"],
    )
    async with db.acquire() as conn:
        await accounts.link_provider(conn, successor["id"], "twitch", channel)

    status, body, _ = await api.call(
        "POST",
        "/api/v1/dashboard/streamers",
        token=admin["token"],
        json_body={"user_id": str(successor["id"]), "channel_id": streamer["channel"]},
    )
    old_stats = await api.call(
        "GET",
        f"/api/v1/dashboard/streamers/{streamer['streamer_id']}/stats",
        token=admin["token"],
    )

    assert status == 200, body
    assert body["data"]["streamer"]["user_id"] == str(successor["id"])
    assert body["data"]["streamer"]["id"] != streamer["streamer_id"]
    assert old_stats[0] == 404

"""The ingest and webhook routes over real HTTP, with the real Kafka and Postgres."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from tachigo import channels
from tachigo.auth.tokens import issue_access_token
from tachigo.kafka import records
from tachigo.web.app import create_app
from tachigo.web.context import CONTEXT_KEY
from tests.integration.helpers import end_offsets, extension_jwt, read_topic

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def client(settings, database, topics) -> AsyncIterator[TestClient]:
    app = create_app(settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


@pytest_asyncio.fixture
async def channel_id(client, settings) -> str:
    ctx = client.app[CONTEXT_KEY]
    channel = f"ch-{secrets.token_hex(4)}"
    await channels.upsert_channel(ctx.pool, ctx.producer, settings, channel, changes={})
    return channel


async def test_extension_heartbeat_is_acknowledged_only_once_in_kafka(
    client, settings, channel_id
):
    twitch_user = str(secrets.randbelow(10**9))
    token = extension_jwt(settings, channel_id=channel_id, user_id=twitch_user)
    before = await end_offsets(settings, settings.kafka.heartbeats_topic)
    response = await client.post(
        "/api/v1/heartbeats", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    body = await response.json()
    assert response.status == 202, body
    assert body["success"] is True and body["data"]["channel_id"] == channel_id
    assert await end_offsets(settings, settings.kafka.heartbeats_topic) == before + 1
    found = [
        records.decode(m.value)
        for m in await read_topic(settings, settings.kafka.heartbeats_topic)
    ]
    mine = [
        r
        for r in found
        if isinstance(r, records.Heartbeat) and r.at_ms == body["data"]["received_at"]
    ]
    assert mine and mine[0].channel_id == channel_id and mine[0].source == "ext"


def bad_requests(settings, channel_id, known_user):  # type: ignore[no-untyped-def]
    good = extension_jwt(settings, channel_id=channel_id, user_id="42")
    auth = {"Authorization": f"Bearer {good}"}
    forged = extension_jwt(
        settings, channel_id=channel_id, user_id="42", secret=b"x" * 32
    )
    expired = extension_jwt(
        settings, channel_id=channel_id, user_id="42", exp_in_s=-3600
    )
    unsigned = extension_jwt(
        settings, channel_id=channel_id, user_id="42", secret=b"", algorithm="none"
    )
    anonymous = extension_jwt(settings, channel_id=channel_id, user_id=None)
    other = extension_jwt(settings, channel_id="someone-else", user_id="42")
    app_token = issue_access_token(settings.auth, known_user, "viewer")
    ghost_token = issue_access_token(settings.auth, uuid.uuid4(), "viewer")
    return [
        ("malformed json", auth, b"{not json", 400, "invalid_json"),
        ("not an object", auth, b"[1, 2]", 400, "invalid_json"),
        ("wrong type", auth, b'{"channel_id": 12}', 422, "validation_failed"),
        (
            "oversized body",
            auth,
            b'{"channel_id": "' + b"a" * 40_000 + b'"}',
            413,
            "body_too_large",
        ),
        ("no token", {}, b"{}", 401, "missing_token"),
        (
            "forged token",
            {"Authorization": f"Bearer {forged}"},
            b"{}",
            401,
            "invalid_extension_jwt",
        ),
        (
            "expired token",
            {"Authorization": f"Bearer {expired}"},
            b"{}",
            401,
            "token_expired",
        ),
        (
            "alg none",
            {"Authorization": f"Bearer {unsigned}"},
            b"{}",
            401,
            "invalid_extension_jwt",
        ),
        (
            "anonymous viewer",
            {"Authorization": f"Bearer {anonymous}"},
            b"{}",
            403,
            "anonymous_viewer",
        ),
        (
            "other channel",
            auth,
            b'{"channel_id": "someone-else"}',
            403,
            "wrong_channel",
        ),
        (
            "jwt for other channel",
            {"Authorization": f"Bearer {other}"},
            b"{}",
            404,
            "unknown_channel",
        ),
        (
            "unknown channel",
            {"Authorization": f"Bearer {app_token}"},
            b'{"channel_id": "no-such-channel"}',
            404,
            "unknown_channel",
        ),
        (
            "app token without channel",
            {"Authorization": f"Bearer {app_token}"},
            b"{}",
            422,
            "validation_failed",
        ),
        (
            "token of a user that does not exist",
            {"Authorization": f"Bearer {ghost_token}"},
            b'{"channel_id": "' + channel_id.encode() + b'"}',
            403,
            "account_disabled",
        ),
    ]


async def test_bad_heartbeats_get_a_stable_code_and_write_nothing(
    client, settings, channel_id
):
    known_user = uuid.uuid4()
    await client.app[CONTEXT_KEY].pool.execute(
        "INSERT INTO users (id) VALUES ($1)", known_user
    )
    before = await end_offsets(settings, settings.kafka.heartbeats_topic)
    for name, headers, body, status, code in bad_requests(
        settings, channel_id, known_user
    ):
        response = await client.post(
            "/api/v1/heartbeats",
            data=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        payload = await response.json()
        assert (response.status, payload.get("code")) == (status, code), name
        assert payload["success"] is False and payload["error"], name
    assert await end_offsets(settings, settings.kafka.heartbeats_topic) == before


async def test_heartbeat_when_kafka_cannot_acknowledge_is_503_with_retry_after(
    client, settings, channel_id
):
    token = extension_jwt(settings, channel_id=channel_id, user_id="77")
    await client.app[CONTEXT_KEY].producer.stop()  # the broker can no longer be reached
    response = await client.post(
        "/api/v1/heartbeats", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["code"] == "service_unavailable"


async def test_go_watch_routes_and_balance_keep_the_envelope(
    client, settings, channel_id
):
    token = extension_jwt(settings, channel_id=channel_id, user_id="4242")
    headers = {"Authorization": f"Bearer {token}"}
    started = await client.post(
        "/api/v1/extension/watch/start",
        json={"channel_id": channel_id},
        headers=headers,
    )
    beat = await client.post(
        "/api/v1/extension/watch/heartbeat",
        json={"channel_id": channel_id},
        headers=headers,
    )
    balance = await client.get(
        f"/api/v1/extension/watch/balance?channel_id={channel_id}", headers=headers
    )
    points = await client.get(
        f"/api/v1/users/me/points?channel_id={channel_id}", headers=headers
    )
    history = await client.get(
        f"/api/v1/users/me/points/history?channel_id={channel_id}", headers=headers
    )
    assert [r.status for r in (started, beat, balance, points, history)] == [
        202,
        202,
        200,
        200,
        200,
    ]
    assert (await beat.json())["data"]["points_earned"] == 0
    assert (await balance.json())["data"] == {
        "spendable_balance": 0,
        "cumulative_total": 0,
    }
    assert (await history.json())["data"] == {"transactions": []}


def eventsub_headers(
    settings,
    body: bytes,
    *,
    message_id: str,
    kind: str = "notification",
    timestamp: str | None = None,
    secret: str | None = None,
) -> dict[str, str]:
    stamp = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    key = (secret or settings.auth.eventsub_secret.get_secret_value()).encode()
    signature = hmac.new(
        key, message_id.encode() + stamp.encode() + body, hashlib.sha256
    ).hexdigest()
    return {
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Timestamp": stamp,
        "Twitch-Eventsub-Message-Signature": f"sha256={signature}",
        "Twitch-Eventsub-Message-Type": kind,
        "Content-Type": "application/json",
    }


def online_body(channel_id: str) -> bytes:
    return orjson.dumps(
        {
            "subscription": {"type": "stream.online", "version": "1"},
            "event": {
                "id": "9001",
                "broadcaster_user_id": channel_id,
                "type": "live",
                "started_at": "2026-01-01T00:00:00Z",
            },
        }
    )


async def test_eventsub_challenge_is_answered_as_plain_text(client, settings):
    body = orjson.dumps({"challenge": "pogchamp-kappa-360noscope", "subscription": {}})
    response = await client.post(
        "/api/v1/webhooks/twitch/eventsub",
        data=body,
        headers=eventsub_headers(
            settings, body, message_id="c1", kind="webhook_callback_verification"
        ),
    )
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "pogchamp-kappa-360noscope"


async def test_eventsub_online_sets_live_once_and_fans_out(
    client, settings, channel_id
):
    body = online_body(channel_id)
    message_id = secrets.token_hex(8)
    before = await end_offsets(settings, settings.kafka.heartbeats_topic)
    for _ in range(2):  # Twitch redelivers with the same message id
        response = await client.post(
            "/api/v1/webhooks/twitch/eventsub",
            data=body,
            headers=eventsub_headers(settings, body, message_id=message_id),
        )
        assert response.status == 200
    pool = client.app[CONTEXT_KEY].pool
    assert await pool.fetchval(
        "SELECT is_live FROM channels WHERE channel_id = $1", channel_id
    )
    partitions = settings.kafka.heartbeat_partitions
    assert (
        await end_offsets(settings, settings.kafka.heartbeats_topic)
        == before + partitions
    )


async def test_eventsub_rejects_forged_and_stale_messages_without_effect(
    client, settings, channel_id
):
    body = online_body(channel_id)
    stale = datetime.fromtimestamp(time.time() - 3600, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    cases = [
        (
            eventsub_headers(
                settings, body, message_id="f1", secret="wrong-secret-123"
            ),
            403,
            "invalid_signature",
        ),
        (
            eventsub_headers(settings, body, message_id="f2", timestamp=stale),
            403,
            "stale_message",
        ),
        ({"Content-Type": "application/json"}, 400, "missing_headers"),
    ]
    for headers, status, code in cases:
        response = await client.post(
            "/api/v1/webhooks/twitch/eventsub", data=body, headers=headers
        )
        assert (response.status, (await response.json())["code"]) == (status, code)
    pool = client.app[CONTEXT_KEY].pool
    assert not await pool.fetchval(
        "SELECT is_live FROM channels WHERE channel_id = $1", channel_id
    )


async def test_eventsub_event_older_than_the_last_applied_one_changes_nothing(
    client, settings, channel_id
):
    now = datetime.now(UTC)
    offline = orjson.dumps(
        {
            "subscription": {"type": "stream.offline", "version": "1"},
            "event": {"broadcaster_user_id": channel_id},
        }
    )
    online_old = orjson.dumps(
        {
            "subscription": {"type": "stream.online", "version": "1"},
            "event": {
                "id": "1",
                "broadcaster_user_id": channel_id,
                "type": "live",
                "started_at": (
                    now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
                ),
            },
        }
    )
    response = await client.post(
        "/api/v1/webhooks/twitch/eventsub",
        data=offline,
        headers=eventsub_headers(settings, offline, message_id=secrets.token_hex(8)),
    )
    assert response.status == 200
    stamp = datetime.fromtimestamp(time.time() - 120, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    late = online_old.replace(
        now.replace(microsecond=0).isoformat().replace("+00:00", "Z").encode(),
        stamp.encode(),
    )
    response = await client.post(
        "/api/v1/webhooks/twitch/eventsub",
        data=late,
        headers=eventsub_headers(settings, late, message_id=secrets.token_hex(8)),
    )
    assert response.status == 200
    pool = client.app[CONTEXT_KEY].pool
    assert not await pool.fetchval(
        "SELECT is_live FROM channels WHERE channel_id = $1", channel_id
    )


async def test_deactivated_account_heartbeats_are_refused(client, settings, channel_id):
    user = uuid.uuid4()
    pool = client.app[CONTEXT_KEY].pool
    await pool.execute("INSERT INTO users (id, is_active) VALUES ($1, false)", user)
    token = issue_access_token(settings.auth, user, "viewer")
    response = await client.post(
        "/api/v1/heartbeats",
        json={"channel_id": channel_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (response.status, (await response.json())["code"]) == (
        403,
        "account_disabled",
    )


async def test_admin_route_uses_the_role_postgres_holds_not_the_tokens(
    client, settings
):
    demoted = uuid.uuid4()
    pool = client.app[CONTEXT_KEY].pool
    await pool.execute("INSERT INTO users (id, role) VALUES ($1, 'viewer')", demoted)
    token = issue_access_token(
        settings.auth, demoted, "admin"
    )  # minted before demotion
    response = await client.post(
        "/api/v1/admin/channels",
        json={"channel_id": f"ch-{secrets.token_hex(4)}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (response.status, (await response.json())["code"]) == (403, "forbidden")

"""Heartbeat ingest and balance reads for the extension (the Go service's watch routes,
plus the native ``POST /api/v1/heartbeats``).

An accepted heartbeat is answered only after Kafka acknowledged it (acks=all). Crediting
happens later in the worker, so these routes report ``points_earned: 0``; balances are
read from the ledger.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict

from tachigo.auth.tokens import Principal
from tachigo.errors import ForbiddenError, NotFoundError, ValidationError
from tachigo.kafka.records import Heartbeat
from tachigo.ledger import repository
from tachigo.web.context import context
from tachigo.web.requests import ChannelIdStr, principal, read_json, read_query
from tachigo.web.responses import ok

HEARTBEATS = Counter(
    "tachigo_heartbeats_total", "Heartbeats answered by the ingest", ["outcome"]
)


class HeartbeatBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    channel_id: ChannelIdStr | None = None


class ChannelQuery(BaseModel):
    channel_id: ChannelIdStr


async def accept_heartbeat(request: web.Request) -> tuple[Principal, str, int]:
    """Validate and durably enqueue one heartbeat; return (principal, channel, ms).

    Raises:
        ValidationError, AuthError,
        ForbiddenError (``wrong_channel``, ``anonymous_viewer``),
        NotFoundError (``unknown_channel``), UnavailableError (Kafka down: 503).
    """
    ctx = context(request)
    who = await principal(request)
    body = await read_json(
        request, HeartbeatBody, allow_empty=who.channel_id is not None
    )
    channel_id = body.channel_id or who.channel_id
    if channel_id is None:
        HEARTBEATS.labels("invalid").inc()
        raise ValidationError(
            'channel_id is required with an access token; send {"channel_id": "..."}',
            field="channel_id",
        )
    if who.channel_id is not None and channel_id != who.channel_id:
        HEARTBEATS.labels("wrong_channel").inc()
        raise ForbiddenError(
            f"heartbeat names channel {channel_id} but the extension JWT is for"
            f" channel "
            f"{who.channel_id}; send heartbeats for the channel being watched",
            code="wrong_channel",
            jwt_channel_id=who.channel_id,
        )
    if not await ctx.is_active_user(who.user_id):
        HEARTBEATS.labels("account_disabled").inc()
        raise ForbiddenError(
            "this account is unknown or deactivated and earns nothing; log in again",
            code="account_disabled",
        )
    if not await ctx.channel_exists(channel_id):
        HEARTBEATS.labels("unknown_channel").inc()
        raise NotFoundError(
            f"channel {channel_id} is not registered with tachigo",
            code="unknown_channel",
            channel_id=channel_id,
        )

    # Rule 1: the server's clock, stamped here, is the heartbeat's time.
    at_ms = int(time.time() * 1000)
    record = Heartbeat(
        str(who.user_id), channel_id, at_ms, source=who.source, alias=who.twitch_user_id
    )
    await ctx.producer.send(
        ctx.settings.kafka.heartbeats_topic, record, key=record.user_id
    )
    HEARTBEATS.labels("accepted").inc()
    return who, channel_id, at_ms


def session_view(user_id: uuid.UUID, channel_id: str, at_ms: int) -> dict[str, object]:
    at = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    return {
        "user_id": str(user_id),
        "channel_id": channel_id,
        "is_active": True,
        "last_heartbeat_at": at,
        "updated_at": at,
    }


async def post_heartbeat(request: web.Request) -> web.Response:
    """POST /api/v1/heartbeats: enqueue one heartbeat; 202 once Kafka has it."""
    who, channel_id, at_ms = await accept_heartbeat(request)
    return ok(
        {"accepted": True, "channel_id": channel_id, "received_at": at_ms}, status=202
    )


async def post_watch_heartbeat(request: web.Request) -> web.Response:
    """POST /api/v1/extension/watch/heartbeat (Go contract); credit comes later."""
    who, channel_id, at_ms = await accept_heartbeat(request)
    return ok(
        {
            "session": session_view(who.user_id, channel_id, at_ms),
            "points_earned": 0,
            "accepted": True,
        },
        status=202,
    )


async def post_watch_start(request: web.Request) -> web.Response:
    """POST /api/v1/extension/watch/start: a session starts with its first heartbeat."""
    who, channel_id, at_ms = await accept_heartbeat(request)
    return ok(session_view(who.user_id, channel_id, at_ms), status=202)


async def post_watch_end(request: web.Request) -> web.Response:
    """POST /api/v1/extension/watch/end: idempotent; a session ends when heartbeats
    stop.
    """
    await principal(request)
    await read_json(request, HeartbeatBody, allow_empty=True)
    return ok({"ended": True})


async def read_balance(request: web.Request) -> repository.Balance:
    ctx = context(request)
    who = await principal(request)
    query = read_query(request, ChannelQuery)
    return await repository.get_balance(ctx.pool, who.user_id, query.channel_id)


async def get_watch_balance(request: web.Request) -> web.Response:
    """GET /api/v1/extension/watch/balance?channel_id= (zeros if no account)."""
    balance = await read_balance(request)
    return ok(
        {"spendable_balance": balance.spendable, "cumulative_total": balance.cumulative}
    )


async def get_my_points(request: web.Request) -> web.Response:
    """GET /api/v1/users/me/points?channel_id=."""
    balance = await read_balance(request)
    return ok(
        {"cumulative_total": balance.cumulative, "spendable_balance": balance.spendable}
    )


_HISTORY_TYPES = {"claim": "claim", "claim_refund": "earn"}


async def get_my_points_history(request: web.Request) -> web.Response:
    """GET /api/v1/users/me/points/history?channel_id=: the 50 newest journal rows."""
    ctx = context(request)
    who = await principal(request)
    query = read_query(request, ChannelQuery)
    rows = await repository.get_history(
        ctx.pool, who.user_id, query.channel_id, limit=50
    )
    transactions = []
    for row in rows:
        delta = row["delta_spendable"]
        kind = "earn" if delta >= 0 else _HISTORY_TYPES.get(row["kind"], "spend")
        transactions.append(
            {
                "type": kind,
                "source": row["kind"],
                "amount": abs(delta),
                "watch_seconds": row["watch_seconds"],
                "balance_after": row["spendable_after"],
                "created_at": row["created_at"],
            }
        )
    return ok({"transactions": transactions})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/heartbeats", post_heartbeat)
    r.add_post("/api/v1/extension/watch/start", post_watch_start)
    r.add_post("/api/v1/extension/watch/heartbeat", post_watch_heartbeat)
    r.add_post("/api/v1/extension/watch/end", post_watch_end)
    r.add_get("/api/v1/extension/watch/balance", get_watch_balance)
    r.add_get("/api/v1/users/me/points", get_my_points)
    r.add_get("/api/v1/users/me/points/history", get_my_points_history)

"""Twitch EventSub webhook: signature, replay window, dedupe, stream online/offline."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import datetime

import orjson
from aiohttp import web

from tachigo import channels
from tachigo.errors import AuthError, NotFoundError, ValidationError
from tachigo.web.context import context
from tachigo.web.responses import ok

log = logging.getLogger(__name__)

_H_ID = "Twitch-Eventsub-Message-Id"
_H_TIMESTAMP = "Twitch-Eventsub-Message-Timestamp"
_H_SIGNATURE = "Twitch-Eventsub-Message-Signature"
_H_TYPE = "Twitch-Eventsub-Message-Type"


def parse_timestamp(value: str) -> float:
    """RFC 3339 with up to nanoseconds (Twitch sends 9 digits; Python parses 6)."""
    head, dot, frac = value.rstrip("Z").partition(".")
    text = head + (("." + frac[:6]) if dot else "") + "+00:00"
    return datetime.fromisoformat(text).timestamp()


def verify_signature(
    secret: bytes, message_id: str, timestamp: str, body: bytes, signature: str
) -> bool:
    expected = (
        "sha256="
        + hmac.new(
            secret, message_id.encode() + timestamp.encode() + body, hashlib.sha256
        ).hexdigest()
    )
    return hmac.compare_digest(expected, signature)


async def post_eventsub(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/webhooks/twitch/eventsub.

    Answers the verification challenge as text/plain; applies ``stream.online`` and
    ``stream.offline`` once per message id.

    Raises:
        AuthError (``invalid_signature``, ``stale_message``), ValidationError.
    """
    ctx = context(request)
    body = await request.read()
    message_id = request.headers.get(_H_ID, "")
    timestamp = request.headers.get(_H_TIMESTAMP, "")
    if not message_id or not timestamp or len(message_id) > 128:
        raise ValidationError(
            "missing Twitch-Eventsub-Message-Id/Timestamp headers",
            code="missing_headers",
            status=400,
        )
    secret = ctx.settings.auth.eventsub_secret.get_secret_value().encode()
    if not verify_signature(
        secret, message_id, timestamp, body, request.headers.get(_H_SIGNATURE, "")
    ):
        raise AuthError(
            "EventSub signature does not match; check the subscription secret",
            code="invalid_signature",
            status=403,
        )
    try:
        age_s = time.time() - parse_timestamp(timestamp)
    except ValueError as error:
        raise ValidationError(
            "EventSub timestamp is not RFC 3339", code="invalid_timestamp", status=400
        ) from error
    if abs(age_s) > ctx.settings.auth.eventsub_window_s:
        raise AuthError(
            f"EventSub message is {int(age_s)}s old; outside the replay window",
            code="stale_message",
            status=403,
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ValidationError(
            "EventSub body is not JSON", code="invalid_json", status=400
        ) from error

    if not isinstance(payload, dict):
        raise ValidationError(
            "EventSub body must be a JSON object", code="invalid_payload", status=400
        )
    kind = request.headers.get(_H_TYPE, "")
    if kind == "webhook_callback_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise ValidationError(
                "verification request without a challenge string",
                code="invalid_payload",
                status=400,
            )
        return web.Response(text=challenge, content_type="text/plain")
    if await ctx.pool.fetchval(
        "SELECT 1 FROM eventsub_messages WHERE message_id = $1", message_id
    ):
        return ok({"duplicate": True})
    if kind == "notification":
        await apply_notification(request, payload, sent_at_s=parse_timestamp(timestamp))
    else:
        log.info("eventsub_message", extra={"type": kind, "message_id": message_id})
    # Record the id only after the effect is durable: a failure above lets Twitch retry.
    await ctx.pool.execute(
        "INSERT INTO eventsub_messages (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
        message_id,
    )
    return ok({"duplicate": False})


async def apply_notification(
    request: web.Request, payload: dict[str, object], *, sent_at_s: float
) -> None:
    """Apply stream.online/offline at the time it happened: ``started_at`` for online,
    the message time for offline; an event older than the channel's last is ignored."""
    ctx = context(request)
    subscription = payload.get("subscription") or {}
    event = payload.get("event") or {}
    if not isinstance(subscription, dict) or not isinstance(event, dict):
        raise ValidationError(
            "EventSub payload lacks subscription/event objects",
            code="invalid_payload",
            status=400,
        )
    kind = subscription.get("type")
    if kind not in ("stream.online", "stream.offline"):
        log.info("eventsub_ignored", extra={"subscription_type": kind})
        return
    channel_id = str(event.get("broadcaster_user_id") or "")
    if not channel_id:
        raise ValidationError(
            "event.broadcaster_user_id missing", code="invalid_payload", status=400
        )
    online = kind == "stream.online"
    stream_id = str(event["id"]) if online and event.get("id") else None
    happened_s = sent_at_s
    if online and isinstance(event.get("started_at"), str):
        try:
            happened_s = parse_timestamp(str(event["started_at"]))
        except ValueError:
            pass  # fall back to the message time
    try:
        await channels.set_live(
            ctx.pool,
            ctx.producer,
            ctx.settings,
            channel_id,
            online=online,
            stream_id=stream_id,
            at_ms=int(happened_s * 1000),
        )
    except NotFoundError:
        log.warning("eventsub_unknown_channel", extra={"channel_id": channel_id})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/webhooks/twitch/eventsub", post_eventsub)

"""Reading requests: bounded JSON bodies into pydantic models, principals from
headers.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, TypeVar

import orjson
import pydantic
from aiohttp import web

from tachigo.auth.extension import require_identified, verify_extension_jwt
from tachigo.auth.tokens import Principal, verify_access_token
from tachigo.errors import AuthError, ValidationError
from tachigo.web.context import context

Model = TypeVar("Model", bound=pydantic.BaseModel)

# Twitch broadcaster ids are digits; replays and tests use short slugs.
ChannelIdStr = Annotated[
    str,
    pydantic.StringConstraints(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:\-]+$"
    ),
]
PRINCIPAL_KEY = web.RequestKey("principal", Principal)


async def read_json(
    request: web.Request, model: type[Model], *, allow_empty: bool = False
) -> Model:
    """Parse the body as ``model``. Size is bounded by the app's ``client_max_size``.

    Raises:
        ValidationError: not JSON, not an object, or fields fail validation.
    """
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            raw = b"{}"
        else:
            raise ValidationError(
                "request body is empty; send a JSON object",
                code="invalid_json",
                status=400,
            )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ValidationError(
            f"request body is not valid JSON: {error.msg}",
            code="invalid_json",
            status=400,
        ) from error
    if not isinstance(data, dict):
        raise ValidationError(
            "request body must be a JSON object", code="invalid_json", status=400
        )
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise validation_error(error) from error


def validation_error(error: pydantic.ValidationError) -> ValidationError:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return ValidationError(
        f"{where}: {first['msg']}",
        code="validation_failed",
        errors=[
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in error.errors()[:10]
        ],
    )


def read_query(request: web.Request, model: type[Model]) -> Model:
    try:
        return model.model_validate(dict(request.query))
    except pydantic.ValidationError as error:
        raise validation_error(error) from error


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(
            "authorization header required: send 'Authorization: Bearer <token>'",
            code="missing_token",
        )
    return token.strip()


async def principal(request: web.Request) -> Principal:
    """Authenticate the caller by tachigo access token or Twitch extension JWT.

    A verified token is remembered until its ``exp``: the extension sends the same JWT
    with every heartbeat, and verifying it once per expiry saves most of the cost.

    Raises:
        AuthError: missing, forged or expired token.
        ForbiddenError: an anonymous extension viewer.
    """
    cached = request.get(PRINCIPAL_KEY)
    if cached is not None:
        return cached
    ctx = context(request)
    token = bearer_token(request)
    found = ctx.verified_token(token)
    if found is None:
        found = await verify_token(request, token)
    request[PRINCIPAL_KEY] = found
    return found


async def verify_token(request: web.Request, token: str) -> Principal:
    ctx = context(request)
    claims = peek_claims(token)
    if "opaque_user_id" in claims:  # Twitch extension JWTs carry it; ours never do
        ext = verify_extension_jwt(ctx.settings.auth, token)
        twitch_user_id = require_identified(ext)
        user_id = await ctx.twitch_user(twitch_user_id)
        found = Principal(
            user_id,
            "viewer",
            source="ext",
            channel_id=ext.channel_id,
            twitch_user_id=twitch_user_id,
        )
    else:
        found = verify_access_token(ctx.settings.auth, token)
    # Verified above, so the payload's exp is the signed one.
    ctx.remember_token(token, found, expires_at_s=claims.get("exp"))
    return found


def peek_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT without checking it (only to route and cache it)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
    except (IndexError, ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}

"""Reading requests: bounded JSON bodies into pydantic models, principals from headers."""

from __future__ import annotations

from typing import Annotated, TypeVar

import jwt
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

    Raises:
        AuthError: missing, forged or expired token.
        ForbiddenError: an anonymous extension viewer.
    """
    cached = request.get(PRINCIPAL_KEY)
    if cached is not None:
        return cached
    ctx = context(request)
    token = bearer_token(request)
    if is_extension_jwt(token):
        claims = verify_extension_jwt(ctx.settings.auth, token)
        twitch_user_id = require_identified(claims)
        user_id = await ctx.twitch_user(twitch_user_id)
        found = Principal(
            user_id,
            "viewer",
            source="ext",
            channel_id=claims.channel_id,
            twitch_user_id=twitch_user_id,
        )
    else:
        found = verify_access_token(ctx.settings.auth, token)
    request[PRINCIPAL_KEY] = found
    return found


def is_extension_jwt(token: str) -> bool:
    """Twitch extension JWTs carry ``opaque_user_id``; ours never do (unverified peek)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return False
    return isinstance(claims, dict) and "opaque_user_id" in claims

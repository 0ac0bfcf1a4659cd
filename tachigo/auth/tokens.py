"""tachigo access tokens: HS256 JWTs with ``sub``/``uid`` (user id), ``role``, ``aud``,
``iat``, ``exp`` and, for extension logins, ``cid`` (the channel)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from tachigo.errors import AuthError
from tachigo.settings import AuthSettings

ROLES = ("viewer", "streamer", "agency", "admin")
# The Go service's tokens carry no audience; requiring ours keeps any other HS256 token
# signed with a shared or leaked-elsewhere secret from passing as a tachigo token.
AUDIENCE = "tachigo-api"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``channel_id`` is set only for Twitch extension JWTs."""

    user_id: uuid.UUID
    role: str
    source: str = "app"
    channel_id: str | None = None
    twitch_user_id: str | None = None

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


def issue_access_token(
    settings: AuthSettings,
    user_id: uuid.UUID,
    role: str,
    *,
    now_s: int | None = None,
    channel_id: str | None = None,
    twitch_user_id: str | None = None,
) -> str:
    """Return a signed access token valid for ``access_ttl_s`` seconds.

    ``channel_id`` (claim ``cid``) binds a token minted from an extension login to the
    channel of that extension JWT: its heartbeats may only name that channel.
    ``twitch_user_id`` (claim ``tid``) lets channel ignore lists, which name Twitch
    ids, apply to this viewer's heartbeats.
    """
    issued = int(time.time()) if now_s is None else now_s
    claims: dict[str, object] = {
        "sub": str(user_id),
        "uid": str(user_id),
        "role": role,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + settings.access_ttl_s,
    }
    if channel_id is not None:
        claims["cid"] = channel_id
    if twitch_user_id is not None:
        claims["tid"] = twitch_user_id
    return jwt.encode(
        claims, settings.access_secret.get_secret_value(), algorithm="HS256"
    )


def verify_access_token(settings: AuthSettings, token: str) -> Principal:
    """Check signature (HS256 only), expiry and claims.

    Raises:
        AuthError: the token is forged, expired, for another audience, malformed or
            names an unknown role.
    """
    try:
        claims = jwt.decode(
            token,
            settings.access_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud"]},
        )
        user_id = uuid.UUID(str(claims["sub"]))
        role = str(claims.get("role", "viewer"))
    except jwt.ExpiredSignatureError as error:
        raise AuthError(
            "access token expired; refresh it or log in again", code="token_expired"
        ) from error
    except (jwt.InvalidTokenError, ValueError, KeyError) as error:
        raise AuthError(
            "invalid access token; log in again", code="invalid_token"
        ) from error
    if role not in ROLES:
        raise AuthError("invalid access token; log in again", code="invalid_token")
    channel_id = claims.get("cid")
    if channel_id is not None:
        twitch_user_id = claims.get("tid")
        return Principal(
            user_id=user_id,
            role=role,
            source="ext",
            channel_id=str(channel_id),
            twitch_user_id=str(twitch_user_id) if twitch_user_id else None,
        )
    return Principal(user_id=user_id, role=role)

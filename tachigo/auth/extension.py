"""Twitch extension JWTs: HS256 with the base64-decoded extension secret."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import jwt

from tachigo.errors import AuthError, ForbiddenError
from tachigo.settings import AuthSettings

_EXT_ROLES = ("broadcaster", "moderator", "viewer", "external")


@dataclass(frozen=True, slots=True)
class ExtensionClaims:
    channel_id: str
    opaque_user_id: str
    role: str
    user_id: str | None

    @property
    def is_anonymous(self) -> bool:
        return not self.user_id


def extension_secret(settings: AuthSettings) -> bytes:
    try:
        return base64.b64decode(
            settings.extension_secret_b64.get_secret_value(), validate=True
        )
    except (binascii.Error, ValueError) as error:
        raise ValueError(
            "TACHIGO_AUTH__EXTENSION_SECRET_B64 is not valid base64; paste the secret "
            "exactly as the Twitch developer console shows it"
        ) from error


def verify_extension_jwt(settings: AuthSettings, token: str) -> ExtensionClaims:
    """Verify a Twitch extension frontend JWT.

    Raises:
        AuthError: bad signature, algorithm other than HS256, expired, or missing
            claims.
    """
    try:
        claims = jwt.decode(
            token,
            extension_secret(settings),
            algorithms=["HS256"],
            leeway=settings.extension_leeway_s,
            options={"require": ["exp", "channel_id", "opaque_user_id", "role"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise AuthError(
            "extension JWT expired; Twitch refreshes it, retry with the new one",
            code="token_expired",
        ) from error
    except jwt.InvalidTokenError as error:
        raise AuthError(
            "invalid extension JWT", code="invalid_extension_jwt"
        ) from error
    channel_id, role = str(claims["channel_id"]), str(claims["role"])
    if not channel_id or role not in _EXT_ROLES:
        raise AuthError("invalid extension JWT", code="invalid_extension_jwt")
    user_id = claims.get("user_id")
    return ExtensionClaims(
        channel_id,
        str(claims["opaque_user_id"]),
        role,
        str(user_id) if user_id else None,
    )


def require_identified(claims: ExtensionClaims) -> str:
    """Return the Twitch user id, refusing anonymous viewers (rule 6).

    Raises:
        ForbiddenError: the viewer has not shared their identity with the extension.
    """
    if claims.user_id is None or claims.opaque_user_id.startswith("A"):
        raise ForbiddenError(
            "anonymous viewers earn nothing; ask the viewer to share their identity "
            "(Twitch.ext.actions.requestIdShare) and retry",
            code="anonymous_viewer",
        )
    return claims.user_id

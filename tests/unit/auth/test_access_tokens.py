"""Access tokens and extension JWTs, checked without the network."""

from __future__ import annotations

import base64
import time
import uuid

import jwt
import pytest

from tachigo.auth.extension import require_identified, verify_extension_jwt
from tachigo.auth.tokens import AUDIENCE, issue_access_token, verify_access_token
from tachigo.errors import AuthError, ForbiddenError
from tachigo.settings import AuthSettings

SETTINGS = AuthSettings()
USER = uuid.UUID("01890000-0000-7000-8000-000000000001")


def test_issued_token_verifies_with_role_audience_and_channel() -> None:
    token = issue_access_token(SETTINGS, USER, "streamer", channel_id="c1")

    principal = verify_access_token(SETTINGS, token)
    claims = jwt.decode(token, options={"verify_signature": False})

    assert (principal.user_id, principal.role, principal.channel_id) == (
        USER,
        "streamer",
        "c1",
    )
    assert principal.source == "ext"
    assert claims["aud"] == AUDIENCE and claims["exp"] - claims["iat"] == 900


def test_token_older_than_its_ttl_is_expired() -> None:
    token = issue_access_token(SETTINGS, USER, "viewer", now_s=int(time.time()) - 901)

    with pytest.raises(AuthError) as raised:
        verify_access_token(SETTINGS, token)

    assert raised.value.code == "token_expired"


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "other"},
        {"aud": None},
        {"sub": "not-a-uuid"},
        {"role": "superuser"},
        {"exp": None},
        {"iat": None},
        {"sub": None},
    ],
)
def test_tokens_with_bad_claims_are_invalid(claims: dict[str, object]) -> None:
    now = int(time.time())
    body = {
        "sub": str(USER),
        "role": "viewer",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 60,
    } | claims
    token = jwt.encode(
        {k: v for k, v in body.items() if v is not None},
        SETTINGS.access_secret.get_secret_value(),
        algorithm="HS256",
    )

    with pytest.raises(AuthError) as raised:
        verify_access_token(SETTINGS, token)

    assert raised.value.code == "invalid_token"


def extension_token(**claims: object) -> str:
    secret = base64.b64decode(SETTINGS.extension_secret_b64.get_secret_value())
    body = {
        "exp": int(time.time()) + 60,
        "opaque_user_id": "U42",
        "user_id": "42",
        "channel_id": "c9",
        "role": "viewer",
    } | claims
    return jwt.encode(
        {k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256"
    )


def test_extension_jwt_needs_the_decoded_secret() -> None:
    raw_secret = SETTINGS.extension_secret_b64.get_secret_value()
    wrong = jwt.encode(
        {
            "exp": int(time.time()) + 60,
            "opaque_user_id": "U1",
            "channel_id": "c",
            "role": "viewer",
        },
        raw_secret,
        algorithm="HS256",
    )

    assert verify_extension_jwt(SETTINGS, extension_token()).user_id == "42"
    with pytest.raises(AuthError):
        verify_extension_jwt(SETTINGS, wrong)


def test_anonymous_extension_viewers_are_refused() -> None:
    for claims in ({"user_id": None, "opaque_user_id": "A1"}, {"opaque_user_id": "A1"}):
        parsed = verify_extension_jwt(SETTINGS, extension_token(**claims))
        with pytest.raises(ForbiddenError) as raised:
            require_identified(parsed)
        assert raised.value.code == "anonymous_viewer"

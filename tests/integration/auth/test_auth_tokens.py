"""Forged, expired, alg=none, wrong-audience and wrong-secret tokens are refused; the
extension login creates accounts and binds its access token to the channel."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import asyncpg
import jwt

from tachigo.auth.tokens import AUDIENCE
from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import ApiClient
from tests.integration.auth.auth_helpers import make_user, unique


def access_claims(user_id: uuid.UUID, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "sub": str(user_id),
        "uid": str(user_id),
        "role": "admin",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    } | overrides


def unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def extension_jwt(settings: Settings, **claims: object) -> str:
    secret = base64.b64decode(settings.auth.extension_secret_b64.get_secret_value())
    body = {
        "exp": int(time.time()) + 300,
        "opaque_user_id": "U" + str(claims.get("user_id", "1")),
        "channel_id": "chan-ext",
        "role": "viewer",
    } | claims
    return jwt.encode(body, secret, algorithm="HS256")


async def test_forged_access_tokens_are_refused(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user = await make_user(db, settings)
    secret = settings.auth.access_secret.get_secret_value()
    good = user["token"]
    head, payload, signature = good.split(".")
    cases = {
        "wrong secret": jwt.encode(
            access_claims(user["id"]), "x" * 40, algorithm="HS256"
        ),
        "alg none": unsigned(access_claims(user["id"])),
        "expired": jwt.encode(
            access_claims(user["id"], exp=int(time.time()) - 120),
            secret,
            algorithm="HS256",
        ),
        "wrong audience": jwt.encode(
            access_claims(user["id"], aud="someone-else"), secret, algorithm="HS256"
        ),
        "no audience (Go token)": jwt.encode(
            {k: v for k, v in access_claims(user["id"]).items() if k != "aud"},
            secret,
            algorithm="HS256",
        ),
        "HS512": jwt.encode(access_claims(user["id"]), secret * 2, algorithm="HS512"),
        "unknown role": jwt.encode(
            access_claims(user["id"], role="root"), secret, algorithm="HS256"
        ),
        "tampered payload": f"{head}.{payload[:-2]}xx.{signature}",
        "not a jwt": "garbage",
    }
    for name, token in cases.items():
        status, body, _ = await api.call("GET", "/api/v1/users/me", token=token)
        assert status == 401, name
        assert body["code"] in ("invalid_token", "token_expired"), name
    status, _, _ = await api.call("GET", "/api/v1/users/me", token=good)
    assert status == 200


async def test_missing_authorization_header_is_401(api: ApiClient) -> None:
    status, body, _ = await api.call("GET", "/api/v1/users/me")

    assert status == 401
    assert body == {
        "success": False,
        "code": "missing_token",
        "details": {},
        "error": body["error"],
    }


async def test_extension_login_creates_the_account_on_first_login(
    api: ApiClient, settings: Settings, db: asyncpg.Pool
) -> None:
    twitch_id = unique("9")

    status, body, response = await api.call(
        "POST",
        "/api/v1/extension/auth/login",
        json_body={"extension_jwt": extension_jwt(settings, user_id=twitch_id)},
    )

    assert status == 200, body
    assert set(body["data"]["tokens"]) == {"access_token", "expires_in"}
    assert "Set-Cookie" not in response.headers
    claims = jwt.decode(
        body["data"]["tokens"]["access_token"], options={"verify_signature": False}
    )
    assert claims["cid"] == "chan-ext"
    owner = await db.fetchval(
        "SELECT user_id FROM auth_providers WHERE provider = 'twitch'"
        " AND provider_id = $1",
        twitch_id,
    )
    assert str(owner) == body["data"]["user"]["id"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = $1", owner
        )
        == 0
    )


async def test_concurrent_first_extension_logins_converge_on_one_account(
    api: ApiClient, other_api: ApiClient, settings: Settings, db: asyncpg.Pool
) -> None:
    twitch_id = unique("8")
    token = extension_jwt(settings, user_id=twitch_id)

    results = await asyncio.gather(
        *[
            client.call(
                "POST",
                "/api/v1/extension/auth/login",
                json_body={"extension_jwt": token},
            )
            for client in (api, other_api) * 4
        ]
    )

    assert {r[0] for r in results} == {200}
    assert len({r[1]["data"]["user"]["id"] for r in results}) == 1
    assert (
        await db.fetchval(
            "SELECT count(*) FROM auth_providers WHERE provider = 'twitch'"
            " AND provider_id = $1",
            twitch_id,
        )
        == 1
    )


async def test_extension_access_token_only_sends_heartbeats_for_its_channel(
    api: ApiClient, settings: Settings
) -> None:
    _, body, _ = await api.call(
        "POST",
        "/api/v1/extension/auth/login",
        json_body={"extension_jwt": extension_jwt(settings, user_id=unique("7"))},
    )
    access = body["data"]["tokens"]["access_token"]

    status, reply, _ = await api.call(
        "POST",
        "/api/v1/heartbeats",
        token=access,
        json_body={"channel_id": "some-other-channel"},
    )

    assert status == 403
    assert reply["code"] == "wrong_channel"


async def test_extension_login_refuses_bad_jwts(
    api: ApiClient, settings: Settings
) -> None:
    secret = base64.b64decode(settings.auth.extension_secret_b64.get_secret_value())
    claims = {
        "exp": int(time.time()) + 300,
        "opaque_user_id": "U5",
        "user_id": "5",
        "channel_id": "c",
        "role": "viewer",
    }
    cases = {
        "wrong secret": (
            jwt.encode(claims, b"another-secret-0123456789abcdef!", "HS256"),
            401,
        ),
        "alg none": (unsigned(claims), 401),
        "expired": (
            jwt.encode(claims | {"exp": int(time.time()) - 600}, secret, "HS256"),
            401,
        ),
        "no channel": (
            jwt.encode(
                {k: v for k, v in claims.items() if k != "channel_id"}, secret, "HS256"
            ),
            401,
        ),
        "anonymous": (
            jwt.encode(
                claims | {"opaque_user_id": "A123", "user_id": None}, secret, "HS256"
            ),
            403,
        ),
    }
    for name, (token, expected) in cases.items():
        status, body, _ = await api.call(
            "POST", "/api/v1/extension/auth/login", json_body={"extension_jwt": token}
        )
        assert status == expected, (name, body)
    status, body, _ = await api.call(
        "POST",
        "/api/v1/extension/auth/login",
        json_body={"extension_jwt": cases["anonymous"][0]},
    )
    assert body["code"] == "anonymous_viewer"


async def test_extension_tokens_cannot_use_the_dashboard(
    api: ApiClient, settings: Settings, db: asyncpg.Pool
) -> None:
    _, body, _ = await api.call(
        "POST",
        "/api/v1/extension/auth/login",
        json_body={"extension_jwt": extension_jwt(settings, user_id=unique("6"))},
    )
    await db.execute(
        "UPDATE users SET role = 'admin' WHERE id = $1::uuid",
        body["data"]["user"]["id"],
    )
    admin_token = jwt.encode(
        access_claims(uuid.UUID(body["data"]["user"]["id"]), cid="chan-ext"),
        settings.auth.access_secret.get_secret_value(),
        algorithm="HS256",
    )

    status, reply, _ = await api.call(
        "GET", "/api/v1/dashboard/streamers", token=admin_token
    )

    assert status == 403
    assert reply["code"] == "extension_token"

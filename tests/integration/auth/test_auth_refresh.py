"""Refresh tokens: rotation, reuse detection with family revocation, logout."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tachigo.auth.refresh import hash_token
from tests.integration.auth.auth_fakes import ApiClient
from tests.integration.auth.auth_helpers import unique


async def sign_up(api: ApiClient) -> dict[str, Any]:
    name = unique("rf")
    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={
            "username": name,
            "email": f"{name}@t.test",
            "password": "refresh me please",
        },
    )
    assert status == 201, body
    data: dict[str, Any] = body["data"]
    return data


async def age_rotation(db: asyncpg.Pool, token: str) -> None:
    """Move a rotation a minute into the past, beyond the parallel-tab grace."""
    await db.execute(
        "UPDATE refresh_tokens SET rotated_at = now() - interval '1 minute'"
        " WHERE token_hash = $1",
        hash_token(token),
    )


async def test_refresh_rotates_the_cookie_and_returns_a_new_access_token(
    api: ApiClient,
) -> None:
    await sign_up(api)
    first = api.cookie("refresh_token")

    status, body, _ = await api.call("POST", "/api/v1/auth/refresh")

    assert status == 200
    assert set(body["data"]) == {"tokens"}
    assert body["data"]["tokens"]["expires_in"] == 900
    assert api.cookie("refresh_token") not in (None, first)


async def test_refresh_accepts_the_token_in_the_body_without_a_cookie(
    api: ApiClient, other_api: ApiClient
) -> None:
    await sign_up(api)
    token = api.required_cookie("refresh_token")

    status, body, response = await other_api.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": token}
    )

    assert status == 200, body
    assert "refresh_token=" in response.headers.get("Set-Cookie", "")


async def test_reuse_of_a_rotated_token_revokes_the_whole_family(
    api: ApiClient, other_api: ApiClient, db: asyncpg.Pool
) -> None:
    await sign_up(api)
    stolen = api.required_cookie("refresh_token")
    await api.call("POST", "/api/v1/auth/refresh")
    current = api.required_cookie("refresh_token")
    await age_rotation(db, stolen)

    replay = await other_api.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": stolen}
    )
    after = await api.call("POST", "/api/v1/auth/refresh")

    assert replay[0] == 401 and replay[1]["code"] == "refresh_token_reused"
    assert after[0] == 401 and after[1]["code"] == "invalid_refresh_token"
    family = await db.fetch(
        "SELECT revoked_reason FROM refresh_tokens WHERE family_id = (SELECT family_id"
        " FROM refresh_tokens WHERE token_hash = $1)",
        hash_token(current),
    )
    assert {r["revoked_reason"] for r in family} == {"reuse"}


async def test_reuse_within_the_grace_period_is_refused_without_revoking(
    api: ApiClient, other_api: ApiClient
) -> None:
    await sign_up(api)
    old = api.required_cookie("refresh_token")
    await api.call("POST", "/api/v1/auth/refresh")

    parallel = await other_api.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": old}
    )
    newest = await api.call("POST", "/api/v1/auth/refresh")

    assert parallel[0] == 401 and parallel[1]["code"] == "refresh_token_superseded"
    assert newest[0] == 200


async def test_concurrent_refreshes_with_one_token_let_exactly_one_win(
    api: ApiClient, server_url: str
) -> None:
    await sign_up(api)
    token = api.required_cookie("refresh_token")
    clients = [ApiClient(server_url, api.client_ip) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *[
                c.call(
                    "POST", "/api/v1/auth/refresh", json_body={"refresh_token": token}
                )
                for c in clients
            ]
        )
    finally:
        for c in clients:
            await c.close()

    assert sorted(r[0] for r in results) == [200, 401, 401, 401]
    assert {r[1]["code"] for r in results if r[0] == 401} == {
        "refresh_token_superseded"
    }


async def test_logout_revokes_the_family_and_clears_the_cookie(
    api: ApiClient, other_api: ApiClient
) -> None:
    await sign_up(api)
    token = api.required_cookie("refresh_token")

    status, body, response = await api.call("POST", "/api/v1/auth/logout")
    again = await other_api.call(
        "POST", "/api/v1/auth/logout", json_body={"refresh_token": token}
    )
    refresh = await other_api.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": token}
    )

    assert status == 200 and body["data"] == {"message": "logged out"}
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert api.cookie("refresh_token") is None
    assert again[0] == 200
    assert refresh[0] == 401


async def test_refresh_and_logout_without_a_token_answer_400(api: ApiClient) -> None:
    for path in ("/api/v1/auth/refresh", "/api/v1/auth/logout"):
        status, body, _ = await api.call("POST", path)
        assert status == 400
        assert body["code"] == "refresh_token_required"


async def test_refresh_with_unknown_or_malformed_token_is_401(api: ApiClient) -> None:
    for token in ("0" * 64, "not-a-token", "A" * 64):
        status, body, _ = await api.call(
            "POST", "/api/v1/auth/refresh", json_body={"refresh_token": token}
        )
        assert status == 401, token
        assert body["code"] == "invalid_refresh_token"


async def test_expired_refresh_token_is_refused(
    api: ApiClient, db: asyncpg.Pool
) -> None:
    await sign_up(api)
    await db.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'"
        " WHERE token_hash = $1",
        hash_token(api.required_cookie("refresh_token")),
    )

    status, body, _ = await api.call("POST", "/api/v1/auth/refresh")

    assert status == 401
    assert body["code"] == "invalid_refresh_token"


async def test_refresh_cookie_from_a_foreign_origin_is_refused(api: ApiClient) -> None:
    await sign_up(api)

    status, body, _ = await api.call(
        "POST", "/api/v1/auth/refresh", headers={"Origin": "https://evil.test"}
    )
    allowed = await api.call(
        "POST", "/api/v1/auth/refresh", headers={"Origin": "http://localhost:5173"}
    )

    assert status == 403 and body["code"] == "origin_not_allowed"
    assert allowed[0] == 200


async def test_refresh_issues_the_role_postgres_holds_now(
    api: ApiClient, db: asyncpg.Pool
) -> None:
    import jwt

    data = await sign_up(api)
    await db.execute(
        "UPDATE users SET role = 'streamer' WHERE id = $1::uuid", data["user"]["id"]
    )

    status, body, _ = await api.call("POST", "/api/v1/auth/refresh")

    claims = jwt.decode(
        body["data"]["tokens"]["access_token"], options={"verify_signature": False}
    )
    assert status == 200
    assert claims["role"] == "streamer"


async def test_only_hashes_of_refresh_tokens_are_stored(
    api: ApiClient, db: asyncpg.Pool
) -> None:
    await sign_up(api)
    token = api.required_cookie("refresh_token")

    raw = await db.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE encode(token_hash, 'hex') = $1",
        token,
    )
    hashed = await db.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", hash_token(token)
    )

    assert (raw, hashed) == (0, 1)

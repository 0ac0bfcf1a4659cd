"""The caller's own account: profile, linked providers, shipping addresses."""

from __future__ import annotations

import asyncio

import asyncpg

from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import ApiClient
from tests.integration.auth.auth_helpers import make_user, unique

ADDRESS = {"recipient_name": "Lin", "address_line1": "1 Main Rd", "city": "Taipei"}


async def test_profile_update_changes_username_and_avatar(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user = await make_user(db, settings)
    new_name = unique("renamed")

    status, body, _ = await api.call(
        "PUT",
        "/api/v1/users/me",
        token=user["token"],
        json_body={"username": new_name, "avatar_url": "https://cdn.test/a.png"},
    )
    me = await api.call("GET", "/api/v1/users/me", token=user["token"])

    assert status == 200
    assert me[1]["data"]["user"]["username"] == new_name
    assert me[1]["data"]["user"]["avatar_url"] == "https://cdn.test/a.png"
    assert "password_hash" not in str(me[1])


async def test_profile_update_refuses_taken_names_and_bad_urls(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user, other = await make_user(db, settings), await make_user(db, settings)

    taken = await api.call(
        "PUT",
        "/api/v1/users/me",
        token=user["token"],
        json_body={"username": other["username"]},
    )
    script = await api.call(
        "PUT",
        "/api/v1/users/me",
        token=user["token"],
        json_body={"avatar_url": "javascript:alert(1)"},
    )
    long_name = await api.call(
        "PUT", "/api/v1/users/me", token=user["token"], json_body={"username": "x" * 51}
    )

    assert taken[0] == 409 and taken[1]["code"] == "username_taken"
    assert script[0] == 422
    assert long_name[0] == 422


async def test_deleted_user_tokens_stop_working(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user = await make_user(db, settings)
    await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", user["id"])

    status, body, _ = await api.call("GET", "/api/v1/users/me", token=user["token"])

    assert status == 401
    assert body["code"] == "unknown_user"


async def test_last_login_method_cannot_be_unlinked(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user = await make_user(db, settings, twitch_id=unique("5"))

    twitch = await api.call(
        "DELETE", "/api/v1/auth/providers/twitch", token=user["token"]
    )
    providers = await api.call("GET", "/api/v1/users/me/providers", token=user["token"])
    email = await api.call(
        "DELETE", "/api/v1/auth/providers/email", token=user["token"]
    )
    missing = await api.call(
        "DELETE", "/api/v1/auth/providers/google", token=user["token"]
    )
    unknown = await api.call(
        "DELETE", "/api/v1/auth/providers/myspace", token=user["token"]
    )

    assert twitch[0] == 200 and twitch[1]["data"] == {"message": "provider unlinked"}
    assert [p["provider"] for p in providers[1]["data"]["providers"]] == ["email"]
    assert email[0] == 400 and email[1]["code"] == "last_login_method"
    assert missing[0] == 404
    assert unknown[0] == 400 and unknown[1]["code"] == "unknown_provider"


async def test_unlinking_email_removes_password_login(
    api: ApiClient, db: asyncpg.Pool
) -> None:
    name = unique("unl")
    _, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={
            "username": name,
            "email": f"{name}@t.test",
            "password": "password one",
        },
    )
    async with db.acquire() as conn:
        await conn.execute(
            "INSERT INTO auth_providers (id, user_id, provider, provider_id) VALUES"
            " (gen_random_uuid(), $1::uuid, 'twitch', $2)",
            body["data"]["user"]["id"],
            unique("5"),
        )
    token = body["data"]["tokens"]["access_token"]

    unlinked = await api.call("DELETE", "/api/v1/auth/providers/email", token=token)
    login = await api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": f"{name}@t.test", "password": "password one"},
    )

    assert unlinked[0] == 200
    assert login[0] == 401


async def test_addresses_keep_one_default(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user = await make_user(db, settings)
    first = await api.call(
        "POST",
        "/api/v1/users/me/addresses",
        token=user["token"],
        json_body=ADDRESS | {"is_default": True},
    )
    second = await api.call(
        "POST",
        "/api/v1/users/me/addresses",
        token=user["token"],
        json_body=ADDRESS | {"city": "Tainan", "is_default": True},
    )

    listed = await api.call("GET", "/api/v1/users/me/addresses", token=user["token"])
    made = await api.call(
        "PUT",
        f"/api/v1/users/me/addresses/{first[1]['data']['address']['id']}/default",
        token=user["token"],
    )
    relisted = await api.call("GET", "/api/v1/users/me/addresses", token=user["token"])

    assert first[0] == second[0] == 201
    assert first[1]["data"]["address"]["country"] == "TW"
    assert [a["city"] for a in listed[1]["data"]["addresses"]] == ["Tainan", "Taipei"]
    assert [a["is_default"] for a in listed[1]["data"]["addresses"]] == [True, False]
    assert made[0] == 200
    assert [a["city"] for a in relisted[1]["data"]["addresses"]] == ["Taipei", "Tainan"]


async def test_concurrent_default_addresses_leave_exactly_one_default(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user = await make_user(db, settings)
    created = [
        await api.call(
            "POST",
            "/api/v1/users/me/addresses",
            token=user["token"],
            json_body=ADDRESS | {"city": f"City {n}"},
        )
        for n in range(4)
    ]

    results = await asyncio.gather(
        *[
            api.call(
                "PUT",
                f"/api/v1/users/me/addresses/{c[1]['data']['address']['id']}/default",
                token=user["token"],
            )
            for c in created
        ]
    )

    assert [r[0] for r in results] == [200] * 4
    defaults = await db.fetchval(
        "SELECT count(*) FROM shipping_addresses WHERE user_id = $1"
        " AND is_default AND deleted_at IS NULL",
        user["id"],
    )
    assert defaults == 1


async def test_other_users_addresses_are_not_found(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    owner, intruder = await make_user(db, settings), await make_user(db, settings)
    _, body, _ = await api.call(
        "POST", "/api/v1/users/me/addresses", token=owner["token"], json_body=ADDRESS
    )
    address_id = body["data"]["address"]["id"]

    update = await api.call(
        "PUT",
        f"/api/v1/users/me/addresses/{address_id}",
        token=intruder["token"],
        json_body=ADDRESS,
    )
    delete = await api.call(
        "DELETE", f"/api/v1/users/me/addresses/{address_id}", token=intruder["token"]
    )
    mine = await api.call(
        "DELETE", f"/api/v1/users/me/addresses/{address_id}", token=owner["token"]
    )

    assert update[0] == delete[0] == 404
    assert update[1]["code"] == "address_not_found"
    assert mine[0] == 200


async def test_address_count_is_bounded(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user = await make_user(db, settings)
    limit = settings.accounts.addresses_max
    for _ in range(limit):
        status, _, _ = await api.call(
            "POST", "/api/v1/users/me/addresses", token=user["token"], json_body=ADDRESS
        )
        assert status == 201

    status, body, _ = await api.call(
        "POST", "/api/v1/users/me/addresses", token=user["token"], json_body=ADDRESS
    )

    assert status == 409
    assert body["code"] == "too_many_addresses"


async def test_address_fields_are_validated(
    api: ApiClient, db: asyncpg.Pool, settings: Settings
) -> None:
    user = await make_user(db, settings)
    for broken in (
        {"city": "Taipei"},
        ADDRESS | {"phone": "1" * 21},
        ADDRESS | {"recipient_name": ""},
    ):
        status, body, _ = await api.call(
            "POST", "/api/v1/users/me/addresses", token=user["token"], json_body=broken
        )
        assert status == 422, broken

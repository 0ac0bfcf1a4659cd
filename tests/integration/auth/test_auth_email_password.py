"""Email and password: register, login, verify email, forgot and reset password."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg

from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import ApiClient
from tests.integration.auth.auth_helpers import token_from_mail, unique, wait_for_mail


async def register(
    api: ApiClient, password: str = "correct horse battery"
) -> dict[str, Any]:
    name = unique("reg")
    email = f"{name}@Example.test"
    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={"username": name, "email": email, "password": password},
    )
    assert status == 201, body
    return {"name": name, "email": email.lower(), "password": password, "body": body}


async def test_register_creates_viewer_with_tokens_and_refresh_cookie(
    api: ApiClient, db: asyncpg.Pool
) -> None:
    created = await register(api)

    data = created["body"]["data"]
    assert created["body"]["success"] is True
    assert data["user"]["role"] == "viewer"
    assert data["user"]["email"] == created["email"]
    assert data["user"]["email_verified"] is False
    assert set(data["tokens"]) == {"access_token", "expires_in"}
    assert data["tokens"]["expires_in"] == 900
    assert "refresh_token" not in str(created["body"])
    assert api.cookie("refresh_token") is not None
    stored = await db.fetchval(
        "SELECT password_hash FROM users WHERE email = $1", created["email"]
    )
    assert stored.startswith("$argon2id$")
    providers = await db.fetchval(
        "SELECT count(*) FROM auth_providers WHERE provider = 'email'"
        " AND provider_id = $1",
        created["email"],
    )
    assert providers == 1


async def test_register_sets_refresh_cookie_with_go_attributes(api: ApiClient) -> None:
    name = unique("ck")
    _, _, response = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={
            "username": name,
            "email": f"{name}@t.test",
            "password": "long enough pw",
        },
    )

    header = next(
        v
        for v in response.headers.getall("Set-Cookie")
        if v.startswith("refresh_token=")
    )
    assert "Path=/api/v1/auth" in header
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Max-Age=2592000" in header
    assert "Secure" not in header  # development settings


async def test_register_with_taken_email_in_other_case_conflicts(
    api: ApiClient,
) -> None:
    created = await register(api)

    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={
            "username": unique("dup"),
            "email": created["email"].upper(),
            "password": "another password",
        },
    )

    assert status == 409
    assert body["code"] == "email_taken"


async def test_register_with_taken_username_conflicts(api: ApiClient) -> None:
    created = await register(api)

    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={
            "username": created["name"].upper(),
            "email": f"{unique('x')}@t.test",
            "password": "another password",
        },
    )

    assert status == 409
    assert body["code"] == "username_taken"


async def test_register_validates_fields(api: ApiClient) -> None:
    cases = [
        ({"username": "ab", "email": "a@b.test", "password": "12345678"}, "username"),
        ({"username": "abc", "email": "not-an-email", "password": "12345678"}, "email"),
        ({"username": "abc", "email": "a@b.test", "password": "short"}, "password"),
        ({"username": "abc", "email": "a@b.test"}, "password"),
    ]
    for body_in, field in cases:
        status, body, _ = await api.call(
            "POST", "/api/v1/auth/register", json_body=body_in
        )
        assert status == 422, (body_in, body)
        assert body["code"] == "validation_failed"
        assert field in body["error"]


async def test_register_rejects_malformed_json_with_400(api: ApiClient) -> None:
    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )

    assert status == 400
    assert body["code"] == "invalid_json"


async def test_concurrent_registrations_of_one_email_create_one_account(
    api: ApiClient, other_api: ApiClient, db: asyncpg.Pool
) -> None:
    email = f"{unique('race')}@t.test"
    results = await asyncio.gather(
        *[
            client.call(
                "POST",
                "/api/v1/auth/register",
                json_body={
                    "username": unique("r"),
                    "email": email,
                    "password": "same password",
                },
            )
            for client in (api, other_api, api, other_api)
        ]
    )

    statuses = sorted(r[0] for r in results)
    assert statuses == [201, 409, 409, 409]
    assert await db.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 1


async def test_login_with_right_password_returns_tokens(
    api: ApiClient, other_api: ApiClient
) -> None:
    created = await register(api)

    status, body, _ = await other_api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": created["email"].upper(), "password": created["password"]},
    )

    assert status == 200
    assert body["data"]["user"]["email"] == created["email"]
    assert other_api.cookie("refresh_token") is not None


async def test_login_with_wrong_password_or_unknown_email_is_the_same_401(
    api: ApiClient,
) -> None:
    created = await register(api)

    wrong = await api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": created["email"], "password": "wrong password"},
    )
    unknown = await api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": f"{unique('nobody')}@t.test", "password": "wrong password"},
    )

    assert wrong[0] == unknown[0] == 401
    assert wrong[1]["code"] == unknown[1]["code"] == "invalid_credentials"
    assert wrong[1]["error"] == unknown[1]["error"]


async def test_login_of_deactivated_account_is_refused(
    api: ApiClient, db: asyncpg.Pool
) -> None:
    created = await register(api)
    await db.execute(
        "UPDATE users SET is_active = false WHERE email = $1", created["email"]
    )

    status, body, _ = await api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": created["email"], "password": created["password"]},
    )

    assert status == 401
    assert body["code"] == "account_disabled"


async def test_verification_mail_confirms_email_once(
    api: ApiClient, outbox: Path, db: asyncpg.Pool
) -> None:
    created = await register(api)
    mail = await wait_for_mail(outbox, created["email"], kind="verify_email")
    token = token_from_mail(mail)
    assert "http://localhost:5173/verify-email?token=" in mail["text"]

    first = await api.call(
        "POST", "/api/v1/auth/verify-email/confirm", json_body={"token": token}
    )
    second = await api.call(
        "POST", "/api/v1/auth/verify-email/confirm", json_body={"token": token}
    )

    assert first[0] == 200 and first[1]["data"]["message"] == "email verified"
    assert second[0] == 400 and second[1]["code"] == "invalid_token"
    assert (
        await db.fetchval(
            "SELECT email_verified FROM users WHERE email = $1", created["email"]
        )
        is True
    )


async def test_verify_email_send_refuses_verified_accounts(
    api: ApiClient, outbox: Path
) -> None:
    created = await register(api)
    access = created["body"]["data"]["tokens"]["access_token"]
    mail = await wait_for_mail(outbox, created["email"], kind="verify_email")
    await api.call(
        "POST",
        "/api/v1/auth/verify-email/confirm",
        json_body={"token": token_from_mail(mail)},
    )

    status, body, _ = await api.call(
        "POST", "/api/v1/auth/verify-email/send", token=access
    )

    assert status == 400
    assert body["code"] == "already_verified"


async def test_resent_verification_voids_the_older_link(
    api: ApiClient, outbox: Path
) -> None:
    created = await register(api)
    access = created["body"]["data"]["tokens"]["access_token"]
    old = token_from_mail(
        await wait_for_mail(outbox, created["email"], kind="verify_email")
    )

    status, _, _ = await api.call(
        "POST", "/api/v1/auth/verify-email/send", token=access
    )
    assert status == 200
    async with asyncio.timeout(10):
        while True:
            newest = await wait_for_mail(outbox, created["email"], kind="verify_email")
            if token_from_mail(newest) != old:
                break
            await asyncio.sleep(0.02)

    stale = await api.call(
        "POST", "/api/v1/auth/verify-email/confirm", json_body={"token": old}
    )
    fresh = await api.call(
        "POST",
        "/api/v1/auth/verify-email/confirm",
        json_body={"token": token_from_mail(newest)},
    )
    assert stale[0] == 400
    assert fresh[0] == 200


async def test_forgot_password_answers_the_same_for_unknown_emails(
    api: ApiClient,
) -> None:
    created = await register(api)

    known = await api.call(
        "POST", "/api/v1/auth/forgot-password", json_body={"email": created["email"]}
    )
    unknown = await api.call(
        "POST",
        "/api/v1/auth/forgot-password",
        json_body={"email": f"{unique('ghost')}@t.test"},
    )

    assert known[0] == unknown[0] == 200
    assert known[1] == unknown[1]


async def test_reset_password_sets_new_password_and_signs_out_sessions(
    api: ApiClient, other_api: ApiClient, outbox: Path, settings: Settings
) -> None:
    created = await register(api)
    assert api.cookie("refresh_token") is not None
    await other_api.call(
        "POST", "/api/v1/auth/forgot-password", json_body={"email": created["email"]}
    )
    token = token_from_mail(
        await wait_for_mail(outbox, created["email"], kind="reset_password")
    )

    status, body, _ = await other_api.call(
        "POST",
        "/api/v1/auth/reset-password",
        json_body={"token": token, "new_password": "brand new secret"},
    )
    assert status == 200, body
    assert body["data"]["message"] == "password reset successfully"

    old_login = await other_api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": created["email"], "password": created["password"]},
    )
    new_login = await other_api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": created["email"], "password": "brand new secret"},
    )
    stale_refresh = await api.call("POST", "/api/v1/auth/refresh")
    reuse = await other_api.call(
        "POST",
        "/api/v1/auth/reset-password",
        json_body={"token": token, "new_password": "x" * 12},
    )
    assert old_login[0] == 401
    assert new_login[0] == 200
    assert stale_refresh[0] == 401
    assert reuse[0] == 400 and reuse[1]["code"] == "invalid_token"

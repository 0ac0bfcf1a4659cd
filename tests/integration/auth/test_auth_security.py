"""Rate limits, CORS, provider timeouts, and secrets kept out of the logs."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import jwt
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from tachigo.logging import JsonLineFormatter
from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import (
    CLIENT_SECRET,
    ApiClient,
    FakeProviders,
    Identity,
)
from tests.integration.auth.auth_helpers import (
    build_settings,
    start_server,
    token_from_mail,
    unique,
    wait_for_mail,
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def strict_server(
    fakes: FakeProviders, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestServer]:
    """A second app: no trusted proxies and three sign-in requests per window."""
    settings = build_settings(
        tmp_path_factory.mktemp("strict-outbox"), fakes, auth_requests_max=3
    )
    settings.accounts.rate_limit.trusted_proxies = []
    server = await start_server(settings)
    yield server
    await server.close()


async def test_sixty_first_login_from_one_address_is_rate_limited(
    api: ApiClient, other_api: ApiClient
) -> None:
    body = {"email": f"{unique('rl')}@t.test", "password": "wrong password"}
    statuses = [
        (await api.call("POST", "/api/v1/auth/login", json_body=body))[0]
        for _ in range(60)
    ]

    status, reply, response = await api.call(
        "POST", "/api/v1/auth/login", json_body=body
    )
    elsewhere = await other_api.call("POST", "/api/v1/auth/login", json_body=body)
    other_route = await api.call(
        "POST", "/api/v1/auth/forgot-password", json_body={"email": body["email"]}
    )

    assert set(statuses) == {401}
    assert status == 429 and reply["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert reply["details"]["retry_after_s"] == int(response.headers["Retry-After"])
    assert elsewhere[0] == 401
    assert other_route[0] == 200


async def test_forwarded_for_is_ignored_without_trusted_proxies(
    strict_server: TestServer,
) -> None:
    client = ApiClient(str(strict_server.make_url("")).rstrip("/"), "203.0.113.1")
    try:
        results = []
        for n in range(5):
            client.client_ip = f"203.0.113.{n + 1}"  # spoofed, must not matter
            results.append(
                (
                    await client.call(
                        "POST", "/api/v1/auth/web3/nonce", json_body={"address": "0x1"}
                    )
                )[0]
            )
    finally:
        await client.close()

    assert results[:3] == [400, 400, 400]
    assert results[3:] == [429, 429]


async def test_dashboard_routes_are_not_rate_limited(strict_server: TestServer) -> None:
    client = ApiClient(str(strict_server.make_url("")).rstrip("/"), "203.0.113.50")
    try:
        statuses = {(await client.call("GET", "/api/v1/users/me"))[0] for _ in range(6)}
    finally:
        await client.close()

    assert statuses == {401}


async def test_cors_preflight_answers_allowed_origins_only(api: ApiClient) -> None:
    request = {
        "Origin": "http://localhost:5173",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }

    allowed = await api.call("OPTIONS", "/api/v1/auth/login", headers=request)
    denied = await api.call(
        "OPTIONS",
        "/api/v1/auth/login",
        headers=request | {"Origin": "https://evil.test"},
    )

    headers = allowed[2].headers
    assert allowed[0] == 204
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    assert headers["Access-Control-Max-Age"] == "43200"
    assert denied[0] == 403 and "Access-Control-Allow-Origin" not in denied[2].headers


async def test_cors_headers_label_errors_for_allowed_origins_only(
    api: ApiClient,
) -> None:
    mine = await api.call(
        "GET", "/api/v1/users/me", headers={"Origin": "http://localhost:3000"}
    )
    foreign = await api.call(
        "GET", "/api/v1/users/me", headers={"Origin": "https://evil.test"}
    )

    assert mine[0] == 401
    assert mine[2].headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert mine[2].headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in foreign[2].headers


async def test_hanging_provider_fails_sign_in_within_the_client_timeout(
    api: ApiClient, fakes: FakeProviders, settings: Settings
) -> None:
    oauth = settings.accounts.oauth
    saved, oauth.http_timeout_s = oauth.http_timeout_s, 0.5
    fakes.next_identity["twitch"] = Identity(subject=unique("5"))
    fakes.hang_token_endpoint = True
    try:
        _, _, response = await api.call("GET", "/api/v1/auth/twitch")
        callback = (await api.call("GET", response.headers["Location"]))[2].headers[
            "Location"
        ]
        started = time.monotonic()
        status, body, _ = await api.call("GET", callback)
        elapsed = time.monotonic() - started
    finally:
        oauth.http_timeout_s = saved
        fakes.release_hang()

    assert status == 502 and body["code"] == "oauth_failed"
    assert elapsed < 5


async def test_logs_never_contain_tokens_passwords_or_secrets(
    api: ApiClient,
    other_api: ApiClient,
    fakes: FakeProviders,
    outbox: Path,
    settings: Settings,
    db: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "planted-password-" + unique("")
    name = unique("log")
    email = f"{name}@t.test"
    planted = [password, CLIENT_SECRET, settings.auth.access_secret.get_secret_value()]

    _, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={"username": name, "email": email, "password": password},
    )
    planted += [
        body["data"]["tokens"]["access_token"],
        api.required_cookie("refresh_token"),
    ]
    await api.call("GET", "/api/v1/users/me", token=planted[-2])
    await api.call("POST", "/api/v1/auth/refresh")
    planted.append(api.required_cookie("refresh_token"))
    await other_api.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": email, "password": password + "-wrong"},
    )
    await other_api.call("GET", "/api/v1/users/me", token=planted[-2] + "x")
    await other_api.call(
        "POST", "/api/v1/auth/forgot-password", json_body={"email": email}
    )
    reset = token_from_mail(await wait_for_mail(outbox, email, kind="reset_password"))
    planted.append(reset)
    await other_api.call(
        "POST",
        "/api/v1/auth/reset-password",
        json_body={"token": reset, "new_password": password + "2"},
    )
    ext = jwt.encode(
        {
            "exp": int(time.time()) + 60,
            "opaque_user_id": "U1",
            "user_id": unique("1"),
            "channel_id": "c",
            "role": "viewer",
        },
        base64.b64decode(settings.auth.extension_secret_b64.get_secret_value()),
        algorithm="HS256",
    )
    planted.append(ext)
    await other_api.call(
        "POST", "/api/v1/extension/auth/login", json_body={"extension_jwt": ext}
    )
    fakes.next_identity["google"] = Identity(subject=unique("g"))
    _, _, response = await other_api.call("GET", "/api/v1/auth/google")
    callback = (await other_api.call("GET", response.headers["Location"]))[2].headers[
        "Location"
    ]
    await other_api.call("GET", callback)

    formatter = JsonLineFormatter()
    lines = "\n".join(formatter.format(r) for r in caplog.records)
    assert caplog.records, "the flows above should have logged something"
    for secret in planted:
        assert secret and secret not in lines, (
            f"a planted secret leaked: {secret[:6]}..."
        )

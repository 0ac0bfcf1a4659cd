"""Twitch and Google sign-in against local fake providers over real HTTP."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.auth.auth_fakes import ApiClient, FakeProviders, Identity
from tests.integration.auth.auth_helpers import unique


async def start(
    api: ApiClient, provider: str, **params: str
) -> tuple[str, dict[str, str]]:
    status, body, response = await api.call(
        "GET", f"/api/v1/auth/{provider}", params=params or None
    )
    assert status == 302, body
    location = response.headers["Location"]
    return location, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


async def consent(api: ApiClient, authorize_url: str) -> str:
    """Play the browser at the provider: follow its redirect back to our callback."""
    status, body, response = await api.call("GET", authorize_url)
    assert status == 302, body
    return response.headers["Location"]


async def sign_in(
    api: ApiClient,
    fakes: FakeProviders,
    provider: str,
    identity: Identity,
    **params: str,
) -> tuple[int, Any, Any]:
    fakes.next_identity[provider] = identity
    authorize_url, _ = await start(api, provider, **params)
    callback = await consent(api, authorize_url)
    return await api.call("GET", callback)


async def test_google_sign_in_verifies_the_id_token_and_opens_a_session(
    api: ApiClient, fakes: FakeProviders, db: asyncpg.Pool
) -> None:
    identity = Identity(
        subject=unique("g"), email=f"{unique('g')}@gmail.test", name="Gina"
    )

    authorize_url, query = await start(api, "google")
    assert authorize_url.startswith(fakes.base_url + "/google/authorize")
    assert query["response_type"] == "code"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256" and query["nonce"]
    fakes.next_identity["google"] = identity
    status, body, response = await api.call("GET", await consent(api, authorize_url))

    assert status == 200, body
    assert body["data"]["user"]["email"] == identity.email
    assert body["data"]["user"]["email_verified"] is True
    assert api.cookie("refresh_token") is not None
    assert api.cookie("oauth_state") is None
    owner = await db.fetchval(
        "SELECT user_id FROM auth_providers WHERE provider = 'google'"
        " AND provider_id = $1",
        identity.subject,
    )
    assert str(owner) == body["data"]["user"]["id"]


async def test_second_sign_in_with_the_same_identity_reaches_the_same_user(
    api: ApiClient, other_api: ApiClient, fakes: FakeProviders
) -> None:
    identity = Identity(subject=unique("g"), email=f"{unique('g')}@gmail.test")

    first = await sign_in(api, fakes, "google", identity)
    second = await sign_in(other_api, fakes, "google", identity)

    assert first[1]["data"]["user"]["id"] == second[1]["data"]["user"]["id"]


async def test_twitch_sign_in_with_redirect_to_lands_on_the_frontend(
    api: ApiClient, fakes: FakeProviders
) -> None:
    identity = Identity(
        subject=unique("5"),
        email=f"{unique('t')}@twitch.test",
        login=unique("login"),
        name="Streamy",
    )

    status, body, response = await sign_in(
        api, fakes, "twitch", identity, redirect_to="/dashboard?tab=points"
    )

    assert status == 302, body
    assert response.headers["Location"] == "http://localhost:5173/dashboard?tab=points"
    assert api.cookie("refresh_token") is not None
    me = await api.call("POST", "/api/v1/auth/refresh")
    assert me[0] == 200


async def test_callback_with_mismatched_state_is_refused_and_clears_cookies(
    api: ApiClient, fakes: FakeProviders
) -> None:
    fakes.next_identity["google"] = Identity(subject=unique("g"))
    authorize_url, _ = await start(api, "google")
    callback = await consent(api, authorize_url)
    forged = callback.replace("state=", "state=0")

    status, body, response = await api.call("GET", forged)

    assert status == 400
    assert body["code"] == "invalid_state"
    assert api.cookie("oauth_state") is None
    assert api.cookie("refresh_token") is None


async def test_callback_without_the_state_cookie_is_refused(
    api: ApiClient, other_api: ApiClient, fakes: FakeProviders
) -> None:
    fakes.next_identity["twitch"] = Identity(subject=unique("5"))
    authorize_url, _ = await start(api, "twitch")
    callback = await consent(api, authorize_url)

    status, body, _ = await other_api.call("GET", callback)

    assert status == 400
    assert body["code"] == "invalid_state"


async def test_denied_consent_is_reported(api: ApiClient) -> None:
    _, query = await start(api, "twitch")

    status, body, _ = await api.call(
        "GET",
        "/api/v1/auth/twitch/callback",
        params={"error": "access_denied", "state": query["state"]},
    )

    assert status == 400
    assert body["code"] == "oauth_denied"


@pytest.mark.parametrize(
    "redirect_to",
    [
        "https://evil.test/",
        "//evil.test",
        "/\\evil.test",
        "\\\\evil.test",
        "/%2F/evil.test",
        "%2F%2Fevil.test",
        "javascript:alert(1)",
        "/ok#fragment",
        "/a\tb",
        "/a%0d%0aSet-Cookie:x=y",
        "evil.test",
        "/%5Cevil.test",
    ],
)
async def test_open_redirect_attempts_are_refused(
    api: ApiClient, redirect_to: str
) -> None:
    status, body, response = await api.call(
        "GET", "/api/v1/auth/twitch", params={"redirect_to": redirect_to}
    )

    assert status == 400, redirect_to
    assert body["code"] == "invalid_redirect_to"
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    "override",
    [
        {"aud": "someone-elses-client"},
        {"iss": "https://evil.test"},
        {"exp": int(time.time()) - 3600},
        {"nonce": "not-the-nonce"},
        {"sub": None},
    ],
)
async def test_id_tokens_failing_a_check_are_refused(
    api: ApiClient, fakes: FakeProviders, override: dict[str, Any]
) -> None:
    fakes.id_token_overrides = override
    try:
        status, body, _ = await sign_in(
            api, fakes, "google", Identity(subject=unique("g"))
        )
    finally:
        fakes.id_token_overrides = {}

    assert status == 401, body
    assert body["code"] == "oauth_invalid_id_token"
    assert api.cookie("refresh_token") is None


async def test_id_token_signed_by_an_unknown_key_is_refused(
    api: ApiClient, fakes: FakeProviders
) -> None:
    fakes.rogue_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        status, body, _ = await sign_in(
            api, fakes, "google", Identity(subject=unique("g"))
        )
    finally:
        fakes.rogue_key = None

    assert status == 401
    assert body["code"] == "oauth_invalid_id_token"


async def test_verified_google_email_links_to_the_verified_account(
    api: ApiClient, other_api: ApiClient, fakes: FakeProviders, db: asyncpg.Pool
) -> None:
    name = unique("link")
    email = f"{name}@gmail.test"
    _, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={"username": name, "email": email, "password": "a fine password"},
    )
    await db.execute("UPDATE users SET email_verified = true WHERE email = $1", email)

    status, reply, _ = await sign_in(
        other_api, fakes, "google", Identity(subject=unique("g"), email=email)
    )

    assert status == 200
    assert reply["data"]["user"]["id"] == body["data"]["user"]["id"]


async def test_unverified_provider_email_never_takes_over_an_account(
    api: ApiClient, other_api: ApiClient, fakes: FakeProviders
) -> None:
    name = unique("victim")
    email = f"{name}@gmail.test"
    _, body, _ = await api.call(
        "POST",
        "/api/v1/auth/register",
        json_body={"username": name, "email": email, "password": "a fine password"},
    )

    status, reply, _ = await sign_in(
        other_api,
        fakes,
        "google",
        Identity(subject=unique("g"), email=email, email_verified=False),
    )

    assert status == 200
    assert reply["data"]["user"]["id"] != body["data"]["user"]["id"]
    assert reply["data"]["user"]["email"] is None


async def test_twitch_login_name_collision_still_creates_the_account(
    api: ApiClient, other_api: ApiClient, fakes: FakeProviders
) -> None:
    login = unique("same")
    first = await sign_in(
        api, fakes, "twitch", Identity(subject=unique("5"), login=login)
    )
    second = await sign_in(
        other_api, fakes, "twitch", Identity(subject=unique("5"), login=login.upper())
    )

    assert first[0] == second[0] == 200
    assert first[1]["data"]["user"]["username"] == login
    assert second[1]["data"]["user"]["username"] is None


async def test_twitch_token_request_carries_our_client_credentials(
    api: ApiClient, fakes: FakeProviders
) -> None:
    fakes.token_requests.clear()

    await sign_in(api, fakes, "twitch", Identity(subject=unique("5")))

    sent = fakes.token_requests[-1]
    assert sent["grant_type"] == "authorization_code"
    assert sent["client_id"] == "twitch-client-id"
    assert "code_verifier" not in sent


async def test_unconfigured_provider_answers_404(api: ApiClient) -> None:
    status, body, _ = await api.call("GET", "/api/v1/auth/facebook")

    assert status == 404

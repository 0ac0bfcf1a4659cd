"""Helpers shared by the sign-in, dashboard and agency tests."""

from __future__ import annotations

import asyncio
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiohttp.test_utils import TestServer

from tachigo.auth import accounts, roles
from tachigo.auth.mail import outbox_files
from tachigo.auth.settings import GoogleOAuthSettings, TwitchOAuthSettings
from tachigo.auth.tokens import issue_access_token
from tachigo.settings import Settings
from tachigo.web.app import create_app
from tests.integration.auth.auth_fakes import CLIENT_SECRET, FakeProviders


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def make_user(
    db: asyncpg.Pool,
    settings: Settings,
    role: str = "viewer",
    *,
    twitch_id: str | None = None,
) -> dict[str, Any]:
    """A user with a role (through our own role assignment) and an access token."""
    name = unique("u")
    row = await accounts.create_email_user(
        db, username=name, email=f"{name}@test.invalid", password_hash=None
    )
    if role != "viewer":
        await roles.assign_role(
            db, row["id"], role, changed_by=None, reason="test setup"
        )
    if twitch_id is not None:
        async with db.acquire() as conn:
            await accounts.link_provider(conn, row["id"], "twitch", twitch_id)
    token = issue_access_token(settings.auth, row["id"], role)
    return {
        "id": row["id"],
        "email": row["email"],
        "username": name,
        "token": token,
        "role": role,
    }


async def wait_for_mail(
    outbox: Path, to: str, *, kind: str, deadline_s: float = 10.0
) -> dict[str, Any]:
    """Poll the outbox until a mail of ``kind`` to ``to`` appears."""
    async with asyncio.timeout(deadline_s):
        while True:
            for path in reversed(outbox_files(outbox)):
                mail = orjson.loads(path.read_bytes())
                if mail["to"] == to and mail["kind"] == kind:
                    return dict(mail)
            await asyncio.sleep(0.02)


def token_from_mail(mail: dict[str, Any]) -> str:
    for word in mail["text"].split():
        if "token=" in word:
            query = urllib.parse.urlsplit(word).query
            token: str = urllib.parse.parse_qs(query)["token"][0]
            return token
    raise AssertionError(f"no token link in mail {mail['subject']!r}")


def provider_endpoints(fakes: FakeProviders, name: str) -> dict[str, Any]:
    base = f"{fakes.base_url}/{name}"
    # The callback URL gets the server's port once it listens (start_server).
    return {
        "client_id": fakes.client_id(name),
        "client_secret": CLIENT_SECRET,
        "authorize_url": f"{base}/authorize",
        "token_url": f"{base}/token",
        "redirect_uri": "http://127.0.0.1/cb",
    }


def build_settings(outbox: Path, fakes: FakeProviders, **rate_limit: Any) -> Settings:
    # The environment comes from the ``test_env`` fixture: this session's database
    # and topics.
    settings = Settings()
    accounts_settings = settings.accounts
    accounts_settings.mail.outbox_dir = outbox
    accounts_settings.password.time_cost = 1
    accounts_settings.password.memory_kib = 1024
    accounts_settings.password.parallelism = 1
    accounts_settings.rate_limit.trusted_proxies = ["127.0.0.1/32"]
    for key, value in rate_limit.items():
        setattr(accounts_settings.rate_limit, key, value)
    accounts_settings.oauth.twitch = TwitchOAuthSettings(
        **provider_endpoints(fakes, "twitch"),
        userinfo_url=f"{fakes.base_url}/twitch/helix/users",
    )
    accounts_settings.oauth.google = GoogleOAuthSettings(
        **provider_endpoints(fakes, "google"),
        jwks_url=f"{fakes.base_url}/google/certs",
        issuers=["https://accounts.google.com"],
    )
    return settings


async def start_server(settings: Settings) -> TestServer:
    """Start the real app on 127.0.0.1; then point the OAuth callbacks at its port.

    The database is migrated by the ``database`` fixture.
    """
    server = TestServer(create_app(settings), host="127.0.0.1")
    # Like production's serve(): no aiohttp access log (it would print query strings).
    await server.start_server(access_log=None)
    api_url = str(server.make_url("")).rstrip("/")
    for name in ("twitch", "google"):
        chosen = getattr(settings.accounts.oauth, name)
        chosen.redirect_uri = f"{api_url}/api/v1/auth/{name}/callback"
    return server

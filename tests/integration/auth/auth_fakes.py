"""Local stand-ins for third parties (Twitch and Google OAuth, an SMTP server) served
over real sockets on 127.0.0.1, plus a small HTTP client for our API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_SECRET = "fake-client-secret-for-tests-only"


@dataclass
class Identity:
    subject: str
    email: str | None = None
    email_verified: bool = True
    login: str | None = None
    name: str | None = None


@dataclass
class Grant:
    provider: str
    identity: Identity
    nonce: str | None
    challenge: str | None
    redirect_uri: str


@dataclass
class FakeProviders:
    """Twitch (code flow + Helix users) and Google (code flow + OIDC id_token, JWKS)."""

    base_url: str = ""
    next_identity: dict[str, Identity] = field(default_factory=dict)
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
    )
    kid: str = "fake-google-key-1"
    # When set, id_tokens are signed with this key (absent from the JWKS) under ``kid``.
    rogue_key: rsa.RSAPrivateKey | None = None
    runner: web.AppRunner | None = None
    # While set, the token endpoint never answers (a provider that hangs).
    hang_token_endpoint: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{provider}/authorize", self.authorize)
        app.router.add_post("/{provider}/token", self.token)
        app.router.add_get("/twitch/helix/users", self.helix_users)
        app.router.add_get("/google/certs", self.certs)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def release_hang(self) -> None:
        self.hang_token_endpoint = False
        self.released.set()
        self.released = asyncio.Event()

    def client_id(self, provider: str) -> str:
        return f"{provider}-client-id"

    async def authorize(self, request: web.Request) -> web.Response:
        """Plays the user who consents: issues a code for ``next_identity``."""
        provider = request.match_info["provider"]
        query = request.query
        if query.get("client_id") != self.client_id(provider):
            return web.json_response({"error": "unauthorized_client"}, status=400)
        code = secrets.token_hex(8)
        self.grants[code] = Grant(
            provider,
            self.next_identity[provider],
            query.get("nonce"),
            query.get("code_challenge"),
            query["redirect_uri"],
        )
        target = (
            query["redirect_uri"]
            + "?"
            + urllib.parse.urlencode({"code": code, "state": query["state"]})
        )
        return web.Response(status=302, headers={"Location": target})

    async def token(self, request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        if self.hang_token_endpoint:
            await self.released.wait()
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        grant = self.grants.pop(str(form.get("code", "")), None)
        if (
            grant is None
            or grant.provider != provider
            or form.get("client_id") != self.client_id(provider)
            or form.get("client_secret") != CLIENT_SECRET
            or form.get("redirect_uri") != grant.redirect_uri
            or form.get("grant_type") != "authorization_code"
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        if grant.challenge is not None:
            digest = hashlib.sha256(
                str(form.get("code_verifier", "")).encode()
            ).digest()
            if (
                base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                != grant.challenge
            ):
                return web.json_response({"error": "invalid_grant"}, status=400)
        if provider == "google":
            return web.json_response(
                {
                    "access_token": "g-at",
                    "token_type": "Bearer",
                    "id_token": self.id_token(grant),
                }
            )
        token = "tw-at-" + secrets.token_hex(8)
        self.grants[token] = grant
        return web.json_response({"access_token": token, "token_type": "bearer"})

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        identity = grant.identity
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "aud": self.client_id("google"),
            "sub": identity.subject,
            "iat": now,
            "exp": now + 600,
            "nonce": grant.nonce,
            "email": identity.email,
            "email_verified": identity.email_verified,
            "name": identity.name,
        }
        claims |= self.id_token_overrides
        key = self.rogue_key or self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    async def helix_users(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        grant = self.grants.get(token)
        if grant is None or request.headers.get("Client-Id") != self.client_id(
            "twitch"
        ):
            return web.json_response({"error": "Unauthorized"}, status=401)
        i = grant.identity
        return web.json_response(
            {
                "data": [
                    {
                        "id": i.subject,
                        "login": i.login,
                        "display_name": i.name,
                        "email": i.email,
                        "profile_image_url": "https://example.invalid/a.png",
                    }
                ]
            }
        )

    async def certs(self, request: web.Request) -> web.Response:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public |= {"kid": self.kid, "alg": "RS256", "use": "sig"}
        return web.json_response({"keys": [public]})


@dataclass
class FakeSmtp:
    """Enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT; keeps messages."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    # RCPT of these addresses is refused with 550, as a real server does.
    refused: set[str] = field(default_factory=set)
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        envelope: dict[str, Any] = {"rcpt": []}
        writer.write(b"220 fake-smtp ready\r\n")
        while line := await reader.readline():
            verb = line.decode().strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                writer.write(b"250-fake-smtp\r\n250 8BITMIME\r\n")
            elif verb == "MAIL":
                envelope["from"] = line.decode().strip()
                writer.write(b"250 ok\r\n")
            elif verb == "RCPT" and any(a in line.decode() for a in self.refused):
                writer.write(b"550 no such user\r\n")
            elif verb == "RCPT":
                envelope["rcpt"].append(line.decode().strip())
                writer.write(b"250 ok\r\n")
            elif verb == "DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                envelope["data"] = (await reader.readuntil(b"\r\n.\r\n")).decode()
                self.messages.append(envelope)
                envelope = {"rcpt": []}
                writer.write(b"250 queued\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            elif verb == "RSET":
                envelope = {"rcpt": []}
                writer.write(b"250 ok\r\n")
            else:
                writer.write(b"502 not implemented\r\n")
            await writer.drain()
        writer.close()


class ApiClient:
    """One browser-like client of our API: its own cookie jar and client address.

    The test app trusts X-Forwarded-For from 127.0.0.1, so each client gets its own
    address and rate-limit buckets.
    """

    def __init__(self, base_url: str, client_ip: str) -> None:
        self.base_url = base_url
        self.client_ip = client_ip
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def close(self) -> None:
        await self.session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        sent = {"X-Forwarded-For": self.client_ip} | (headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("http") else self.base_url + path
        async with self.session.request(
            method,
            url,
            json=json_body,
            headers=sent,
            params=params,
            data=data,
            allow_redirects=False,
        ) as response:
            raw = await response.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            return response.status, body, response

    def required_cookie(self, name: str) -> str:
        found = self.cookie(name)
        assert found is not None, f"no {name} cookie"
        return found

    def cookie(self, name: str) -> str | None:
        for cookie in self.session.cookie_jar:
            if cookie.key == name:
                return cookie.value
        return None

"""OAuth 2.0 authorization-code sign-in with Twitch and Google, against endpoints from
settings. Google's identity comes from its OIDC id_token (verified against the JWKS);
Twitch's from the Helix users endpoint, as the Go service does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from tachigo.auth.errors import OAuthError
from tachigo.auth.settings import OAuthProviderSettings, OAuthSettings
from tachigo.errors import NotFoundError, ValidationError

PROVIDERS = ("twitch", "google")
# RFC 7518 asymmetric algorithms only: never "none", never HMAC with a public key.
_ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384"]
_REDIRECT_MAX = 512


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """Who the provider says signed in. ``email`` is set only when it is verified."""

    provider: str
    subject: str
    email: str | None
    username: str | None
    display_name: str | None
    avatar_url: str | None


def provider_settings(settings: OAuthSettings, name: str) -> OAuthProviderSettings:
    """Return the configured provider.

    Raises:
        NotFoundError: unknown provider (``unknown_provider``), or one without a
            client id (``oauth_disabled``).
    """
    if name not in PROVIDERS:
        raise NotFoundError(
            f"unknown sign-in provider {name!r}; use twitch or google",
            code="unknown_provider",
        )
    found: OAuthProviderSettings = getattr(settings, name)
    if not found.is_enabled:
        raise NotFoundError(
            f"{name} sign-in is not configured on this server; set "
            f"TACHIGO_ACCOUNTS__OAUTH__{name.upper()}__CLIENT_ID",
            code="oauth_disabled",
        )
    return found


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def start_authorization(provider: OAuthProviderSettings) -> AuthorizationStart:
    """Build the authorize URL with a fresh state, nonce and PKCE verifier."""
    state, nonce = secrets.token_hex(16), secrets.token_hex(16)
    verifier = secrets.token_urlsafe(48)
    params = {
        "client_id": provider.client_id,
        "redirect_uri": provider.redirect_uri,
        "response_type": "code",
        "scope": " ".join(provider.scopes),
        "state": state,
    }
    if provider.is_oidc:
        params["nonce"] = nonce
    if provider.use_pkce:
        params |= {
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
    separator = "&" if "?" in provider.authorize_url else "?"
    url = provider.authorize_url + separator + urllib.parse.urlencode(params)
    return AuthorizationStart(url, state, nonce, verifier)


def check_redirect_to(value: str) -> str:
    """Accept only a same-site path such as ``/dashboard?tab=1``.

    Raises:
        ValidationError: absolute or scheme-relative URLs, backslashes, control
            characters, fragments, or the same after percent-decoding
            (``invalid_redirect_to``, status 400).
    """
    decoded = urllib.parse.unquote(value)
    for candidate in (value, decoded):
        if not is_safe_path(candidate):
            raise ValidationError(
                "invalid redirect_to parameter; pass a path on this site such as "
                "/dashboard",
                code="invalid_redirect_to",
                status=400,
            )
    return value


def is_safe_path(value: str) -> bool:
    if (
        not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or len(value) > _REDIRECT_MAX
    ):
        return False
    if (
        "\\" in value
        or "#" in value
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        return False
    parts = urllib.parse.urlsplit(value)
    return not parts.scheme and not parts.netloc


async def read_json_response(
    response: aiohttp.ClientResponse, limit: int, what: str
) -> dict[str, Any]:
    """Read a bounded JSON object from a provider.

    Raises:
        OAuthError: non-2xx status, too large, or not a JSON object.
    """
    body = await response.content.read(limit + 1)
    if response.status >= 300:
        raise OAuthError(
            f"{what} answered HTTP {response.status}; retry sign-in",
            provider_status=response.status,
        )
    if len(body) > limit:
        raise OAuthError(f"{what} answer is larger than {limit} bytes")
    try:
        data = json.loads(body)
    except ValueError as error:
        raise OAuthError(f"{what} did not answer JSON; retry sign-in") from error
    if not isinstance(data, dict):
        raise OAuthError(f"{what} did not answer a JSON object; retry sign-in")
    return data


async def exchange_code(
    session: aiohttp.ClientSession,
    settings: OAuthSettings,
    provider: OAuthProviderSettings,
    *,
    code: str,
    verifier: str,
) -> dict[str, Any]:
    """POST the authorization code to the token endpoint; return its JSON answer.

    Raises:
        OAuthError: the provider refused the code or did not answer in time.
    """
    form = {
        "client_id": provider.client_id,
        "client_secret": provider.client_secret.get_secret_value(),
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": provider.redirect_uri,
    }
    if provider.use_pkce:
        form["code_verifier"] = verifier
    timeout = aiohttp.ClientTimeout(total=settings.http_timeout_s)
    try:
        async with session.post(
            provider.token_url,
            data=form,
            timeout=timeout,
            headers={"Accept": "application/json"},
        ) as response:
            return await read_json_response(
                response, settings.response_bytes_max, "token endpoint"
            )
    except (aiohttp.ClientError, TimeoutError) as error:
        raise OAuthError(
            "token endpoint is unreachable; retry sign-in later",
            error_type=type(error).__name__,
        ) from error


async def fetch_twitch_user(
    session: aiohttp.ClientSession,
    settings: OAuthSettings,
    provider: OAuthProviderSettings,
    access_token: str,
) -> ProviderIdentity:
    """Read the signed-in user from Helix ``/users`` (email present only if verified).

    Raises:
        OAuthError: unreachable, refused, or an answer without a user.
    """
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Client-Id": provider.client_id,
    }
    timeout = aiohttp.ClientTimeout(total=settings.http_timeout_s)
    try:
        async with session.get(
            provider.userinfo_url, headers=headers, timeout=timeout
        ) as response:
            data = await read_json_response(
                response, settings.response_bytes_max, "twitch users endpoint"
            )
    except (aiohttp.ClientError, TimeoutError) as error:
        raise OAuthError(
            "twitch users endpoint is unreachable; retry sign-in later",
            error_type=type(error).__name__,
        ) from error
    users = data.get("data")
    if not isinstance(users, list) or not users or not isinstance(users[0], dict):
        raise OAuthError("twitch users endpoint returned no user; retry sign-in")
    user = users[0]
    subject = str(user.get("id") or "")
    if not subject:
        raise OAuthError("twitch user has no id; retry sign-in")
    # Helix documents ``email`` as the user's verified address.
    return ProviderIdentity(
        "twitch",
        subject,
        normalize_email(user.get("email")),
        text_or_none(user.get("login")),
        text_or_none(user.get("display_name")),
        text_or_none(user.get("profile_image_url")),
    )


def text_or_none(value: object) -> str | None:
    return str(value)[:2048] if isinstance(value, str) and value else None


def normalize_email(value: object) -> str | None:
    if not isinstance(value, str) or "@" not in value or len(value) > 254:
        return None
    return value.strip().lower()


class JwksCache:
    """Signing keys of one OIDC provider, refetched after ``jwks_cache_s`` or when a
    token names an unknown ``kid`` (at most once per ``jwks_refetch_min_s``)."""

    def __init__(self, settings: OAuthSettings, url: str) -> None:
        self._settings = settings
        self._url = url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, session: aiohttp.ClientSession, kid: str) -> jwt.PyJWK:
        """Return the key ``kid``.

        Raises:
            OAuthError: the JWKS is unreachable or does not hold ``kid``.
        """
        age = time.monotonic() - self._fetched_at
        stale = age > self._settings.jwks_cache_s
        unknown = kid not in self._keys and age > self._settings.jwks_refetch_min_s
        if stale or unknown:
            async with self._lock:
                if (
                    time.monotonic() - self._fetched_at
                    > self._settings.jwks_refetch_min_s
                ):
                    self._keys = await self.fetch(session)
                    self._fetched_at = time.monotonic()
        found = self._keys.get(kid)
        if found is None:
            raise OAuthError(
                "id_token is signed with an unknown key; retry sign-in",
                code="oauth_invalid_id_token",
                status=401,
            )
        return found

    async def fetch(self, session: aiohttp.ClientSession) -> dict[str, jwt.PyJWK]:
        timeout = aiohttp.ClientTimeout(total=self._settings.http_timeout_s)
        try:
            async with session.get(self._url, timeout=timeout) as response:
                data = await read_json_response(
                    response, self._settings.response_bytes_max, "JWKS endpoint"
                )
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (aiohttp.ClientError, TimeoutError) as error:
            raise OAuthError(
                "JWKS endpoint is unreachable; retry sign-in later"
            ) from error
        except jwt.PyJWKSetError as error:
            raise OAuthError("JWKS endpoint answered no usable keys") from error
        return {k.key_id: k for k in keys if k.key_id}


def id_token_kid(id_token: str) -> str:
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.InvalidTokenError as error:
        raise OAuthError(
            "id_token is not a JWT", code="oauth_invalid_id_token", status=401
        ) from error
    kid = header.get("kid")
    if not isinstance(kid, str) or header.get("alg") not in _ID_TOKEN_ALGORITHMS:
        raise OAuthError(
            "id_token header lacks kid or uses a refused algorithm",
            code="oauth_invalid_id_token",
            status=401,
        )
    return kid


def decode_id_token(
    id_token: str,
    key: jwt.PyJWK,
    provider: OAuthProviderSettings,
    *,
    nonce: str,
    leeway_s: int,
) -> dict[str, Any]:
    """Check signature, issuer, audience, expiry, issued-at, azp and nonce (OIDC Core
    3.1.3.7).

    Raises:
        OAuthError: any check fails (``oauth_invalid_id_token``, status 401).
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key=key,
            algorithms=_ID_TOKEN_ALGORITHMS,
            audience=provider.client_id,
            issuer=provider.issuers,
            leeway=leeway_s,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except jwt.InvalidTokenError as error:
        raise OAuthError(
            f"id_token rejected ({type(error).__name__}); retry sign-in",
            code="oauth_invalid_id_token",
            status=401,
        ) from error
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise OAuthError(
            "id_token azp is not our client id",
            code="oauth_invalid_id_token",
            status=401,
        )
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OAuthError(
            "id_token nonce does not match this sign-in; start again",
            code="oauth_invalid_id_token",
            status=401,
        )
    return claims


def identity_from_claims(name: str, claims: dict[str, Any]) -> ProviderIdentity:
    verified = claims.get("email_verified") is True
    email = normalize_email(claims.get("email")) if verified else None
    return ProviderIdentity(
        name,
        str(claims["sub"]),
        email,
        text_or_none(claims.get("preferred_username")),
        text_or_none(claims.get("name")),
        text_or_none(claims.get("picture")),
    )


async def finish_authorization(
    session: aiohttp.ClientSession,
    settings: OAuthSettings,
    jwks: dict[str, JwksCache],
    name: str,
    *,
    code: str,
    nonce: str,
    verifier: str,
) -> ProviderIdentity:
    """Exchange ``code`` and return the verified identity of the signed-in user.

    Raises:
        OAuthError: exchange failed, or the identity could not be verified.
    """
    provider = provider_settings(settings, name)
    tokens = await exchange_code(
        session, settings, provider, code=code, verifier=verifier
    )
    if provider.is_oidc:
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OAuthError(
                "token endpoint returned no id_token; check the openid scope"
            )
        cache = jwks.setdefault(name, JwksCache(settings, provider.jwks_url))
        key = await cache.key(session, id_token_kid(id_token))
        claims = decode_id_token(
            id_token, key, provider, nonce=nonce, leeway_s=settings.id_token_leeway_s
        )
        return identity_from_claims(name, claims)
    access_token = tokens.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OAuthError("token endpoint returned no access_token; retry sign-in")
    return await fetch_twitch_user(session, settings, provider, access_token)

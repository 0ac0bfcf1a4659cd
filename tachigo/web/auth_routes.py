"""Sign-in routes under ``/api/v1/auth`` and the extension login (Go contract 1.2, 1.4).

Every successful sign-in answers ``{user, tokens: {access_token, expires_in}}`` and sets
the ``refresh_token`` cookie (path ``/api/v1/auth``, HttpOnly). The refresh token never
appears in a JSON body; the extension login gets no refresh token at all, because the
extension re-exchanges its Twitch JWT when the access token expires.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tachigo.auth import accounts, email_tokens, oauth, passwords, refresh, siwe
from tachigo.auth.errors import InvalidCredentialsError
from tachigo.auth.extension import require_identified, verify_extension_jwt
from tachigo.auth.mail import reset_mail, verification_mail
from tachigo.auth.services import AuthServices
from tachigo.auth.tokens import issue_access_token
from tachigo.errors import ForbiddenError, ValidationError
from tachigo.settings import Settings
from tachigo.web.context import CONTEXT_KEY, context
from tachigo.web.requests import principal, read_json, read_query
from tachigo.web.responses import fail, ok

log = logging.getLogger(__name__)

SERVICES_KEY = web.AppKey("tachigo_auth_services", AuthServices)
_INSTALLED_KEY = web.AppKey("tachigo_auth_installed", bool)
# The raw refresh token of the session being opened, until it is put in the cookie.
_NEW_REFRESH_KEY = web.RequestKey("tachigo_new_refresh_token", str)
REFRESH_COOKIE = "refresh_token"
COOKIE_PATH = "/api/v1/auth"
STATE_COOKIE = "oauth_state"
REDIRECT_COOKIE = "oauth_redirect"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FORGOT_MESSAGE = "if that email is registered, a reset link has been sent"


def normalize_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


Email = Annotated[str, AfterValidator(normalize_email)]
Username = Annotated[str, Field(min_length=3, max_length=50, pattern=r"^[\w.\-]+$")]
Secret = Annotated[str, Field(min_length=1, max_length=1024)]
Token = Annotated[str, Field(min_length=1, max_length=256)]


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    username: Username
    email: Email
    password: Secret


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: Email
    password: Secret


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    refresh_token: Token | None = None


class ExtensionLoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    extension_jwt: str = Field(min_length=1, max_length=8192)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: Token


class ForgotBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: Email


class ResetBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: Token
    new_password: Secret


class NonceBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    address: str = Field(min_length=1, max_length=64)


class Web3VerifyBody(BaseModel):
    """``message`` is the signed EIP-4361 text; ``address``/``nonce`` are optional
    echoes of the Go request shape and must match the message when sent."""

    model_config = ConfigDict(extra="ignore")
    message: str = Field(min_length=1, max_length=16_384)
    signature: str = Field(min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=64)
    nonce: str | None = Field(default=None, max_length=128)


class CallbackQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str | None = Field(default=None, max_length=2048)
    state: str | None = Field(default=None, max_length=256)
    error: str | None = Field(default=None, max_length=256)


class StartQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    redirect_to: str | None = Field(default=None, max_length=512)


def services(request: web.Request) -> AuthServices:
    return request.app[SERVICES_KEY]


def install_services(app: web.Application) -> None:
    """Run the OAuth HTTP client and mail queue with the app (idempotent).

    Registered after the app context's lifecycle, so the settings are there.
    """
    if app.get(_INSTALLED_KEY):
        return
    app[_INSTALLED_KEY] = True

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        started = AuthServices.start(app[CONTEXT_KEY].settings.accounts)
        app[SERVICES_KEY] = started
        yield
        await started.stop()

    app.cleanup_ctx.append(lifecycle)


def cookie_secure(settings: Settings) -> bool:
    chosen = settings.accounts.cookie.secure
    return settings.env == "production" if chosen is None else chosen


def set_cookie(
    response: web.StreamResponse,
    settings: Settings,
    name: str,
    value: str,
    *,
    max_age_s: int,
) -> None:
    cookie = settings.accounts.cookie
    same_site = cookie.same_site
    # The provider sends the browser back cross-site; a Strict state cookie would stay
    # home and every sign-in would fail the state check.
    if name in (STATE_COOKIE, REDIRECT_COOKIE) and same_site == "Strict":
        same_site = "Lax"
    response.set_cookie(
        name,
        value,
        max_age=max_age_s,
        path=COOKIE_PATH,
        httponly=True,
        secure=cookie_secure(settings),
        samesite=same_site,
        domain=cookie.domain,
    )


def clear_cookie(response: web.StreamResponse, settings: Settings, name: str) -> None:
    set_cookie(response, settings, name, "", max_age_s=0)


def token_pair(
    settings: Settings,
    user_id: uuid.UUID,
    role: str,
    *,
    channel_id: str | None = None,
    twitch_user_id: str | None = None,
) -> dict[str, Any]:
    token = issue_access_token(
        settings.auth,
        user_id,
        role,
        channel_id=channel_id,
        twitch_user_id=twitch_user_id,
    )
    return {"access_token": token, "expires_in": settings.auth.access_ttl_s}


async def start_session(request: web.Request, user: asyncpg.Record) -> dict[str, Any]:
    """Open a refresh-token family for ``user``; return the body and put the raw
    refresh token on the request for ``finish_session``."""
    ctx = context(request)
    async with ctx.pool.acquire() as conn:
        await refresh.prune_expired(conn, user["id"])
        issued = await refresh.issue_refresh(
            conn, user["id"], ttl_s=ctx.settings.auth.refresh_ttl_s
        )
    request[_NEW_REFRESH_KEY] = issued.token
    log.info("session_started", extra={"user_id": str(user["id"])})
    return {
        "user": accounts.user_view(user),
        "tokens": token_pair(ctx.settings, user["id"], user["role"]),
    }


def finish_session(
    request: web.Request, response: web.StreamResponse
) -> web.StreamResponse:
    settings = context(request).settings
    set_cookie(
        response,
        settings,
        REFRESH_COOKIE,
        request[_NEW_REFRESH_KEY],
        max_age_s=settings.auth.refresh_ttl_s,
    )
    return response


async def session_response(
    request: web.Request, user: asyncpg.Record, *, status: int = 200
) -> web.StreamResponse:
    body = await start_session(request, user)
    return finish_session(request, ok(body, status=status))


def check_password_policy(settings: Settings, password: str, field: str) -> None:
    """Enforce the password length settings.

    Raises:
        ValidationError: shorter or longer than the password settings allow.
    """
    policy = settings.accounts.password
    if not policy.length_min <= len(password) <= policy.length_max:
        raise ValidationError(
            f"{field} must be {policy.length_min} to "
            f"{policy.length_max} characters long",
            code="validation_failed",
            field=field,
        )


async def post_register(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/register: create a viewer with email and password.

    Writes the user and its email provider in one transaction and queues a
    verification mail. 201 ``{user, tokens}`` and the refresh cookie.

    Raises:
        ConflictError: ``email_taken``/``username_taken``. ValidationError.
    """
    ctx = context(request)
    body = await read_json(request, RegisterBody)
    check_password_policy(ctx.settings, body.password, "password")
    encoded = await passwords.hash_password(
        ctx.settings.accounts.password, body.password
    )
    user = await accounts.create_email_user(
        ctx.pool, username=body.username, email=body.email, password_hash=encoded
    )
    await queue_verification(request, user["id"], body.email)
    return await session_response(request, user, status=201)


async def queue_verification(
    request: web.Request, user_id: uuid.UUID, email: str
) -> bool:
    ctx = context(request)
    ttl_s = ctx.settings.accounts.verify_email_ttl_s
    token = await email_tokens.create_email_token(
        ctx.pool, user_id, purpose="verify_email", email=email, ttl_s=ttl_s
    )
    mail = verification_mail(
        ctx.settings.accounts.frontend_url, email, token, ttl_s=ttl_s
    )
    return services(request).mail.enqueue(mail)


async def post_login(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/login: email and password.

    A missing account, a wrong password and an account without password all answer
    the same 401 after the same argon2 work.

    Raises:
        InvalidCredentialsError (401), AuthError ``account_disabled``.
    """
    ctx = context(request)
    body = await read_json(request, LoginBody)
    found = await accounts.find_password_login(ctx.pool, body.email)
    encoded = found["password_hash"] if found is not None else None
    policy = ctx.settings.accounts.password
    # Verify before looking at ``found``: an unknown email costs the same argon2 work.
    matches = await passwords.verify_password(policy, encoded, body.password)
    if found is None or encoded is None or not matches:
        raise InvalidCredentialsError(
            "invalid email or password; check both or reset the "
            "password with forgot-password"
        )
    user = await accounts.require_active_user(ctx.pool, found["id"])
    if passwords.needs_rehash(policy, encoded):
        new_hash = await passwords.hash_password(policy, body.password)
        await ctx.pool.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1", user["id"], new_hash
        )
    return await session_response(request, user)


def check_cookie_origin(request: web.Request) -> None:
    """Cookie-carried refresh/logout must come from a known origin (login CSRF guard).

    Raises:
        ForbiddenError: ``origin_not_allowed``.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return
    settings = context(request).settings
    allowed = {o.rstrip("/") for o in settings.api.cors_origins}
    allowed.add(settings.accounts.frontend_url.rstrip("/"))
    if origin.rstrip("/") not in allowed:
        raise ForbiddenError(
            f"origin {origin[:200]} may not use the refresh cookie; add "
            "it to TACHIGO_API__CORS_ORIGINS",
            code="origin_not_allowed",
        )


async def presented_refresh_token(request: web.Request) -> str:
    """The refresh token from the cookie (preferred) or the body.

    Raises:
        ValidationError: neither carries one (``refresh_token_required``, 400).
    """
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie:
        check_cookie_origin(request)
        return cookie
    body = await read_json(request, RefreshBody, allow_empty=True)
    if not body.refresh_token:
        raise ValidationError(
            "refresh token is required: send the refresh_token cookie "
            'or {"refresh_token": ...}',
            code="refresh_token_required",
            status=400,
        )
    return body.refresh_token


async def post_refresh(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/refresh: rotate the refresh token; ``{tokens}`` and a new
    cookie.

    Raises:
        RefreshTokenError: ``invalid_refresh_token``, ``refresh_token_reused`` (the
            family is now revoked) or ``refresh_token_superseded``.
    """
    ctx = context(request)
    token = await presented_refresh_token(request)
    user_id, issued = await refresh.rotate_refresh(
        ctx.pool,
        token,
        ttl_s=ctx.settings.auth.refresh_ttl_s,
        grace_s=ctx.settings.accounts.refresh_reuse_grace_s,
    )
    user = await accounts.require_active_user(ctx.pool, user_id)
    request[_NEW_REFRESH_KEY] = issued.token
    return finish_session(
        request, ok({"tokens": token_pair(ctx.settings, user_id, user["role"])})
    )


async def post_logout(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/logout: revoke the token's family and clear the cookie.

    Idempotent: an unknown or already revoked token also answers 200.
    """
    ctx = context(request)
    token = await presented_refresh_token(request)
    await refresh.revoke_token_family(ctx.pool, token)
    response = ok({"message": "logged out"})
    clear_cookie(response, ctx.settings, REFRESH_COOKIE)
    return response


async def post_extension_login(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/extension/auth/login: exchange a Twitch extension JWT.

    Creates the account and Twitch provider on first login (safe under concurrent
    first logins). The access token is bound to the JWT's channel (claim ``cid``).

    Raises:
        AuthError: invalid or expired JWT. ForbiddenError: ``anonymous_viewer``.
    """
    ctx = context(request)
    body = await read_json(request, ExtensionLoginBody)
    claims = verify_extension_jwt(ctx.settings.auth, body.extension_jwt)
    twitch_user_id = require_identified(claims)
    user_id = await ctx.twitch_user(twitch_user_id)
    user = await accounts.require_active_user(ctx.pool, user_id)
    tokens = token_pair(
        ctx.settings,
        user_id,
        user["role"],
        channel_id=claims.channel_id,
        twitch_user_id=twitch_user_id,
    )
    return ok({"user": accounts.user_view(user), "tokens": tokens})


async def post_verify_email_send(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/verify-email/send: (re)send the verification mail.

    Raises:
        ValidationError: ``already_verified`` or ``no_email`` (400).
    """
    ctx = context(request)
    who = await principal(request)
    user = await accounts.require_active_user(ctx.pool, who.user_id)
    if user["email"] is None:
        raise ValidationError(
            "this account has no email address; add one first",
            code="no_email",
            status=400,
        )
    if user["email_verified"]:
        raise ValidationError(
            "email already verified", code="already_verified", status=400
        )
    await queue_verification(request, user["id"], user["email"])
    return ok({"message": "verification email sent"})


async def post_verify_email_confirm(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/verify-email/confirm: consume the mailed token.

    Raises:
        ValidationError: ``invalid_token`` (400).
    """
    ctx = context(request)
    body = await read_json(request, TokenBody)
    async with ctx.pool.acquire() as conn, conn.transaction():
        consumed = await email_tokens.consume_email_token(
            conn, body.token, purpose="verify_email"
        )
        await conn.execute(
            "UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1",
            consumed.user_id,
        )
    return ok({"message": "email verified"})


async def queue_reset(
    request: web.Request,
    user_id: uuid.UUID,
    email: str,
    *,
    kind: str = "reset_password",
) -> bool:
    """Store a reset token and queue its mail (also the agency set-up mail)."""
    ctx = context(request)
    ttl_s = ctx.settings.accounts.reset_password_ttl_s
    token = await email_tokens.create_email_token(
        ctx.pool, user_id, purpose="reset_password", email=email, ttl_s=ttl_s
    )
    mail = reset_mail(
        ctx.settings.accounts.frontend_url, email, token, ttl_s=ttl_s, kind=kind
    )
    return services(request).mail.enqueue(mail)


async def post_forgot_password(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/forgot-password: mail a reset link if the email is ours.

    Always the same answer, so it does not reveal which emails have accounts.
    """
    ctx = context(request)
    body = await read_json(request, ForgotBody)
    user_id = await ctx.pool.fetchval(
        "SELECT id FROM users WHERE email = $1 AND deleted_at IS NULL AND is_active",
        body.email,
    )
    if user_id is not None:
        await queue_reset(request, user_id, body.email)
    return ok({"message": _FORGOT_MESSAGE})


async def post_reset_password(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/reset-password: set a new password with a mailed token.

    One transaction: consume the token, set the hash, mark the email verified (the
    link proved the mailbox), make sure an email provider exists, and revoke every
    refresh token of the user (the Go service kept them).

    Raises:
        ValidationError: ``invalid_token`` (400) or a password outside the policy.
    """
    ctx = context(request)
    body = await read_json(request, ResetBody)
    check_password_policy(ctx.settings, body.new_password, "new_password")
    encoded = await passwords.hash_password(
        ctx.settings.accounts.password, body.new_password
    )
    async with ctx.pool.acquire() as conn, conn.transaction():
        consumed = await email_tokens.consume_email_token(
            conn, body.token, purpose="reset_password"
        )
        await conn.execute(
            "UPDATE users SET password_hash = $2, email_verified = true,"
            " updated_at = now() WHERE id = $1",
            consumed.user_id,
            encoded,
        )
        await accounts.link_provider(conn, consumed.user_id, "email", consumed.email)
        await refresh.revoke_user_tokens(
            conn, consumed.user_id, reason="password_reset"
        )
    return ok({"message": "password reset successfully"})


def oauth_start(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        """GET /api/v1/auth/{provider}: redirect to the provider's consent page.

        Sets ``oauth_state`` (state, OIDC nonce, PKCE verifier) and, with a safe
        ``redirect_to`` path, ``oauth_redirect``; both HttpOnly, path /api/v1/auth.

        Raises:
            ValidationError: ``invalid_redirect_to`` (400). NotFoundError: provider off.
        """
        ctx = context(request)
        query = read_query(request, StartQuery)
        if query.redirect_to is not None:
            oauth.check_redirect_to(query.redirect_to)
        started = oauth.start_authorization(
            oauth.provider_settings(ctx.settings.accounts.oauth, name)
        )
        response = web.Response(status=302, headers={"Location": started.url})
        ttl_s = ctx.settings.accounts.oauth.state_ttl_s
        set_cookie(
            response,
            ctx.settings,
            STATE_COOKIE,
            f"{started.state}.{started.nonce}.{started.verifier}",
            max_age_s=ttl_s,
        )
        if query.redirect_to is not None:
            set_cookie(
                response,
                ctx.settings,
                REDIRECT_COOKIE,
                query.redirect_to,
                max_age_s=ttl_s,
            )
        return response

    return handler


def check_state(request: web.Request, query: CallbackQuery) -> tuple[str, str]:
    """Compare the ``state`` query with the cookie; return (nonce, verifier).

    Raises:
        ValidationError: ``invalid_state`` (400) or ``oauth_denied`` (400).
    """
    parts = request.cookies.get(STATE_COOKIE, "").split(".")
    if (
        len(parts) != 3
        or not query.state
        or not secrets.compare_digest(parts[0].encode(), query.state.encode())
    ):
        raise ValidationError(
            "invalid state parameter; start sign-in again from the login page",
            code="invalid_state",
            status=400,
        )
    if query.error is not None or not query.code:
        raise ValidationError(
            f"the provider did not authorize sign-in "
            f"({query.error or 'no code'}); start again",
            code="oauth_denied",
            status=400,
        )
    return parts[1], parts[2]


def clear_oauth_cookies(response: web.StreamResponse, settings: Settings) -> None:
    clear_cookie(response, settings, STATE_COOKIE)
    clear_cookie(response, settings, REDIRECT_COOKIE)


def oauth_callback(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        """GET /api/v1/auth/{provider}/callback: finish the code flow and sign in.

        302 to ``frontend_url + redirect_to`` when sign-in started with one, else 200
        ``{user, tokens}``; the refresh cookie either way; OAuth cookies cleared.

        Raises:
            ValidationError: ``invalid_state``/``oauth_denied`` (400, cookies cleared).
            OAuthError: provider failure (502) or an id_token failing a check (401).
        """
        query = read_query(request, CallbackQuery)
        try:
            nonce, verifier = check_state(request, query)
        except ValidationError as error:
            response = fail(
                error.status, error.code, error.message, details=error.details
            )
            clear_oauth_cookies(response, context(request).settings)
            return response
        return await oauth_sign_in(
            request, name, code=query.code or "", nonce=nonce, verifier=verifier
        )

    return handler


async def oauth_sign_in(
    request: web.Request, name: str, *, code: str, nonce: str, verifier: str
) -> web.StreamResponse:
    ctx = context(request)
    identity = await oauth.finish_authorization(
        services(request).http,
        ctx.settings.accounts.oauth,
        services(request).jwks,
        name,
        code=code,
        nonce=nonce,
        verifier=verifier,
    )
    user_id = await accounts.sign_in_identity(ctx.pool, identity)
    user = await accounts.require_active_user(ctx.pool, user_id)
    body = await start_session(request, user)
    redirect_to = request.cookies.get(REDIRECT_COOKIE)
    response: web.StreamResponse
    if redirect_to and oauth.is_safe_path(redirect_to):
        target = ctx.settings.accounts.frontend_url.rstrip("/") + redirect_to
        response = web.Response(status=302, headers={"Location": target})
    else:
        response = ok(body)
    clear_oauth_cookies(response, ctx.settings)
    return finish_session(request, response)


async def post_web3_nonce(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/web3/nonce: a single-use nonce (5 min) and the EIP-4361
    message to sign with it.

    Raises:
        ValidationError: ``invalid_wallet_address`` (400).
    """
    ctx = context(request)
    body = await read_json(request, NonceBody)
    address = siwe.normalize_address(body.address)
    issued = await siwe.issue_nonce(ctx.pool, ctx.settings.accounts.siwe, address)
    config = ctx.settings.accounts.siwe
    return ok(
        {
            "nonce": issued.nonce,
            "issued_at": siwe.format_time(issued.issued_at),
            "expires_at": siwe.format_time(issued.expires_at),
            "message": issued.message,
            "address": address,
            "domain": config.domain,
            "uri": config.uri,
            "chain_id": config.chain_ids[0],
        }
    )


async def verified_siwe(request: web.Request) -> siwe.SiweMessage:
    """Read and check a signed EIP-4361 message (nonce not yet consumed).

    Raises:
        SiweError: any EIP-4361 check fails. ValidationError: echoes disagree.
    """
    ctx = context(request)
    body = await read_json(request, Web3VerifyBody)
    message = siwe.verify_message(
        body.message, body.signature, ctx.settings.accounts.siwe, now=datetime.now(UTC)
    )
    if (
        body.address is not None
        and siwe.normalize_address(body.address) != message.address
    ):
        raise ValidationError(
            "address does not match the signed message",
            code="siwe_address_mismatch",
            status=400,
        )
    if body.nonce is not None and body.nonce != message.nonce:
        raise ValidationError(
            "nonce does not match the signed message",
            code="siwe_nonce_mismatch",
            status=400,
        )
    return message


async def post_web3_verify(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/auth/web3/verify: sign in with a wallet.

    One transaction consumes the nonce and finds or creates the wallet's user; a bad
    signature leaves the nonce usable.

    Raises:
        SiweError: ``siwe_*`` codes (401; 400 for a malformed message).
    """
    ctx = context(request)
    message = await verified_siwe(request)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await siwe.consume_nonce(conn, message)
        user_id, _ = await accounts.ensure_provider_user(conn, "web3", message.address)
    user = await accounts.require_active_user(ctx.pool, user_id)
    return await session_response(request, user)


async def delete_provider(request: web.Request) -> web.StreamResponse:
    """DELETE /api/v1/auth/providers/{provider}: unlink a login method.

    Raises:
        ValidationError: ``last_login_method`` (400). NotFoundError: not linked.
    """
    ctx = context(request)
    who = await principal(request)
    provider = request.match_info["provider"]
    if provider not in accounts.LOGIN_PROVIDERS:
        raise ValidationError(
            f"unknown provider {provider[:32]!r}; use one of "
            f"{list(accounts.LOGIN_PROVIDERS)}",
            code="unknown_provider",
            status=400,
        )
    await accounts.unlink_provider(ctx.pool, who.user_id, provider)
    return ok({"message": "provider unlinked"})


def add_routes(app: web.Application) -> None:
    install_services(app)
    r = app.router
    r.add_post("/api/v1/auth/register", post_register, name="auth_register")
    r.add_post("/api/v1/auth/login", post_login, name="auth_login")
    r.add_post("/api/v1/auth/refresh", post_refresh, name="auth_refresh")
    r.add_post("/api/v1/auth/logout", post_logout, name="auth_logout")
    r.add_post(
        "/api/v1/auth/verify-email/send",
        post_verify_email_send,
        name="auth_verify_email_send",
    )
    r.add_post(
        "/api/v1/auth/verify-email/confirm",
        post_verify_email_confirm,
        name="auth_verify_email_confirm",
    )
    r.add_post(
        "/api/v1/auth/forgot-password",
        post_forgot_password,
        name="auth_forgot_password",
    )
    r.add_post(
        "/api/v1/auth/reset-password", post_reset_password, name="auth_reset_password"
    )
    r.add_post("/api/v1/auth/web3/nonce", post_web3_nonce, name="auth_web3_nonce")
    r.add_post("/api/v1/auth/web3/verify", post_web3_verify, name="auth_web3_verify")
    for name in oauth.PROVIDERS:
        r.add_get(f"/api/v1/auth/{name}", oauth_start(name), name=f"auth_{name}")
        r.add_get(
            f"/api/v1/auth/{name}/callback",
            oauth_callback(name),
            name=f"auth_{name}_callback",
        )
    r.add_delete("/api/v1/auth/providers/{provider}", delete_provider)
    r.add_post(
        "/api/v1/extension/auth/login", post_extension_login, name="extension_login"
    )

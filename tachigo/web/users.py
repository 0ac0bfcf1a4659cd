"""The caller's own account (Go contract 1.5: profile, providers, wallet, addresses)
and the admin's user routes (search, role assignment)."""

from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from tachigo.auth import accounts, addresses, roles, siwe
from tachigo.errors import ConflictError, ValidationError
from tachigo.web.auth_routes import Username, verified_siwe
from tachigo.web.context import context
from tachigo.web.dashboard import dashboard_actor, path_uuid
from tachigo.web.requests import principal, read_json, read_query
from tachigo.web.responses import ok

HttpUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")]


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    username: Username | None = None
    avatar_url: HttpUrl | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=100)


class AddressBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    recipient_name: str = Field(min_length=1, max_length=100)
    phone: str = Field(default="", max_length=20)
    address_line1: str = Field(min_length=1, max_length=255)
    address_line2: str = Field(default="", max_length=255)
    city: str = Field(min_length=1, max_length=100)
    district: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=20)
    country: str = Field(default="TW", max_length=50)
    is_default: bool = False

    def fields(self) -> dict[str, str]:
        values = self.model_dump(exclude={"is_default"})
        values["country"] = values["country"] or "TW"
        return values


class RoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["viewer", "streamer", "agency", "admin"]
    reason: str = Field(default="", max_length=500)


class UserSearchQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str | None = Field(default=None, max_length=254)
    role: Literal["viewer", "streamer", "agency", "admin"] | None = None
    limit: int = Field(default=50, ge=1, le=5000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


async def get_me(request: web.Request) -> web.Response:
    """GET /api/v1/users/me: the caller's account.

    Raises:
        AuthError: the account is gone or deactivated.
    """
    ctx = context(request)
    who = await principal(request)
    user = await accounts.require_active_user(ctx.pool, who.user_id)
    return ok({"user": accounts.user_view(user)})


async def put_me(request: web.Request) -> web.Response:
    """PUT /api/v1/users/me: change username, display name or avatar URL.

    Raises:
        ConflictError: ``username_taken``. ValidationError.
    """
    ctx = context(request)
    who = await principal(request)
    body = await read_json(request, ProfileBody)
    await accounts.require_active_user(ctx.pool, who.user_id)
    user = await accounts.update_profile(
        ctx.pool, who.user_id, body.model_dump(exclude_none=True)
    )
    return ok({"user": accounts.user_view(user)})


async def get_my_providers(request: web.Request) -> web.Response:
    """GET /api/v1/users/me/providers: linked login methods (no secrets stored)."""
    ctx = context(request)
    who = await principal(request)
    return ok({"providers": await accounts.list_providers(ctx.pool, who.user_id)})


async def post_my_wallet(request: web.Request) -> web.Response:
    """POST /api/v1/users/me/wallet: bind a wallet proven by a signed EIP-4361 message.

    One transaction consumes the nonce and makes the address the caller's only active
    wallet (replacing, or restoring an earlier binding).

    Raises:
        SiweError: ``siwe_*``. ConflictError: ``wallet_taken`` (409).
    """
    ctx = context(request)
    who = await principal(request)
    await accounts.require_active_user(ctx.pool, who.user_id)
    message = await verified_siwe(request)
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await siwe.consume_nonce(conn, message)
            await accounts.bind_wallet(conn, who.user_id, message.address)
    except asyncpg.UniqueViolationError as error:
        raise ConflictError(
            "wallet already linked to another account; unlink it there first",
            code="wallet_taken",
            address=message.address,
        ) from error
    return ok({"address": message.address})


async def get_my_addresses(request: web.Request) -> web.Response:
    """GET /api/v1/users/me/addresses: the default first, then oldest first."""
    ctx = context(request)
    who = await principal(request)
    return ok({"addresses": await addresses.list_addresses(ctx.pool, who.user_id)})


async def post_my_address(request: web.Request) -> web.Response:
    """POST /api/v1/users/me/addresses: 201 ``{address}``.

    Raises:
        ConflictError: ``too_many_addresses``. ValidationError.
    """
    ctx = context(request)
    who = await principal(request)
    body = await read_json(request, AddressBody)
    created = await addresses.create_address(
        ctx.pool,
        who.user_id,
        body.fields(),
        is_default=body.is_default,
        addresses_max=ctx.settings.accounts.addresses_max,
    )
    return ok({"address": created}, status=201)


async def put_my_address(request: web.Request) -> web.Response:
    """PUT /api/v1/users/me/addresses/{id}: replace the fields.

    Raises:
        NotFoundError: ``address_not_found`` (also for other users' ids).
    """
    ctx = context(request)
    who = await principal(request)
    address_id = path_uuid(request, "id", "address id")
    body = await read_json(request, AddressBody)
    updated = await addresses.update_address(
        ctx.pool, who.user_id, address_id, body.fields(), is_default=body.is_default
    )
    return ok({"address": updated})


async def delete_my_address(request: web.Request) -> web.Response:
    """DELETE /api/v1/users/me/addresses/{id}: soft delete.

    Raises:
        NotFoundError: ``address_not_found``.
    """
    ctx = context(request)
    who = await principal(request)
    address_id = path_uuid(request, "id", "address id")
    await addresses.delete_address(ctx.pool, who.user_id, address_id)
    return ok({"message": "address deleted"})


async def put_my_default_address(request: web.Request) -> web.Response:
    """PUT /api/v1/users/me/addresses/{id}/default: make it the default.

    Raises:
        NotFoundError: ``address_not_found``.
    """
    ctx = context(request)
    who = await principal(request)
    address_id = path_uuid(request, "id", "address id")
    return ok(
        {"address": await addresses.make_default(ctx.pool, who.user_id, address_id)}
    )


async def get_admin_users(request: web.Request) -> web.Response:
    """GET /api/v1/admin/users?email=&role=&limit=&offset=: find users (admin).

    Raises:
        ForbiddenError: not an admin.
    """
    ctx = context(request)
    await dashboard_actor(request, "admin")
    query = read_query(request, UserSearchQuery)
    limit = min(query.limit, ctx.settings.accounts.page_size_max)
    email = query.email.strip().lower() if query.email else None
    found = await accounts.search_users(
        ctx.pool, email=email, role=query.role, limit=limit, offset=query.offset
    )
    return ok({"users": found, "limit": limit, "offset": query.offset})


async def put_user_role(request: web.Request) -> web.Response:
    """PUT /api/v1/admin/users/{user_id}/role: assign a role (admin), audited.

    Writes ``users.role`` and a ``role_changes`` row in one transaction. Dashboard
    routes read the role from Postgres, so the change applies to the next request.

    Raises:
        ForbiddenError: not an admin. ValidationError: ``self_role_change`` (an admin
            cannot change its own role). NotFoundError: ``user_not_found``.
    """
    ctx = context(request)
    actor = await dashboard_actor(request, "admin")
    user_id = path_uuid(request, "user_id", "user id")
    body = await read_json(request, RoleBody)
    if user_id == actor.user_id:
        raise ValidationError(
            "admins cannot change their own role; ask another admin",
            code="self_role_change",
            status=400,
        )
    old, new = await roles.assign_role(
        ctx.pool, user_id, body.role, changed_by=actor.user_id, reason=body.reason
    )
    user = await accounts.get_user(ctx.pool, user_id)
    return ok(
        {
            "user": accounts.user_view(user) if user else None,
            "old_role": old,
            "new_role": new,
        }
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/users/me", get_me)
    r.add_put("/api/v1/users/me", put_me)
    r.add_get("/api/v1/users/me/providers", get_my_providers)
    r.add_post("/api/v1/users/me/wallet", post_my_wallet)
    r.add_get("/api/v1/users/me/addresses", get_my_addresses)
    r.add_post("/api/v1/users/me/addresses", post_my_address)
    r.add_put("/api/v1/users/me/addresses/{id}", put_my_address)
    r.add_delete("/api/v1/users/me/addresses/{id}", delete_my_address)
    r.add_put("/api/v1/users/me/addresses/{id}/default", put_my_default_address)
    r.add_get("/api/v1/admin/users", get_admin_users)
    r.add_put("/api/v1/admin/users/{user_id}/role", put_user_role)

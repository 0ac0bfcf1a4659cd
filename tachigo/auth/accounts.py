"""User accounts behind outside identities. All writes are single transactions."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from tachigo.auth.oauth import ProviderIdentity
from tachigo.errors import AuthError, ConflictError, NotFoundError, ValidationError
from tachigo.ledger.ids import user_id_for, uuid7

USER_COLUMNS = (
    "id, username, display_name, email, avatar_url, role, is_active, email_verified,"
    " password_hash IS NOT NULL AS has_password, created_at, updated_at"
)
LOGIN_PROVIDERS = ("twitch", "google", "email", "web3")


async def find_user_by_provider(
    pool: asyncpg.Pool | asyncpg.Connection, provider: str, provider_id: str
) -> uuid.UUID | None:
    found: uuid.UUID | None = await pool.fetchval(
        "SELECT user_id FROM auth_providers WHERE provider = $1 AND provider_id = $2"
        " AND deleted_at IS NULL",
        provider,
        provider_id,
    )
    return found


async def insert_user(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    *,
    username: str | None = None,
    display_name: str | None = None,
    email: str | None = None,
    avatar_url: str | None = None,
) -> None:
    """Insert a viewer unless ``user_id`` exists; a taken username or email is dropped.

    Races on the same id converge: the loser's insert does nothing.
    """
    inserted = await conn.fetchval(
        "INSERT INTO users (id, username, display_name, email, email_verified,"
        " avatar_url) VALUES ($1, $2, $3, $4::text, $4::text IS NOT NULL, $5)"
        " ON CONFLICT DO NOTHING RETURNING id",
        user_id,
        username,
        display_name,
        email,
        avatar_url,
    )
    if inserted is None and not await conn.fetchval(
        "SELECT 1 FROM users WHERE id = $1", user_id
    ):
        await conn.execute(
            "INSERT INTO users (id, display_name, avatar_url) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO NOTHING",
            user_id,
            display_name,
            avatar_url,
        )


async def ensure_provider_user(
    conn: asyncpg.Connection,
    provider: str,
    provider_id: str,
    *,
    display_name: str | None = None,
    username: str | None = None,
    email: str | None = None,
    avatar_url: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[uuid.UUID, bool]:
    """Return (user linked to the identity, created?) inside the caller's transaction.

    The new user's id is derived from the identity, so concurrent first logins insert
    the same row and converge (both inserts are ``ON CONFLICT DO NOTHING``).
    """
    found = await find_user_by_provider(conn, provider, provider_id)
    if found is not None:
        return found, False
    new_id = user_id_for(provider, provider_id)
    await insert_user(
        conn,
        new_id,
        username=username,
        display_name=display_name,
        email=email,
        avatar_url=avatar_url,
    )
    await link_provider(conn, new_id, provider, provider_id, metadata=metadata)
    found = await find_user_by_provider(conn, provider, provider_id)
    if found is None:
        raise ConflictError(
            "sign-in raced with an unlink of the same identity; retry",
            code="identity_conflict",
        )
    return found, found == new_id


async def link_provider(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    provider: str,
    provider_id: str,
    *,
    metadata: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO auth_providers (id, user_id, provider, provider_id, metadata)"
        " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING",
        uuid7(),
        user_id,
        provider,
        provider_id,
        orjson.dumps(metadata or {}).decode(),
    )


async def resolve_provider_user(
    pool: asyncpg.Pool,
    provider: str,
    provider_id: str,
    *,
    display_name: str | None = None,
) -> uuid.UUID:
    """Return the user linked to (provider, provider_id), creating both on first sight.

    Safe under concurrent first logins: the new user's id is derived from the identity,
    and both inserts are ``ON CONFLICT DO NOTHING`` in one transaction.
    """
    found = await find_user_by_provider(pool, provider, provider_id)
    if found is not None:
        return found
    async with pool.acquire() as conn, conn.transaction():
        user_id, _ = await ensure_provider_user(
            conn, provider, provider_id, display_name=display_name
        )
    return user_id


async def get_user(
    pool: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID
) -> asyncpg.Record | None:
    """The live (not deleted) user row, or ``None``."""
    return await pool.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL",
        user_id,
    )


async def require_active_user(
    pool: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID
) -> asyncpg.Record:
    """Return the user, refusing deleted and deactivated accounts.

    Raises:
        AuthError: no such live user (``unknown_user``), or the account is
            deactivated (``account_disabled``).
    """
    row = await get_user(pool, user_id)
    if row is None:
        raise AuthError(
            "this account no longer exists; log in again", code="unknown_user"
        )
    if not row["is_active"]:
        raise AuthError(
            "this account is deactivated; contact support", code="account_disabled"
        )
    return row


def user_view(row: asyncpg.Record) -> dict[str, Any]:
    """The Go service's user object (plus ``display_name`` and ``has_password``)."""
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "display_name": row["display_name"],
        "email": row["email"],
        "avatar_url": row["avatar_url"],
        "role": row["role"],
        "is_active": row["is_active"],
        "email_verified": row["email_verified"],
        "has_password": row["has_password"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def unique_conflict(error: asyncpg.UniqueViolationError) -> ConflictError:
    """Name the taken field in a unique-violation from ``users``."""
    constraint = error.constraint_name or ""
    if "email" in constraint:
        return ConflictError(
            "email already registered; log in or reset the password",
            code="email_taken",
            field="email",
        )
    if "username" in constraint:
        return ConflictError(
            "username already taken; pick another one",
            code="username_taken",
            field="username",
        )
    return ConflictError(
        "account already exists; log in instead", code="account_exists"
    )


async def create_email_user(
    pool: asyncpg.Pool,
    *,
    username: str,
    email: str,
    password_hash: str | None,
    role: str = "viewer",
    email_verified: bool = False,
) -> asyncpg.Record:
    """Create a user with an ``email`` provider in one transaction.

    Raises:
        ConflictError: ``email_taken`` or ``username_taken`` (also under races).
    """
    user_id = uuid7()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO users (id, username, email, password_hash, role,"
                " email_verified) VALUES ($1, $2, $3, $4, $5, $6)",
                user_id,
                username,
                email,
                password_hash,
                role,
                email_verified,
            )
            await insert_email_provider(conn, user_id, email)
            row = await get_user(conn, user_id)
    except asyncpg.UniqueViolationError as error:
        raise unique_conflict(error) from error
    assert row is not None  # inserted in this transaction; not a ledger rule
    return row


async def insert_email_provider(
    conn: asyncpg.Connection, user_id: uuid.UUID, email: str
) -> None:
    """Link ``email`` as a sign-in identity of ``user_id`` (caller's transaction)."""
    await conn.execute(
        "INSERT INTO auth_providers (id, user_id, provider, provider_id)"
        " VALUES ($1, $2, 'email', $3)",
        uuid7(),
        user_id,
        email,
    )


async def find_password_login(pool: asyncpg.Pool, email: str) -> asyncpg.Record | None:
    """The live user with this email, with its password hash (``None`` if absent)."""
    return await pool.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users"
        " WHERE email = $1 AND deleted_at IS NULL",
        email,
    )


async def update_profile(
    pool: asyncpg.Pool, user_id: uuid.UUID, changes: dict[str, Any]
) -> asyncpg.Record:
    """Set ``username``/``avatar_url``/``display_name``; return the new row.

    Raises:
        ConflictError: ``username_taken``.
        NotFoundError: the user is gone.
    """
    allowed = {"username", "avatar_url", "display_name"}
    columns = [c for c in changes if c in allowed]
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    try:
        if columns:
            await pool.execute(
                f"UPDATE users SET {sets}, updated_at = now() WHERE id = $1"
                " AND deleted_at IS NULL",
                user_id,
                *(changes[c] for c in columns),
            )
    except asyncpg.UniqueViolationError as error:
        raise unique_conflict(error) from error
    row = await get_user(pool, user_id)
    if row is None:
        raise NotFoundError("user not found", code="user_not_found")
    return row


async def list_providers(
    pool: asyncpg.Pool, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, user_id, provider, provider_id, metadata, created_at, updated_at"
        " FROM auth_providers WHERE user_id = $1 AND deleted_at IS NULL"
        " AND provider = ANY($2::text[]) ORDER BY created_at",
        user_id,
        list(LOGIN_PROVIDERS),
    )
    return [
        {
            "id": str(r["id"]),
            "user_id": str(r["user_id"]),
            "provider": r["provider"],
            "provider_id": r["provider_id"],
            "metadata": orjson.loads(r["metadata"]),
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }
        for r in rows
    ]


async def unlink_provider(
    pool: asyncpg.Pool, user_id: uuid.UUID, provider: str
) -> None:
    """Soft-delete the user's rows of ``provider``; unlinking ``email`` also drops the
    password, so that login method is really gone.

    Raises:
        ValidationError: it is the user's only remaining login method
            (``last_login_method``, 400) or the user has no such provider.
    """
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT provider FROM auth_providers WHERE user_id = $1"
            " AND deleted_at IS NULL AND provider = ANY($2::text[]) FOR UPDATE",
            user_id,
            list(LOGIN_PROVIDERS),
        )
        linked = [r["provider"] for r in rows]
        if provider not in linked:
            raise NotFoundError(
                f"no {provider} login is linked to this account",
                code="provider_not_linked",
            )
        if all(p == provider for p in linked):
            raise ValidationError(
                "cannot unlink the only login method; link another one first",
                code="last_login_method",
                status=400,
            )
        await conn.execute(
            "UPDATE auth_providers SET deleted_at = now(), updated_at = now()"
            " WHERE user_id = $1 AND provider = $2 AND deleted_at IS NULL",
            user_id,
            provider,
        )
        if provider == "email":
            await conn.execute(
                "UPDATE users SET password_hash = NULL, updated_at = now()"
                " WHERE id = $1",
                user_id,
            )


async def sign_in_identity(pool: asyncpg.Pool, identity: ProviderIdentity) -> uuid.UUID:
    """Return the user for an OAuth identity, linking or creating in one transaction.

    A known identity logs in. Otherwise, when the provider vouches for the email and one
    of our users verified the same email, the identity is linked to that user; else a
    new viewer is created (the Go service merged on any email match).
    """
    metadata = {"username": identity.username, "display_name": identity.display_name}
    async with pool.acquire() as conn, conn.transaction():
        found = await find_user_by_provider(conn, identity.provider, identity.subject)
        if found is not None:
            return found
        if identity.email is not None:
            owner: uuid.UUID | None = await conn.fetchval(
                "SELECT id FROM users WHERE email = $1 AND email_verified"
                " AND deleted_at IS NULL",
                identity.email,
            )
            if owner is not None:
                await link_provider(
                    conn, owner, identity.provider, identity.subject, metadata=metadata
                )
                return owner
        user_id, _ = await ensure_provider_user(
            conn,
            identity.provider,
            identity.subject,
            display_name=identity.display_name,
            username=identity.username,
            email=identity.email,
            avatar_url=identity.avatar_url,
            metadata=metadata,
        )
        return user_id


async def bind_wallet(
    conn: asyncpg.Connection, user_id: uuid.UUID, address: str
) -> None:
    """Make ``address`` the user's one active wallet, inside the caller's transaction.

    Replacing soft-deletes the previous wallet; re-binding an earlier one restores it.

    Raises:
        ConflictError: another user holds the address (``wallet_taken``), also on races.
    """
    owner = await conn.fetchval(
        "SELECT user_id FROM auth_providers WHERE provider = 'web3'"
        " AND provider_id = $1 AND deleted_at IS NULL FOR UPDATE",
        address,
    )
    if owner == user_id:
        return
    if owner is not None:
        raise ConflictError(
            "wallet already linked to another account; unlink it there first",
            code="wallet_taken",
            address=address,
        )
    await conn.execute(
        "UPDATE auth_providers SET deleted_at = now(), updated_at = now()"
        " WHERE user_id = $1 AND provider = 'web3' AND deleted_at IS NULL",
        user_id,
    )
    restored = await conn.fetchval(
        "UPDATE auth_providers SET deleted_at = NULL, updated_at = now() WHERE id = ("
        " SELECT id FROM auth_providers WHERE user_id = $1 AND provider = 'web3'"
        " AND provider_id = $2 ORDER BY created_at DESC LIMIT 1) RETURNING id",
        user_id,
        address,
    )
    if restored is None:
        await conn.execute(
            "INSERT INTO auth_providers (id, user_id, provider, provider_id)"
            " VALUES ($1, $2, 'web3', $3)",
            uuid7(),
            user_id,
            address,
        )


async def search_users(
    pool: asyncpg.Pool, *, email: str | None, role: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Live users, oldest first, optionally filtered by exact email and role."""
    rows = await pool.fetch(
        f"SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL"
        " AND ($1::text IS NULL OR email = $1) AND ($2::text IS NULL OR role = $2)"
        " ORDER BY created_at, id LIMIT $3 OFFSET $4",
        email,
        role,
        limit,
        offset,
    )
    return [user_view(r) for r in rows]

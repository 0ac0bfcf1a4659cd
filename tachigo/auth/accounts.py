"""User accounts behind outside identities. All writes are single transactions."""

from __future__ import annotations

import uuid

import asyncpg

from tachigo.ledger.ids import user_id_for


async def find_user_by_provider(
    pool: asyncpg.Pool, provider: str, provider_id: str
) -> uuid.UUID | None:
    return await pool.fetchval(
        "SELECT user_id FROM auth_providers WHERE provider = $1 AND provider_id = $2"
        " AND deleted_at IS NULL", provider, provider_id,
    )


async def resolve_provider_user(
    pool: asyncpg.Pool, provider: str, provider_id: str, *, display_name: str | None = None
) -> uuid.UUID:
    """Return the user linked to (provider, provider_id), creating both on first sight.

    Safe under concurrent first logins: the new user's id is derived from the identity,
    and both inserts are ``ON CONFLICT DO NOTHING`` in one transaction.
    """
    found = await find_user_by_provider(pool, provider, provider_id)
    if found is not None:
        return found
    new_id = user_id_for(provider, provider_id)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO users (id, display_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            new_id, display_name,
        )
        await conn.execute(
            "INSERT INTO auth_providers (id, user_id, provider, provider_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            uuid.uuid4(), new_id, provider, provider_id,
        )
    found = await find_user_by_provider(pool, provider, provider_id)
    assert found is not None  # inserted above or by a concurrent winner; not a ledger rule
    return found

"""Shipping addresses (raffle prizes, store items). At most one default per user."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tachigo.errors import ConflictError, NotFoundError
from tachigo.ledger.ids import uuid7

FIELDS = (
    "recipient_name",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "district",
    "postal_code",
    "country",
)
_COLUMNS = "id, user_id, " + ", ".join(FIELDS) + ", is_default, created_at, updated_at"


def address_view(row: asyncpg.Record) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in row.items()}


async def list_addresses(
    pool: asyncpg.Pool, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Live addresses, the default first, then oldest first."""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM shipping_addresses WHERE user_id = $1"
        " AND deleted_at IS NULL ORDER BY is_default DESC, created_at, id",
        user_id,
    )
    return [address_view(r) for r in rows]


async def clear_default(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Unset the user's default under a lock on the user row, so concurrent "make
    default" calls queue up instead of both passing the clear and colliding."""
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
    await conn.execute(
        "UPDATE shipping_addresses SET is_default = false, updated_at = now()"
        " WHERE user_id = $1 AND is_default AND deleted_at IS NULL",
        user_id,
    )


async def create_address(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    fields: dict[str, Any],
    *,
    is_default: bool,
    addresses_max: int,
) -> dict[str, Any]:
    """Insert an address (clearing the old default first when ``is_default``).

    Raises:
        ConflictError: the user already has ``addresses_max`` addresses.
    """
    async with pool.acquire() as conn, conn.transaction():
        # Lock the user row so two concurrent creates cannot both pass the count.
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
        count = await conn.fetchval(
            "SELECT count(*) FROM shipping_addresses"
            " WHERE user_id = $1 AND deleted_at IS NULL",
            user_id,
        )
        if count >= addresses_max:
            raise ConflictError(
                f"at most {addresses_max} addresses per account; delete one first",
                code="too_many_addresses",
            )
        if is_default:
            await clear_default(conn, user_id)
        row = await conn.fetchrow(
            "INSERT INTO shipping_addresses"
            f" (id, user_id, {', '.join(FIELDS)}, is_default)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            f" RETURNING {_COLUMNS}",
            uuid7(),
            user_id,
            *(fields[f] for f in FIELDS),
            is_default,
        )
    return address_view(row)


async def update_address(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    address_id: uuid.UUID,
    fields: dict[str, Any],
    *,
    is_default: bool,
) -> dict[str, Any]:
    """Replace an address's fields (the Go service's full replace).

    Raises:
        NotFoundError: no such live address of this user (``address_not_found``).
    """
    sets = ", ".join(f"{f} = ${i}" for i, f in enumerate(FIELDS, start=3))
    async with pool.acquire() as conn, conn.transaction():
        if is_default:
            await clear_default(conn, user_id)
        row = await conn.fetchrow(
            f"UPDATE shipping_addresses SET {sets},"
            f" is_default = is_default OR ${len(FIELDS) + 3},"
            " updated_at = now() WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL"
            f" RETURNING {_COLUMNS}",
            address_id,
            user_id,
            *(fields[f] for f in FIELDS),
            is_default,
        )
        if row is None:
            raise address_not_found(address_id)
    return address_view(row)


async def make_default(
    pool: asyncpg.Pool, user_id: uuid.UUID, address_id: uuid.UUID
) -> dict[str, Any]:
    """Make an address the user's only default.

    Raises:
        NotFoundError: ``address_not_found``.
    """
    async with pool.acquire() as conn, conn.transaction():
        await clear_default(conn, user_id)
        row = await conn.fetchrow(
            "UPDATE shipping_addresses SET is_default = true, updated_at = now()"
            " WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL"
            f" RETURNING {_COLUMNS}",
            address_id,
            user_id,
        )
        if row is None:
            raise address_not_found(address_id)
    return address_view(row)


async def delete_address(
    pool: asyncpg.Pool, user_id: uuid.UUID, address_id: uuid.UUID
) -> None:
    """Soft-delete an address.

    Raises:
        NotFoundError: ``address_not_found``.
    """
    status = await pool.execute(
        "UPDATE shipping_addresses SET deleted_at = now(), is_default = false,"
        " updated_at = now() WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
        address_id,
        user_id,
    )
    if status == "UPDATE 0":
        raise address_not_found(address_id)


def address_not_found(address_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"address {address_id} not found", code="address_not_found")

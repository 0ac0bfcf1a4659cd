"""Agencies: users with the ``agency`` role whose name is their username. Which
channels an agency manages is ``channels.agency_user_id`` (see ``streamers``)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tachigo.auth.accounts import insert_email_provider, unique_conflict
from tachigo.errors import NotFoundError
from tachigo.ledger.ids import uuid7

_AGENCY_COLUMNS = (
    "id, username, email, password_hash IS NOT NULL AS onboarding_complete"
)


def agency_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["username"],
        "email": row["email"],
        "onboarding_complete": row["onboarding_complete"],
    }


async def create_agency(
    pool: asyncpg.Pool, *, name: str, email: str, created_by: uuid.UUID
) -> asyncpg.Record:
    """Create an agency user (verified email, no password yet) with its email provider
    and a ``role_changes`` row, in one transaction.

    Raises:
        ConflictError: ``email_taken`` or ``username_taken``.
    """
    agency_id = uuid7()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO users (id, username, email, email_verified, role)"
                " VALUES ($1, $2, $3, true, 'agency')",
                agency_id,
                name,
                email,
            )
            await insert_email_provider(conn, agency_id, email)
            await conn.execute(
                "INSERT INTO role_changes (id, user_id, old_role, new_role, changed_by,"
                " reason) VALUES ($1, $2, NULL, 'agency', $3, 'agency created')",
                uuid7(),
                agency_id,
                created_by,
            )
            row = await conn.fetchrow(
                f"SELECT {_AGENCY_COLUMNS} FROM users WHERE id = $1", agency_id
            )
    except asyncpg.UniqueViolationError as error:
        raise unique_conflict(error) from error
    return row


async def get_agency(pool: asyncpg.Pool, agency_id: uuid.UUID) -> asyncpg.Record:
    """Return the agency.

    Raises:
        NotFoundError: no live user with the agency role has this id
            (``agency_not_found``).
    """
    row = await pool.fetchrow(
        f"SELECT {_AGENCY_COLUMNS} FROM users WHERE id = $1 AND role = 'agency'"
        " AND deleted_at IS NULL",
        agency_id,
    )
    if row is None:
        raise NotFoundError(f"agency {agency_id} not found", code="agency_not_found")
    return row


async def rename_agency(pool: asyncpg.Pool, agency_id: uuid.UUID, name: str) -> None:
    """Set the agency's name (its username).

    Raises:
        ConflictError: ``username_taken``.
    """
    try:
        await pool.execute(
            "UPDATE users SET username = $2, updated_at = now()"
            " WHERE id = $1 AND role = 'agency'",
            agency_id,
            name,
        )
    except asyncpg.UniqueViolationError as error:
        raise unique_conflict(error) from error

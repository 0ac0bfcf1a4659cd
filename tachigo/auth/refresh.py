"""Opaque refresh tokens: 32 random bytes as 64 hex characters, stored as SHA-256.

Every use rotates the token inside its family. A token presented again after its
rotation is either a parallel tab (within ``refresh_reuse_grace_s``: refused, nothing
else happens) or a copy in someone else's hands (later: the whole family is revoked,
RFC 9700 section 4.14.2).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from tachigo.auth.errors import RefreshTokenError
from tachigo.ledger.ids import uuid7

_TOKEN_HEX_CHARS = 64


@dataclass(frozen=True, slots=True)
class IssuedRefresh:
    token: str
    id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime


class RefreshOutcome(enum.Enum):
    ROTATED = "rotated"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    REUSED = "reused"
    USER_INACTIVE = "user_inactive"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_token_shape(token: str) -> str:
    """Refuse anything that cannot be one of our tokens before touching the database.

    Raises:
        RefreshTokenError: not 64 lowercase hex characters.
    """
    if len(token) != _TOKEN_HEX_CHARS or any(
        c not in "0123456789abcdef" for c in token
    ):
        raise RefreshTokenError("invalid or expired refresh token; log in again")
    return token


async def issue_refresh(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    *,
    ttl_s: int,
    family_id: uuid.UUID | None = None,
) -> IssuedRefresh:
    """Store a new refresh token for ``user_id`` (a new family unless one is given).

    Writes one ``refresh_tokens`` row; the raw token is returned and never stored.
    """
    token = secrets.token_hex(_TOKEN_HEX_CHARS // 2)
    token_id, family = uuid7(), family_id or uuid7()
    expires_at = await conn.fetchval(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))"
        " RETURNING expires_at",
        token_id,
        family,
        user_id,
        hash_token(token),
        ttl_s,
    )
    return IssuedRefresh(token, token_id, family, expires_at)


_LOOKUP = """
SELECT t.id, t.family_id, t.user_id, t.revoked_at IS NOT NULL AS revoked,
       t.expires_at <= now() AS expired, t.rotated_at IS NOT NULL AS rotated,
       t.rotated_at > now() - make_interval(secs => $2) AS within_grace,
       u.is_active AND u.deleted_at IS NULL AS user_active
FROM refresh_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1
FOR UPDATE OF t
"""


def classify(row: asyncpg.Record | None) -> RefreshOutcome:
    """Decide what presenting this token means; the row is locked by the caller."""
    if row is None:
        return RefreshOutcome.UNKNOWN
    if row["revoked"]:
        return RefreshOutcome.REVOKED
    if row["rotated"]:
        return (
            RefreshOutcome.SUPERSEDED if row["within_grace"] else RefreshOutcome.REUSED
        )
    if row["expired"]:
        return RefreshOutcome.EXPIRED
    if not row["user_active"]:
        return RefreshOutcome.USER_INACTIVE
    return RefreshOutcome.ROTATED


async def rotate_refresh(
    pool: asyncpg.Pool, token: str, *, ttl_s: int, grace_s: int
) -> tuple[uuid.UUID, IssuedRefresh]:
    """Exchange ``token`` for a new one in the same family; return (user id, new token).

    One transaction: marks the old row rotated and inserts its successor. A reuse after
    the grace period revokes every token of the family (committed before raising).

    Raises:
        RefreshTokenError: unknown, expired, revoked, superseded or reused token, or a
            deactivated user. ``code`` says which.
    """
    check_token_shape(token)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_LOOKUP, hash_token(token), grace_s)
        outcome = classify(row)
        if outcome is RefreshOutcome.REUSED:
            await revoke_family(conn, row["family_id"], reason="reuse")
        if outcome is RefreshOutcome.ROTATED:
            issued = await issue_refresh(
                conn, row["user_id"], ttl_s=ttl_s, family_id=row["family_id"]
            )
            await conn.execute(
                "UPDATE refresh_tokens SET rotated_at = now(), replaced_by = $2"
                " WHERE id = $1",
                row["id"],
                issued.id,
            )
            return row["user_id"], issued
    raise refresh_error(outcome)


def refresh_error(outcome: RefreshOutcome) -> RefreshTokenError:
    if outcome is RefreshOutcome.SUPERSEDED:
        return RefreshTokenError(
            "this refresh token was just rotated by a parallel request; retry with the "
            "newest refresh_token cookie",
            code="refresh_token_superseded",
        )
    if outcome is RefreshOutcome.REUSED:
        return RefreshTokenError(
            "refresh token was already used; every session of this login was signed "
            "out for safety; log in again",
            code="refresh_token_reused",
        )
    return RefreshTokenError(
        "invalid or expired refresh token; log in again", outcome=outcome.value
    )


async def revoke_family(
    conn: asyncpg.Connection, family_id: uuid.UUID, *, reason: str
) -> int:
    """Revoke every live token of a family; return how many rows changed."""
    status = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $2"
        " WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        reason,
    )
    return int(status.split()[-1])


async def revoke_user_tokens(
    conn: asyncpg.Connection, user_id: uuid.UUID, *, reason: str
) -> int:
    """Revoke every live refresh token of a user (password reset, unlinking)."""
    status = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $2"
        " WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        reason,
    )
    return int(status.split()[-1])


async def revoke_token_family(pool: asyncpg.Pool, token: str) -> bool:
    """Log out: revoke the family of ``token``; ``False`` when the token is unknown.

    Idempotent: logging out twice, or with an unknown token, changes nothing.
    """
    try:
        check_token_shape(token)
    except RefreshTokenError:
        return False
    async with pool.acquire() as conn, conn.transaction():
        family_id = await conn.fetchval(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
            hash_token(token),
        )
        if family_id is None:
            return False
        await revoke_family(conn, family_id, reason="logout")
    return True


async def prune_expired(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Delete a user's long-expired rows; called on login so the table stays bounded."""
    await conn.execute(
        "DELETE FROM refresh_tokens WHERE user_id = $1"
        " AND expires_at < now() - interval '1 day'",
        user_id,
    )

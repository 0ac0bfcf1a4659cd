"""Single-use mailed tokens for email verification and password reset, stored as
SHA-256 digests and bound to the address they were mailed to."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import asyncpg

from tachigo.errors import ValidationError
from tachigo.ledger.ids import uuid7

PURPOSES = ("verify_email", "reset_password")
_TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class ConsumedToken:
    user_id: uuid.UUID
    email: str


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_email_token(
    conn: asyncpg.Connection | asyncpg.Pool,
    user_id: uuid.UUID,
    *,
    purpose: str,
    email: str,
    ttl_s: int,
) -> str:
    """Store a new token for (user, purpose), voiding that user's older ones.

    Returns the raw token (64 hex characters) for the mail; only its digest is stored.
    """
    token = secrets.token_hex(_TOKEN_BYTES)
    await conn.execute(
        "WITH gone AS (DELETE FROM email_tokens WHERE user_id = $2 AND purpose = $3)"
        " INSERT INTO email_tokens"
        " (id, user_id, purpose, email, token_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
        uuid7(),
        user_id,
        purpose,
        email,
        digest(token),
        ttl_s,
    )
    return token


async def consume_email_token(
    conn: asyncpg.Connection, token: str, *, purpose: str
) -> ConsumedToken:
    """Delete a live token inside the caller's transaction and return whom it names.

    The token dies even when the caller's later checks fail, so a transaction that
    rolls back keeps it; an expired token is refused (and swept with the user's next).

    Raises:
        ValidationError: unknown, used, expired, for another purpose, or for an
            email the user no longer has (``invalid_token``, status 400).
    """
    if len(token) > 256:
        raise invalid_token(purpose)
    row = await conn.fetchrow(
        "DELETE FROM email_tokens t USING users u WHERE t.token_hash = $1"
        " AND t.purpose = $2 AND u.id = t.user_id AND u.deleted_at IS NULL"
        " RETURNING t.user_id, t.email, t.expires_at > now() AS live,"
        " u.email IS NOT DISTINCT FROM t.email AS same_email",
        digest(token),
        purpose,
    )
    if row is None or not row["live"] or not row["same_email"]:
        raise invalid_token(purpose)
    return ConsumedToken(row["user_id"], row["email"])


def invalid_token(purpose: str) -> ValidationError:
    what = "verification" if purpose == "verify_email" else "reset"
    again = (
        "ask for a new verification mail"
        if purpose == "verify_email"
        else "ask for a new reset link with forgot-password"
    )
    return ValidationError(
        f"invalid or expired {what} token; {again}", code="invalid_token", status=400
    )

"""Roles and ownership. The role is read from Postgres on every dashboard request, so a
demotion takes effect at once rather than when the access token expires.

Ownership has one source of truth: ``channels.owner_user_id`` (the streamer) and
``channels.agency_user_id`` (the agency managing that channel).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from tachigo.auth.accounts import require_active_user
from tachigo.auth.tokens import ROLES, Principal
from tachigo.errors import ForbiddenError, NotFoundError, ValidationError
from tachigo.ledger.ids import uuid7

DASHBOARD_ROLES = ("streamer", "agency", "admin")


@dataclass(frozen=True, slots=True)
class Actor:
    """A dashboard caller with the role Postgres holds now."""

    user_id: uuid.UUID
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


async def load_actor(pool: asyncpg.Pool, principal: Principal) -> Actor:
    """Turn an access-token principal into an ``Actor`` with its current role.

    Raises:
        ForbiddenError: an extension-minted token (``extension_token``); those only
            serve the viewer routes.
        AuthError: the user is gone or deactivated.
    """
    if principal.source == "ext":
        raise ForbiddenError(
            "extension tokens cannot use the dashboard; log in on the dashboard",
            code="extension_token",
        )
    row = await require_active_user(pool, principal.user_id)
    return Actor(row["id"], row["role"])


def require_role(actor: Actor, *roles: str) -> None:
    """Refuse an actor whose current role is none of ``roles``.

    Raises:
        ForbiddenError: the actor has none of ``roles`` (``forbidden``).
    """
    if actor.role not in roles:
        raise ForbiddenError(
            f"this route needs one of the roles {list(roles)}; your role "
            f"is {actor.role}",
            code="forbidden",
            roles=list(roles),
        )


def owns_channel(
    actor: Actor, channel: asyncpg.Record, *, agency_allowed: bool
) -> bool:
    """Whether ``actor`` may act on ``channel`` (a row with owner and agency ids)."""
    if actor.is_admin:
        return True
    if actor.role == "streamer":
        return bool(channel["owner_user_id"] == actor.user_id)
    if actor.role == "agency" and agency_allowed:
        return bool(channel["agency_user_id"] == actor.user_id)
    return False


async def assign_role_in(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    role: str,
    *,
    changed_by: uuid.UUID | None,
    reason: str,
) -> tuple[str | None, str]:
    """Set a user's role and append a ``role_changes`` row, in the caller's transaction.

    Returns (old role, new role); a no-op change writes nothing.

    Raises:
        ValidationError: unknown role (``invalid_role``).
        NotFoundError: no such live user (``user_not_found``).
    """
    if role not in ROLES:
        raise ValidationError(
            f"unknown role {role!r}; use one of {list(ROLES)}",
            code="invalid_role",
            field="role",
        )
    old = await conn.fetchval(
        "SELECT role FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        user_id,
    )
    if old is None:
        raise NotFoundError(f"user {user_id} not found", code="user_not_found")
    if old != role:
        await conn.execute(
            "UPDATE users SET role = $2, updated_at = now() WHERE id = $1",
            user_id,
            role,
        )
        await conn.execute(
            "INSERT INTO role_changes"
            " (id, user_id, old_role, new_role, changed_by, reason)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            uuid7(),
            user_id,
            old,
            role,
            changed_by,
            reason,
        )
    return old, role


async def assign_role(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    role: str,
    *,
    changed_by: uuid.UUID | None,
    reason: str,
) -> tuple[str | None, str]:
    """Set a user's role with an audit row, in one transaction (see ``assign_role_in``).

    ``changed_by=None`` marks an operator action from the command line.
    """
    async with pool.acquire() as conn, conn.transaction():
        return await assign_role_in(
            conn, user_id, role, changed_by=changed_by, reason=reason
        )


async def role_history(
    pool: asyncpg.Pool, user_id: uuid.UUID, *, limit: int
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT old_role, new_role, changed_by, reason, created_at FROM role_changes"
        " WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
        user_id,
        limit,
    )
    return [dict(r) for r in rows]

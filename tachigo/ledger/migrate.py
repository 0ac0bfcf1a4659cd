"""Apply the plain SQL files in ``migrations/`` in name order, once each."""

from __future__ import annotations

import logging
from importlib import resources

import asyncpg

from tachigo.settings import Settings

log = logging.getLogger(__name__)
# Any constant works; it only has to be the same for every migrating process.
_MIGRATION_LOCK_ID = 7_314_201


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("tachigo.ledger") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name, p.read_text()) for p in files]


async def apply_migrations(settings: Settings, *, dsn: str | None = None) -> list[str]:
    """Apply pending migrations, each in its own transaction; return their names."""
    conn = await asyncpg.connect(
        dsn or settings.postgres.dsn.get_secret_value(),
        timeout=settings.postgres.connect_timeout_s,
    )
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")
        }
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (name) VALUES ($1)", name
                )
            applied.append(name)
            log.info("migration_applied", extra={"migration": name})
    finally:
        await conn.close()
    return applied

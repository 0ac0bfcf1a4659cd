"""asyncpg pool creation with explicit timeouts."""

from __future__ import annotations

import asyncio

import asyncpg

from tachigo.errors import UnavailableError
from tachigo.settings import Settings


async def keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook: skip asyncpg's default ``RESET ALL``/``UNLISTEN`` round trip.

    We never change session state (no SET, LISTEN or session advisory locks; locks
    are transaction-scoped), and that round trip cost 13 % of the API's CPU per
    heartbeat (py-spy). Open transactions are still rolled back by asyncpg itself.
    """


async def create_pool(
    settings: Settings, *, size_max: int | None = None
) -> asyncpg.Pool:
    """Open a pool to the ledger database.

    Raises:
        UnavailableError: Postgres is unreachable within the connect timeout.
    """
    pg = settings.postgres
    try:
        async with asyncio.timeout(pg.connect_timeout_s * 2):
            return await asyncpg.create_pool(
                dsn=pg.dsn.get_secret_value(),
                min_size=min(pg.pool_size_min, size_max or pg.pool_size_max),
                max_size=size_max or pg.pool_size_max,
                command_timeout=pg.command_timeout_s,
                timeout=pg.connect_timeout_s,
                reset=keep_session,
            )
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise UnavailableError(
            "postgres is unreachable; start it with `tachigo dev up` or check "
            "TACHIGO_POSTGRES__DSN",
        ) from error

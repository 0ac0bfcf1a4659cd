"""asyncpg pool creation with explicit timeouts."""

from __future__ import annotations

import asyncio

import asyncpg

from tachigo.errors import UnavailableError
from tachigo.settings import Settings


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
            )
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise UnavailableError(
            "postgres is unreachable; start it with `tachigo dev up` or check "
            "TACHIGO_POSTGRES__DSN",
        ) from error

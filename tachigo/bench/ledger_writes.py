"""``tachigo bench ledger``: ``repository.apply_credits`` throughput by batch size.

Runs against the ``tachigo_test`` database (migrated first), never the dev ledger:
it writes many synthetic credits for fresh users and the journal is append-only.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit, urlunsplit

from tachigo.bench.machine import describe_machine, percentile
from tachigo.bench.synthetic import insert_viewers
from tachigo.kafka.records import Credit
from tachigo.ledger.migrate import apply_migrations
from tachigo.ledger.pool import create_pool
from tachigo.ledger.repository import apply_credits
from tachigo.settings import Settings

TEST_DATABASE = "tachigo_test"
BATCH_SIZES = (100, 500, 2_000)
# Per batch size: enough batches for a stable figure, few enough to finish in seconds.
CREDITS_PER_SIZE = 40_000
BATCHES_PER_SIZE_MIN = 10
BUCKET_S = 300
# Any aligned time works; credit ids only need to be new.
BUCKET_EPOCH_S = 1_700_000_100 // BUCKET_S * BUCKET_S


def test_database_settings(settings: Settings) -> Settings:
    """A copy of ``settings`` whose DSN names the ``tachigo_test`` database."""
    parts = urlsplit(settings.postgres.dsn.get_secret_value())
    dsn = urlunsplit(parts._replace(path=f"/{TEST_DATABASE}"))
    copy = settings.model_copy(deep=True)
    copy.postgres.dsn = type(settings.postgres.dsn)(dsn)
    return copy


def credit_batches(
    users: list[uuid.UUID], *, channel_id: str, size: int, batches: int
) -> list[list[Credit]]:
    """``batches`` batches of ``size`` credits; batch b credits every user bucket b."""
    out = []
    for b in range(batches):
        bucket_s = BUCKET_EPOCH_S + b * BUCKET_S
        out.append(
            [
                Credit(
                    credit_id=f"watch:{u}:{channel_id}:{bucket_s}",
                    user_id=str(u),
                    channel_id=channel_id,
                    bucket_start_s=bucket_s,
                    seconds=300,
                    points=5,
                    multiplier=1,
                    closed_at_ms=(bucket_s + 360) * 1000,
                )
                for u in users[:size]
            ]
        )
    return out


async def bench_ledger(settings: Settings) -> int:
    test_settings = test_database_settings(settings)
    await apply_migrations(test_settings)
    pool = await create_pool(test_settings, size_max=2)
    lines = [
        "bench ledger: repository.apply_credits on database tachigo_test, one "
        "transaction per batch, fresh users",
        describe_machine(),
    ]
    try:
        for size in BATCH_SIZES:
            batches = max(BATCHES_PER_SIZE_MIN, CREDITS_PER_SIZE // size)
            users = await insert_viewers(pool, size, label="bench-ledger")
            channel_id = f"bench-ledger-{uuid.uuid4().hex[:8]}"
            work = credit_batches(
                users, channel_id=channel_id, size=size, batches=batches
            )
            batch_ms = []
            started = time.perf_counter()
            for batch in work:
                began = time.perf_counter()
                await apply_credits(
                    pool, batch, retries_max=settings.ledger.retries_max
                )
                batch_ms.append((time.perf_counter() - began) * 1000)
            elapsed_s = time.perf_counter() - started
            lines.append(
                f"batch {size:>5,}: {size * batches / elapsed_s:>9,.0f} credits/s over "
                f"{batches} batches; ms per batch p50 {percentile(batch_ms, 0.5):.1f}, "
                f"p99 {percentile(batch_ms, 0.99):.1f}, max {max(batch_ms):.1f}"
            )
    finally:
        await pool.close()
    print("\n".join(lines))
    return 0

"""The ledger on the real Postgres: idempotent credit batches and the schema's
guards.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tachigo.kafka.records import Credit
from tachigo.ledger import repository
from tachigo.ledger.reconcile import find_violations
from tachigo.settings import Settings

pytestmark = pytest.mark.integration


async def new_user(pool: asyncpg.Pool) -> uuid.UUID:
    user_id = uuid.uuid4()
    await pool.execute("INSERT INTO users (id) VALUES ($1)", user_id)
    return user_id


def credit(
    user_id: uuid.UUID, channel_id: str, bucket_s: int, points: int, seconds: int = 300
) -> Credit:
    return Credit(
        f"watch:{user_id}:{channel_id}:{bucket_s}",
        str(user_id),
        channel_id,
        bucket_s,
        seconds,
        points,
        1,
        bucket_s * 1000,
    )


async def test_credit_batch_applied_twice_credits_once(pool):
    user = await new_user(pool)
    batch = [credit(user, "ch-a", 300 * i, 5) for i in range(10)]
    first = await repository.apply_credits(pool, batch)
    second = await repository.apply_credits(pool, batch + batch[:3])
    assert (first.inserted, second.inserted, second.duplicates) == (10, 0, 10)
    balance = await repository.get_balance(pool, user, "ch-a")
    assert (balance.spendable, balance.cumulative) == (50, 50)


async def test_same_credit_id_with_other_content_is_a_conflict_and_not_written(pool):
    user = await new_user(pool)
    await repository.apply_credits(pool, [credit(user, "ch-b", 0, 5)])
    result = await repository.apply_credits(pool, [credit(user, "ch-b", 0, 7)])
    assert [c.points for c in result.conflicts] == [7]
    assert (await repository.get_balance(pool, user, "ch-b")).spendable == 5


async def test_journal_refuses_update_and_delete(pool):
    user = await new_user(pool)
    await repository.apply_credits(pool, [credit(user, "ch-c", 0, 1)])
    for statement in (
        "UPDATE ledger_entries SET delta_spendable = 100 WHERE user_id = $1",
        "DELETE FROM ledger_entries WHERE user_id = $1",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute(statement, user)


async def test_spendable_balance_cannot_go_negative(pool):
    user = await new_user(pool)
    await repository.apply_credits(pool, [credit(user, "ch-d", 0, 3)])
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "UPDATE accounts SET spendable = spendable - 4 WHERE user_id = $1", user
        )


async def test_concurrent_batches_on_the_same_accounts_do_not_double_credit(pool):
    users = [await new_user(pool) for _ in range(5)]
    batch = [credit(u, "ch-e", 300 * i, 2) for u in users for i in range(20)]
    results = await asyncio.gather(
        *[
            repository.apply_credits(pool, list(reversed(batch)) if n % 2 else batch)
            for n in range(6)
        ]
    )
    assert sum(r.inserted for r in results) == len(batch)
    for user in users:
        assert (await repository.get_balance(pool, user, "ch-e")).cumulative == 40


credit_ops = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 40), st.booleans()),
    min_size=1,
    max_size=40,
)


@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(credit_ops, st.integers(1, 8))
def test_ledger_balances_equal_distinct_credits_after_retries_and_aborts(
    settings: Settings, database, ops, batch_size
):
    """Batches are retried, replayed and aborted mid-transaction; balances always equal
    the sum of the distinct credits that committed, and reconcile stays clean."""
    asyncio.run(check_ledger_model(settings, ops, batch_size))


async def check_ledger_model(settings: Settings, ops, batch_size: int) -> None:
    pool = await asyncpg.create_pool(
        settings.postgres.dsn.get_secret_value(), min_size=1, max_size=2
    )
    try:
        users = [await new_user(pool) for _ in range(3)]
        committed: dict[str, Credit] = {}
        items = [credit(users[u], f"ch{u}", 300 * b, p) for u, b, p, _ in ops]
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            if ops[start][3]:  # abort this attempt mid-transaction, then retry it
                await aborted_attempt(pool, chunk)
            result = await repository.apply_credits(pool, chunk)
            distinct = {
                c.credit_id: c for c in chunk
            }.values()  # last one of an id wins
            expected_conflicts = sum(
                1
                for c in distinct
                if c.credit_id in committed and committed[c.credit_id] != c
            )
            for c in distinct:
                committed.setdefault(c.credit_id, c)
            assert len(result.conflicts) == expected_conflicts
        for u, user in enumerate(users):
            expected = sum(
                c.points for c in committed.values() if c.user_id == str(user)
            )
            balance = await repository.get_balance(pool, user, f"ch{u}")
            assert (balance.spendable, balance.cumulative) == (expected, expected)
        assert await find_violations(pool) == []
    finally:
        await pool.close()


async def aborted_attempt(pool: asyncpg.Pool, chunk: list[Credit]) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with pool.acquire() as conn, conn.transaction():
            await repository.apply_credits_txn(
                conn, list({c.credit_id: c for c in chunk}.values())
            )
            raise Abort


async def test_batch_starting_past_the_stored_position_writes_nothing_and_says_where(
    pool,
):
    user = await new_user(pool)
    consumer = f"c-{uuid.uuid4().hex[:6]}"
    first = [repository.PartitionSpan("credits", 3, 0, 10)]
    await repository.apply_credits(
        pool, [credit(user, "ch-g", 0, 2)], consumer=consumer, spans=first
    )
    skipped = [repository.PartitionSpan("credits", 3, 15, 20)]
    with pytest.raises(repository.PositionGapError) as raised:
        await repository.apply_credits(
            pool, [credit(user, "ch-g", 300, 2)], consumer=consumer, spans=skipped
        )
    assert raised.value.rewinds == {("credits", 3): 10}
    assert (await repository.get_balance(pool, user, "ch-g")).cumulative == 2


async def test_credits_of_unknown_users_are_handed_back_not_booked(pool):
    ghost = uuid.uuid4()
    user = await new_user(pool)
    result = await repository.apply_credits(
        pool, [credit(ghost, "ch-h", 0, 5), credit(user, "ch-h", 0, 5)]
    )
    assert [c.user_id for c in result.unknown_users] == [str(ghost)]
    assert result.inserted == 1

"""Reads and writes of accounts and the journal. Every write is one short
transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from tachigo.kafka.records import Credit
from tachigo.ledger.ids import uuid7

log = logging.getLogger(__name__)

_RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)

_INSERT_ENTRIES = (
    "INSERT INTO ledger_entries (id, user_id, channel_id, kind, delta_spendable,"
    " delta_cumulative, spendable_after, cumulative_after, watch_seconds, bucket_start,"
    " idempotency_key, request_hash)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],"
    " $5::bigint[],"
    " $6::bigint[], $7::bigint[], $8::bigint[], $9::integer[], $10::timestamptz[],"
    " $11::text[], $12::bytea[])"
)


@dataclass(frozen=True, slots=True)
class CreditBatchResult:
    inserted: int
    duplicates: int
    conflicts: tuple[Credit, ...]
    unknown_users: tuple[Credit, ...] = ()


@dataclass(frozen=True, slots=True)
class PartitionSpan:
    """The offsets of one partition that a batch covers: [first, next)."""

    topic: str
    partition: int
    first_offset: int
    next_offset: int


class PositionGapError(Exception):
    """A batch starts past the stored position of a partition: records were skipped.

    ``rewinds`` maps every (topic, partition) of the batch to the offset to re-read
    from; nothing of the batch was written.
    """

    def __init__(self, rewinds: dict[tuple[str, int], int]) -> None:
        super().__init__(f"records skipped; re-read from {rewinds}")
        self.rewinds = rewinds


@dataclass(frozen=True, slots=True)
class Balance:
    spendable: int
    cumulative: int


def credit_request_hash(credit: Credit) -> bytes:
    text = (
        f"{credit.user_id}|{credit.channel_id}|{credit.bucket_start_s}|"
        f"{credit.seconds}|{credit.points}|{credit.multiplier}"
    )
    return hashlib.sha256(text.encode()).digest()


async def apply_credits(
    pool: asyncpg.Pool,
    credits: Sequence[Credit],
    *,
    retries_max: int = 5,
    consumer: str | None = None,
    spans: Sequence[PartitionSpan] = (),
) -> CreditBatchResult:
    """Write a batch of watch credits in one transaction, each at most once.

    Journal rows go in under the credit id as idempotency key; balances change only
    for rows that went in. A credit id already present with the same content counts
    as a duplicate; with other content it is returned in ``conflicts`` (not written).
    With ``consumer``, the batch's partition ``spans`` are checked against and saved
    to ``consumer_positions`` in the same transaction.
    Retries deadlocks and serialization failures up to ``retries_max`` times.

    Raises:
        PositionGapError: a span starts past its stored position (nothing written).
    """
    unique = {c.credit_id: c for c in credits}
    for attempt in range(1, retries_max + 1):
        try:
            async with (
                pool.acquire() as conn,
                conn.transaction(isolation="read_committed"),
            ):
                if consumer is not None:
                    await advance_positions(conn, consumer, spans)
                if not unique:
                    return CreditBatchResult(0, 0, ())
                return await apply_credits_txn(conn, list(unique.values()))
        except _RETRYABLE as error:
            if attempt == retries_max:
                raise
            log.warning(
                "ledger_batch_retry", extra={"attempt": attempt, "error": repr(error)}
            )
            await asyncio.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


async def apply_credits_txn(
    conn: asyncpg.Connection, credits: list[Credit]
) -> CreditBatchResult:
    # 0. Credits of users that do not exist cannot be booked (and would fail the
    #    whole batch on the foreign key); they are handed back, not retried.
    known = {
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM users WHERE id = ANY($1::uuid[])",
            list({uuid.UUID(c.user_id) for c in credits}),
        )
    }
    unknown = tuple(c for c in credits if uuid.UUID(c.user_id) not in known)
    credits = [c for c in credits if uuid.UUID(c.user_id) in known]
    if not credits:
        return CreditBatchResult(0, 0, (), unknown)
    result = await apply_credits_known(conn, credits)
    return CreditBatchResult(
        result.inserted, result.duplicates, result.conflicts, unknown
    )


async def apply_credits_known(
    conn: asyncpg.Connection, credits: list[Credit]
) -> CreditBatchResult:
    # 1. Lock the accounts in a fixed order so concurrent batches cannot deadlock.
    keys = sorted({(uuid.UUID(c.user_id), c.channel_id) for c in credits})
    users, channels = [k[0] for k in keys], [k[1] for k in keys]
    await conn.execute(
        "INSERT INTO accounts (user_id, channel_id) SELECT * FROM unnest($1::uuid[],"
        " $2::text[])"
        " ON CONFLICT DO NOTHING",
        users,
        channels,
    )
    rows = await conn.fetch(
        "SELECT a.user_id, a.channel_id, a.spendable, a.cumulative FROM accounts a"
        " JOIN unnest($1::uuid[], $2::text[]) k(u, c) ON a.user_id = k.u AND"
        " a.channel_id = k.c"
        " ORDER BY a.user_id, a.channel_id FOR UPDATE OF a",
        users,
        channels,
    )
    balances = {
        (r["user_id"], r["channel_id"]): [r["spendable"], r["cumulative"]] for r in rows
    }

    # 2. Drop credits already journaled; keep the ones whose content differs apart.
    hashes = {c.credit_id: credit_request_hash(c) for c in credits}
    existing = await conn.fetch(
        "SELECT idempotency_key, request_hash FROM ledger_entries"
        " WHERE idempotency_key = ANY($1::text[])",
        list(hashes),
    )
    seen = {r["idempotency_key"]: bytes(r["request_hash"]) for r in existing}
    fresh = [c for c in credits if c.credit_id not in seen]
    conflicts = tuple(
        c
        for c in credits
        if c.credit_id in seen and seen[c.credit_id] != hashes[c.credit_id]
    )

    # 3. Journal rows with the balance after each one, then the new balances.
    if fresh:
        entry_rows = apply_credits_entry_rows(fresh, balances, hashes)
        # One prepared INSERT over arrays: faster than COPY here, which looks up the
        # column types on every call (measured: 17.5 of ~50 ms per 500-row batch).
        columns = list(zip(*entry_rows, strict=True))
        await conn.execute(_INSERT_ENTRIES, *columns)
        touched = sorted({(uuid.UUID(c.user_id), c.channel_id) for c in fresh})
        await conn.execute(
            "UPDATE accounts a SET spendable = v.s, cumulative = v.c, updated_at ="
            " now()"
            " FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[]) v(u,"
            " ch, s, c)"
            " WHERE a.user_id = v.u AND a.channel_id = v.ch",
            [k[0] for k in touched],
            [k[1] for k in touched],
            [balances[k][0] for k in touched],
            [balances[k][1] for k in touched],
        )
    return CreditBatchResult(
        len(fresh), len(credits) - len(fresh) - len(conflicts), conflicts
    )


async def advance_positions(
    conn: asyncpg.Connection, consumer: str, spans: Sequence[PartitionSpan]
) -> None:
    """Check the batch continues each stored position, then move the positions on.

    Raises:
        PositionGapError: a span starts past its stored position.
    """
    ordered = sorted(spans, key=lambda s: (s.topic, s.partition))
    stored = [
        await conn.fetchval(
            "SELECT next_offset FROM consumer_positions WHERE consumer = $1"
            " AND topic = $2 AND partition = $3 FOR UPDATE",
            consumer,
            span.topic,
            span.partition,
        )
        for span in ordered
    ]
    if any(
        at is not None and span.first_offset > at
        for span, at in zip(ordered, stored, strict=True)
    ):
        raise PositionGapError(
            {
                (span.topic, span.partition): span.first_offset
                if at is None
                else min(at, span.first_offset)
                for span, at in zip(ordered, stored, strict=True)
            }
        )
    for span in ordered:
        await conn.execute(
            "INSERT INTO consumer_positions (consumer, topic, partition, next_offset)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (consumer, topic, partition) DO"
            " UPDATE"
            " SET next_offset = greatest(consumer_positions.next_offset,"
            " EXCLUDED.next_offset), updated_at = now()",
            consumer,
            span.topic,
            span.partition,
            span.next_offset,
        )


def apply_credits_entry_rows(
    fresh: list[Credit],
    balances: dict[tuple[uuid.UUID, str], list[int]],
    hashes: dict[str, bytes],
) -> list[tuple[object, ...]]:
    entry_rows = []
    for c in fresh:
        balance = balances[(uuid.UUID(c.user_id), c.channel_id)]
        balance[0] += c.points
        balance[1] += c.points
        entry_rows.append(
            (
                uuid7(),
                uuid.UUID(c.user_id),
                c.channel_id,
                "watch",
                c.points,
                c.points,
                balance[0],
                balance[1],
                c.seconds,
                datetime.fromtimestamp(c.bucket_start_s, tz=UTC),
                c.credit_id,
                hashes[c.credit_id],
            )
        )
    return entry_rows


async def get_balance(
    pool: asyncpg.Pool, user_id: uuid.UUID, channel_id: str
) -> Balance:
    """Return the (user, channel) balance; zeros when the account does not exist yet."""
    row = await pool.fetchrow(
        "SELECT spendable, cumulative FROM accounts WHERE user_id = $1 AND"
        " channel_id = $2",
        user_id,
        channel_id,
    )
    return Balance(row["spendable"], row["cumulative"]) if row else Balance(0, 0)


async def get_history(
    pool: asyncpg.Pool, user_id: uuid.UUID, channel_id: str, *, limit: int = 50
) -> list[asyncpg.Record]:
    """Return the newest journal rows of one account, newest first."""
    return await pool.fetch(
        "SELECT kind, delta_spendable, spendable_after, watch_seconds, reference,"
        " created_at"
        " FROM ledger_entries WHERE user_id = $1 AND channel_id = $2"
        " ORDER BY seq DESC LIMIT $3",
        user_id,
        channel_id,
        limit,
    )

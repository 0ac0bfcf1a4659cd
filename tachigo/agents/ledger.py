"""Batch processing of the credits topic into the Postgres ledger."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

import asyncpg

from tachigo.agents.watch import RawRecord, dead_letter
from tachigo.kafka import records
from tachigo.ledger import repository

log = logging.getLogger(__name__)


@dataclass
class LedgerBatch:
    credits: list[records.Credit] = field(default_factory=list)
    dead_letters: list[records.DeadLetter] = field(default_factory=list)
    raw_by_credit: dict[str, RawRecord] = field(default_factory=dict)


def decode_credits(
    batch_records: list[RawRecord], *, agent: str = "ledger"
) -> LedgerBatch:
    """Split raw records into valid credits and dead letters (undecodable or wrong
    kind).
    """
    batch = LedgerBatch()
    for raw in batch_records:
        try:
            record = records.decode(raw.value)
        except records.RecordFormatError as error:
            batch.dead_letters.append(
                dead_letter(raw, "undecodable", agent, str(error))
            )
            continue
        if not isinstance(record, records.Credit) or not is_valid_credit(record):
            batch.dead_letters.append(
                dead_letter(
                    raw,
                    "invalid_credit",
                    agent,
                    "not a credit with non-negative amounts",
                )
            )
            continue
        batch.credits.append(record)
        batch.raw_by_credit[record.credit_id] = raw
    return batch


def is_valid_credit(credit: records.Credit) -> bool:
    try:
        uuid.UUID(credit.user_id)
    except ValueError:
        return False
    return (
        credit.points >= 0
        and credit.seconds >= 0
        and credit.multiplier >= 0
        and credit.credit_id.startswith("watch:")
        and len(credit.credit_id) <= 300
    )


def partition_spans(
    batch_records: list[RawRecord],
) -> tuple[list[repository.PartitionSpan], bool]:
    """Each partition's [first, next) offsets in the batch, and whether every
    partition's offsets are contiguous (a hole means faust skipped records)."""
    spans: dict[tuple[str, int], list[int]] = {}
    contiguous = True
    for raw in batch_records:
        span = spans.setdefault(
            (raw.topic, raw.partition), [raw.offset, raw.offset - 1]
        )
        contiguous = contiguous and raw.offset <= span[1] + 1
        span[1] = max(span[1], raw.offset)
    found = [
        repository.PartitionSpan(t, p, lo, hi + 1) for (t, p), (lo, hi) in spans.items()
    ]
    return found, contiguous


async def write_credits(
    pool: asyncpg.Pool,
    batch: LedgerBatch,
    *,
    retries_max: int,
    consumer: str,
    spans: list[repository.PartitionSpan],
) -> tuple[int, dict[tuple[str, int], int]]:
    """Apply the batch's credits and advance the consumer's stored positions in one
    transaction; turn content conflicts into dead letters.

    Returns (rows inserted, rewinds). When the batch does not continue the stored
    positions, nothing is written and ``rewinds`` says where to re-read each
    partition from. Raises whatever Postgres raises; the caller retries the batch.
    """
    try:
        result = await repository.apply_credits(
            pool, batch.credits, retries_max=retries_max, consumer=consumer, spans=spans
        )
    except repository.PositionGapError as error:
        batch.dead_letters.clear()  # they are re-read with the rest of the batch
        return 0, error.rewinds
    # Same credit id, different content: the rules were not deterministic. Credits of
    # users that do not exist cannot be booked. Neither is written; both are kept in
    # dead-letters for an operator, never retried.
    for credit in result.conflicts:
        log.critical("credit_conflict", extra={"credit_id": credit.credit_id})
    for credit in result.unknown_users:
        log.error("credit_for_unknown_user", extra={"credit_id": credit.credit_id})
    for code, message, credits in (
        (
            "credit_conflict",
            "credit id already journaled with other content",
            result.conflicts,
        ),
        (
            "unknown_user",
            "no such user; the credit was not booked",
            result.unknown_users,
        ),
    ):
        batch.dead_letters.extend(
            dead_letter(batch.raw_by_credit[c.credit_id], code, "ledger", message)
            for c in credits
        )
    return result.inserted, {}

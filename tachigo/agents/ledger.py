"""Batch processing of the credits topic into the Postgres ledger."""

from __future__ import annotations

import logging
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


def decode_credits(batch_records: list[RawRecord], *, agent: str = "ledger") -> LedgerBatch:
    """Split raw records into valid credits and dead letters (undecodable or wrong kind)."""
    batch = LedgerBatch()
    for raw in batch_records:
        try:
            record = records.decode(raw.value)
        except records.RecordFormatError as error:
            batch.dead_letters.append(dead_letter(raw, "undecodable", agent, str(error)))
            continue
        if not isinstance(record, records.Credit) or not is_valid_credit(record):
            batch.dead_letters.append(dead_letter(raw, "invalid_credit", agent,
                                                  "not a credit with non-negative amounts"))
            continue
        batch.credits.append(record)
        batch.raw_by_credit[record.credit_id] = raw
    return batch


def is_valid_credit(credit: records.Credit) -> bool:
    return (credit.points >= 0 and credit.seconds >= 0 and credit.multiplier >= 0
            and credit.credit_id.startswith("watch:") and len(credit.credit_id) <= 300)


async def write_credits(pool: asyncpg.Pool, batch: LedgerBatch, *, retries_max: int) -> int:
    """Apply the batch's credits; turn content conflicts into dead letters. Returns rows
    inserted. Raises whatever Postgres raises; the caller retries the whole batch."""
    if not batch.credits:
        return 0
    result = await repository.apply_credits(pool, batch.credits, retries_max=retries_max)
    for credit in result.conflicts:
        # Same credit id, different content: the rules were not deterministic. Nothing is
        # written for it; the record is kept in dead-letters for an operator.
        log.critical("credit_conflict", extra={"credit_id": credit.credit_id})
        batch.dead_letters.append(dead_letter(
            batch.raw_by_credit[credit.credit_id], "credit_conflict", "ledger",
            "credit id already journaled with other content"))
    return result.inserted

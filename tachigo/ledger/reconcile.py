"""The ledger's invariants as queries; ``tachigo reconcile`` runs them all."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    detail: str


_CHECKS: dict[str, str] = {
    # Balances equal the sums of their journal rows.
    "balance_equals_journal": """
        SELECT a.user_id, a.channel_id, a.spendable, a.cumulative,
               coalesce(j.s, 0) AS journal_spendable,
               coalesce(j.c, 0) AS journal_cumulative
        FROM accounts a
        FULL JOIN (SELECT user_id, channel_id, sum(delta_spendable) s,
                          sum(delta_cumulative) c
                   FROM ledger_entries GROUP BY user_id, channel_id) j
          ON j.user_id = a.user_id AND j.channel_id = a.channel_id
        WHERE a.user_id IS NULL
           OR j.user_id IS NULL AND (a.spendable <> 0 OR a.cumulative <> 0)
           OR a.spendable <> coalesce(j.s, 0) OR a.cumulative <> coalesce(j.c, 0)
        LIMIT 100""",
    # Each row's balance-after follows from the previous row of the same account.
    "balance_after_chain": """
        SELECT user_id, channel_id, id, spendable_after, running
        FROM (SELECT user_id, channel_id, id, spendable_after,
                     sum(delta_spendable) OVER (PARTITION BY user_id, channel_id
                         ORDER BY seq ROWS UNBOUNDED PRECEDING) AS running
              FROM ledger_entries) t
        WHERE spendable_after <> running
        LIMIT 100""",
    # Holds never exceed the spendable balance they are drawn on.
    "holds_within_spendable": """
        SELECT a.user_id, a.channel_id, a.spendable, h.held
        FROM accounts a
        JOIN (SELECT user_id, channel_id, sum(amount) held FROM holds
              WHERE status = 'active' GROUP BY user_id, channel_id) h
          ON h.user_id = a.user_id AND h.channel_id = a.channel_id
        WHERE h.held > a.spendable
        LIMIT 100""",
}


async def find_violations(pool: asyncpg.Pool) -> list[Violation]:
    """Run every invariant query; return one ``Violation`` per offending row."""
    violations = []
    for check, sql in _CHECKS.items():
        for row in await pool.fetch(sql, timeout=300):
            violations.append(
                Violation(check, ", ".join(f"{k}={v}" for k, v in row.items()))
            )
    return violations

"""After a replay is written: wait for the worker to credit it, compare the ledger with
the expected totals, and print the summary.

A run is one of three kinds, decided from the ledger before writing:
``fresh`` (nothing credited yet: every figure must match exactly), ``repeat`` (the
ledger already holds the expected totals: it must not change, and the worker must
reject every heartbeat of this run), ``resumed`` (an earlier run stopped part-way: the
ledger must reach the expected totals; rejection counts then mix both runs and are only
printed).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

import asyncpg
from aiokafka.errors import KafkaError

from tachigo.ledger.reconcile import Violation
from tachigo.replay import store
from tachigo.replay.expected import ChannelTotals, ExpectedTotals
from tachigo.replay.offsets import OffsetReader, consumed_fraction

# How often to re-read the ledger while waiting; each read is a few indexed sums.
POLL_INTERVAL_S = 1.0
# Once the worker has committed every message of the run, figures unchanged this long
# are final: the credits topic and the ledger agent drain within a few seconds.
SETTLE_S = 15.0
# Without a terminal (CI logs), one waiting line every 10 s is enough to see progress.
PLAIN_EVERY_S = 10.0
TOP_CHANNELS = 15
VIOLATIONS_SHOWN_MAX = 10


@dataclass(frozen=True, slots=True)
class Observed:
    """What the ledger and the rejection counters hold for the replay's channels."""

    channels: dict[str, ChannelTotals]
    rejections: dict[str, int]

    @property
    def points(self) -> int:
        return sum(c.points for c in self.channels.values())

    @property
    def seconds(self) -> int:
        return sum(c.seconds for c in self.channels.values())

    @property
    def buckets(self) -> int:
        return sum(c.buckets for c in self.channels.values())

    def is_empty(self) -> bool:
        return not self.channels and not any(self.rejections.values())


@dataclass(frozen=True, slots=True)
class Comparison:
    label: str
    expected: int
    actual: int

    @property
    def is_match(self) -> bool:
        return self.expected == self.actual


@dataclass(frozen=True, slots=True)
class WorkerProgress:
    """Where the worker's consumer group stands on the heartbeats this run wrote."""

    group_id: str
    topic: str
    start: dict[int, int]
    end: dict[int, int]


async def observe(pool: asyncpg.Pool, channel_ids: list[str]) -> Observed:
    return Observed(
        await store.fetch_credited(pool, channel_ids),
        await store.fetch_rejections(pool, channel_ids),
    )


def channels_differing(
    expected: Mapping[str, ChannelTotals], observed: Observed
) -> int:
    empty = ChannelTotals()
    return sum(
        1
        for channel_id in set(expected) | set(observed.channels)
        if expected.get(channel_id, empty) != observed.channels.get(channel_id, empty)
    )


def classify_run(baseline: Observed, expected: ExpectedTotals) -> str:
    if baseline.is_empty():
        return "fresh"
    if channels_differing(expected.channels, baseline) == 0:
        return "repeat"
    return "resumed"


def compare(
    kind: str, expected: ExpectedTotals, *, baseline: Observed, observed: Observed
) -> list[Comparison]:
    """Every figure the run must meet, as (label, expected, actual)."""
    rows = [
        Comparison("points", expected.points, observed.points),
        Comparison("watch seconds", expected.seconds, observed.seconds),
        Comparison("credited buckets", expected.buckets, observed.buckets),
        Comparison(
            "channels with other totals",
            0,
            channels_differing(expected.channels, observed),
        ),
    ]
    delta = rejection_delta(baseline, observed)
    if kind == "fresh":
        for reason in sorted(set(expected.rejections) | set(delta)):
            rows.append(
                Comparison(
                    f"rejected: {reason}",
                    expected.rejections.get(reason, 0),
                    delta.get(reason, 0),
                )
            )
    elif kind == "repeat":
        rows.append(
            Comparison(
                "rejected (re-run: all heartbeats)",
                expected.heartbeats,
                sum(delta.values()),
            )
        )
    return rows


def rejection_delta(baseline: Observed, observed: Observed) -> dict[str, int]:
    reasons = set(baseline.rejections) | set(observed.rejections)
    delta = {
        r: observed.rejections.get(r, 0) - baseline.rejections.get(r, 0)
        for r in reasons
    }
    return {r: n for r, n in delta.items() if n != 0}


async def consumed_share(
    offsets: OffsetReader, progress: WorkerProgress
) -> float | None:
    """Share of this run's heartbeats messages the worker committed; None if unknown."""
    try:
        committed = await offsets.committed_offsets(progress.group_id, progress.topic)
    except (KafkaError, TimeoutError, OSError):
        return None  # Only a status line and a hint depend on it.
    if not committed:
        return None
    return consumed_fraction(
        start=progress.start, end=progress.end, committed=committed
    )


async def wait_for_worker(
    pool: asyncpg.Pool,
    offsets: OffsetReader,
    *,
    kind: str,
    expected: ExpectedTotals,
    baseline: Observed,
    channel_ids: list[str],
    progress: WorkerProgress,
    timeout_s: float,
) -> tuple[Observed, float | None]:
    """Poll until every comparison matches, or the worker has consumed the whole run and
    nothing changed for ``SETTLE_S`` (figures that will never match), or ``timeout_s``.

    Returns the last observation and the consumed share of this run's messages.
    """
    deadline = time.monotonic() + timeout_s
    status = StatusLine(sys.stderr)
    previous, changed_at = None, time.monotonic()
    while True:
        observed = await observe(pool, channel_ids)
        share = await consumed_share(offsets, progress)
        rows = compare(kind, expected, baseline=baseline, observed=observed)
        now = time.monotonic()
        if observed != previous:
            previous, changed_at = observed, now
        is_settled = share is not None and share >= 1.0 and now - changed_at >= SETTLE_S
        if all(r.is_match for r in rows) or is_settled or now >= deadline:
            status.finish()
            return observed, share
        share_text = f"{share:.0%}" if share is not None else "unknown (no commits yet)"
        status.show(
            f"waiting for the worker: {observed.buckets:,}/{expected.buckets:,} "
            f"buckets credited, heartbeats consumed {share_text}, "
            f"{deadline - now:.0f}s left"
        )
        await asyncio.sleep(min(POLL_INTERVAL_S, deadline - now))


class StatusLine:
    """Rewrites one line on a terminal; elsewhere prints it every ``PLAIN_EVERY_S``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._is_terminal = stream.isatty()
        self._printed_at = 0.0
        self._width = 0

    def show(self, text: str) -> None:
        now = time.monotonic()
        if self._is_terminal:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        elif now - self._printed_at >= PLAIN_EVERY_S:
            self._printed_at = now
            self._stream.write(text + "\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._is_terminal and self._width:
            self._stream.write("\n")
            self._stream.flush()


def format_channel_table(expected: ExpectedTotals, observed: Observed) -> list[str]:
    lines = [f"{'channel':<44}{'hours':>10}{'points':>12}{'expected':>12}"]
    ranked = sorted(observed.channels.items(), key=lambda kv: (-kv[1].seconds, kv[0]))
    for channel_id, totals in ranked[:TOP_CHANNELS]:
        wanted = expected.channels.get(channel_id, ChannelTotals())
        lines.append(
            f"{channel_id:<44}{totals.seconds / 3600:>10.2f}{totals.points:>12,}"
            f"{wanted.points:>12,}"
        )
    credited = len(observed.channels)
    label = f"total ({len(expected.channels):,} channels, {credited:,} credited)"
    lines.append(
        f"{label:<44}{observed.seconds / 3600:>10.2f}{observed.points:>12,}"
        f"{expected.points:>12,}"
    )
    return lines


def format_comparisons(rows: list[Comparison]) -> list[str]:
    lines = [f"{'check':<40}{'expected':>14}{'actual':>14}"]
    for row in rows:
        verdict = "ok" if row.is_match else "DIFFERS"
        lines.append(f"{row.label:<40}{row.expected:>14,}{row.actual:>14,}  {verdict}")
    return lines


def format_rejections(rejections: Mapping[str, int]) -> str:
    if not rejections:
        return "none"
    return ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejections.items()))


def format_violations(violations: list[Violation]) -> list[str]:
    if not violations:
        return ["reconcile: clean (balances equal journal sums, balance chains intact)"]
    lines = [f"reconcile: {len(violations)} violation(s)"]
    lines.extend(f"  {v.check}: {v.detail}" for v in violations[:VIOLATIONS_SHOWN_MAX])
    return lines


def advice(rows: list[Comparison], share: float | None) -> list[str]:
    """What to check when the figures differ."""
    differing = [r for r in rows if not r.is_match]
    if not differing:
        return []
    if share is None:
        return [
            "the worker's consumer group has committed no offsets on the heartbeats "
            "topic: is the worker running? `tachigo dev status`"
        ]
    if share < 1.0:
        return [
            f"the worker has consumed {share:.1%} of this run's heartbeats topic "
            "messages: it is behind or stopped; check `tachigo dev status` and its "
            "log, or wait longer with --timeout"
        ]
    if all(r.label.startswith("rejected") and r.actual > r.expected for r in differing):
        return [
            "only rejection counts are high and the ledger matches: rejection counters "
            "are at least once (docs/limits.md, LIMIT(analytics)), so a worker restart "
            "during the run counts a replayed batch twice"
        ]
    return [
        "the worker consumed every message but the figures differ: check the worker "
        "log, the dead-letters topic and `tachigo reconcile`"
    ]

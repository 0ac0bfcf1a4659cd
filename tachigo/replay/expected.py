"""The totals a replay must produce, computed straight from its record stream.

This is the replay's second opinion on the worker, so it must not share code with
``tachigo.rules``. It covers only what a replay can meet: duplicates, the minimum gap,
the live check, sessions and buckets. Daily caps and excluded viewers are out of scope;
the replay refuses channels that use them. A property test
(tests/property/test_replay_schedule.py) proves both calculations agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tachigo.kafka.records import Heartbeat, SettingsEvent, StreamEvent


@dataclass(frozen=True, slots=True)
class ExpectedLimits:
    """The rule parameters the calculation needs, in seconds (``settings.watch``)."""

    min_gap_s: int = 20
    max_credit_s: int = 30
    session_gap_s: int = 120
    bucket_s: int = 300


@dataclass(slots=True)
class ChannelTotals:
    seconds: int = 0
    points: int = 0
    buckets: int = 0


@dataclass(frozen=True, slots=True)
class EarnSettings:
    seconds_per_point: int = 60
    multiplier: int = 1
    require_live: bool = True

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> EarnSettings:
        return cls(
            int(snapshot.get("seconds_per_point", 60)),
            int(snapshot.get("multiplier", 1)),
            bool(snapshot.get("require_live", True)),
        )


@dataclass(frozen=True, slots=True)
class ExpectedTotals:
    heartbeats: int
    accepted: int
    seconds: int
    points: int
    buckets: int
    rejections: dict[str, int]
    channels: dict[str, ChannelTotals]


@dataclass(slots=True)
class ViewerClock:
    """A viewer's last accepted heartbeat; ``broken`` after an offline rejection."""

    last_ms: int | None = None
    channel_id: str | None = None
    broken: bool = False


@dataclass
class ExpectedWalk:
    """Walks records in order; heartbeats credit seconds into per-viewer buckets."""

    limits: ExpectedLimits
    heartbeats: int = 0
    accepted: int = 0
    live: dict[str, bool] = field(default_factory=dict)
    settings: dict[str, EarnSettings] = field(default_factory=dict)
    viewers: dict[str, ViewerClock] = field(default_factory=dict)
    rejections: Counter[str] = field(default_factory=Counter)
    # (user, channel) -> bucket start (s) -> credited seconds
    bucket_seconds: dict[tuple[str, str], Counter[int]] = field(default_factory=dict)

    def add(self, record: object) -> None:
        if isinstance(record, Heartbeat):
            self.add_heartbeat(record)
        elif isinstance(record, StreamEvent):
            self.live[record.channel_id] = record.online
        elif isinstance(record, SettingsEvent):
            self.settings[record.channel_id] = EarnSettings.from_snapshot(
                record.settings
            )

    def add_heartbeat(self, hb: Heartbeat) -> None:
        self.heartbeats += 1
        viewer = self.viewers.setdefault(hb.user_id, ViewerClock())
        reason = self.rejection(hb, viewer)
        if reason is not None:
            self.rejections[reason] += 1
            viewer.broken = viewer.broken or reason == "channel_offline"
            return

        gap_ms = hb.at_ms - viewer.last_ms if viewer.last_ms is not None else None
        starts_session = (
            gap_ms is None
            or viewer.broken
            or viewer.channel_id != hb.channel_id
            or gap_ms > self.limits.session_gap_s * 1000
        )
        viewer.last_ms, viewer.channel_id, viewer.broken = (
            hb.at_ms,
            hb.channel_id,
            False,
        )
        self.accepted += 1
        if starts_session or gap_ms is None:
            return
        credited_s = min(gap_ms // 1000, self.limits.max_credit_s)
        at_s = hb.at_ms // 1000
        bucket_start_s = at_s - at_s % self.limits.bucket_s
        buckets = self.bucket_seconds.setdefault((hb.user_id, hb.channel_id), Counter())
        buckets[bucket_start_s] += credited_s

    def rejection(self, hb: Heartbeat, viewer: ViewerClock) -> str | None:
        if viewer.last_ms is not None and hb.at_ms <= viewer.last_ms:
            return "duplicate"
        if (
            viewer.last_ms is not None
            and hb.at_ms - viewer.last_ms < self.limits.min_gap_s * 1000
        ):
            return "too_fast"
        earn = self.settings.get(hb.channel_id, EarnSettings())
        if earn.require_live and not self.live.get(hb.channel_id, False):
            return "channel_offline"
        return None

    def totals(self) -> ExpectedTotals:
        """Close each (viewer, channel)'s buckets in time order, carrying remainders."""
        channels = {channel_id: ChannelTotals() for channel_id in self.settings}
        for (_, channel_id), buckets in self.bucket_seconds.items():
            earn = self.settings.get(channel_id, EarnSettings())
            total = channels.setdefault(channel_id, ChannelTotals())
            carry_s = 0
            for start_s in sorted(buckets):
                seconds = buckets[start_s]
                whole = (carry_s + seconds) // earn.seconds_per_point
                carry_s = carry_s + seconds - whole * earn.seconds_per_point
                total.points += whole * earn.multiplier
                total.seconds += seconds
                total.buckets += 1 if seconds > 0 else 0
        return ExpectedTotals(
            heartbeats=self.heartbeats,
            accepted=self.accepted,
            seconds=sum(c.seconds for c in channels.values()),
            points=sum(c.points for c in channels.values()),
            buckets=sum(c.buckets for c in channels.values()),
            rejections=dict(self.rejections),
            channels=channels,
        )


def expected_totals(
    records: Iterable[object], *, limits: ExpectedLimits
) -> ExpectedTotals:
    """Compute the totals the worker must credit for ``records`` (in judging order)."""
    walk = ExpectedWalk(limits)
    for record in records:
        walk.add(record)
    return walk.totals()

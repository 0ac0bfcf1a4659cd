"""The heartbeat state machine: one viewer's state, one heartbeat or tick at a time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

REJECTION_REASONS = (
    "duplicate",
    "too_fast",
    "channel_offline",
    "wrong_channel",
    "anonymous",
    "excluded",
    "capped",
    "late",
)
# A channel entry with no open bucket and no carry is dropped once it is this old;
# two days outlive any time zone's calendar day, so daily caps stay exact.
_CHANNEL_IDLE_DROP_MS = 48 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class WatchLimits:
    """Global rule parameters, in seconds (see ``settings.WatchSettings``)."""

    min_gap_s: int = 20
    max_credit_s: int = 30
    session_gap_s: int = 120
    bucket_s: int = 300
    grace_s: int = 60


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    seconds_per_point: int = 60
    multiplier: int = 1
    daily_cap_points: int = 0
    require_live: bool = True
    time_zone: str = "UTC"
    ignored_user_ids: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ChannelSettings:
        ignored = data.get("ignored_user_ids") or ()
        return cls(
            seconds_per_point=max(1, int(data.get("seconds_per_point", 60))),  # type: ignore[call-overload]
            multiplier=max(0, int(data.get("multiplier", 1))),  # type: ignore[call-overload]
            daily_cap_points=max(0, int(data.get("daily_cap_points", 0))),  # type: ignore[call-overload]
            require_live=bool(data.get("require_live", True)),
            time_zone=known_time_zone(str(data.get("time_zone", "UTC"))),
            ignored_user_ids=frozenset(str(u) for u in ignored),  # type: ignore[attr-defined]
        )


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """What the worker knows about a channel at the moment of judging."""

    settings: ChannelSettings
    is_live: bool


@dataclass(slots=True)
class ChannelState:
    """Per (viewer, channel): the open bucket, carried seconds and the day's points."""

    open_start_s: int = -1
    open_seconds: int = 0
    carry_s: int = 0
    closed_to_s: int = 0
    day: str = ""
    day_points: int = 0

    def has_open_bucket(self) -> bool:
        return self.open_start_s >= 0


@dataclass(slots=True)
class ViewerState:
    last_ms: int | None = None
    channel_id: str | None = None
    session_broken: bool = False
    session_start_ms: int | None = None
    channels: dict[str, ChannelState] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "l": self.last_ms,
            "c": self.channel_id,
            "b": self.session_broken,
            "s": self.session_start_ms,
            "ch": {
                k: [
                    v.open_start_s,
                    v.open_seconds,
                    v.carry_s,
                    v.closed_to_s,
                    v.day,
                    v.day_points,
                ]
                for k, v in self.channels.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ViewerState:
        channels = {
            k: ChannelState(
                int(v[0]), int(v[1]), int(v[2]), int(v[3]), str(v[4]), int(v[5])
            )
            for k, v in data["ch"].items()
        }
        return cls(
            last_ms=data["l"],
            channel_id=data["c"],
            session_broken=bool(data["b"]),
            session_start_ms=data.get("s"),
            channels=channels,
        )

    def next_close_s(self, limits: WatchLimits) -> int | None:
        """Earliest time (s) at which a tick must close one of the open buckets."""
        ends = [
            c.open_start_s + limits.bucket_s + limits.grace_s
            for c in self.channels.values()
            if c.has_open_bucket()
        ]
        return min(ends) if ends else None


@dataclass(frozen=True, slots=True)
class CreditDraft:
    user_id: str
    channel_id: str
    bucket_start_s: int
    seconds: int
    points: int
    multiplier: int

    @property
    def credit_id(self) -> str:
        return credit_id(self.user_id, self.channel_id, self.bucket_start_s)


@dataclass(frozen=True, slots=True)
class Outcome:
    """``reason`` is ``accepted`` or one of ``REJECTION_REASONS``."""

    reason: str
    credited_s: int
    credits: tuple[CreditDraft, ...]


def credit_id(user_id: str, channel_id: str, bucket_start_s: int) -> str:
    return f"watch:{user_id}:{channel_id}:{bucket_start_s}"


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def known_time_zone(name: str) -> str:
    """``name`` if it is an IANA zone this host knows, else UTC (the API validates
    zones on write; this keeps a bad control record from stopping the worker)."""
    return name if name in _zone_names() else "UTC"


def local_day(at_s: int, time_zone: str) -> str:
    return (
        datetime.fromtimestamp(at_s, tz=UTC)
        .astimezone(_zone(time_zone))
        .date()
        .isoformat()
    )


def close_bucket(
    user_id: str,
    channel_id: str,
    chan: ChannelState,
    settings: ChannelSettings,
    limits: WatchLimits,
) -> CreditDraft | None:
    """Turn the open bucket into a credit; keep the remainder seconds as carry."""
    start_s, seconds = chan.open_start_s, chan.open_seconds
    chan.open_start_s, chan.open_seconds = -1, 0
    chan.closed_to_s = max(chan.closed_to_s, start_s + limits.bucket_s)
    if seconds <= 0:
        return None

    total_s = chan.carry_s + seconds
    base = total_s // settings.seconds_per_point
    points = base * settings.multiplier
    chan.carry_s = total_s - base * settings.seconds_per_point

    day = local_day(start_s, settings.time_zone)
    if chan.day != day:
        chan.day, chan.day_points = day, 0
    if settings.daily_cap_points > 0:
        allowed = max(0, settings.daily_cap_points - chan.day_points)
        if points >= allowed:
            points, chan.carry_s = allowed, 0
    chan.day_points += points
    return CreditDraft(
        user_id, channel_id, start_s, seconds, points, settings.multiplier
    )


def sweep_viewer(
    user_id: str,
    state: ViewerState,
    *,
    before_s: int,
    facts: Mapping[str, ChannelFacts],
    limits: WatchLimits,
) -> list[CreditDraft]:
    """Close every open bucket whose end is at or before ``before_s`` (mutates
    state).
    """
    credits = []
    for channel_id, chan in sorted(state.channels.items()):
        if chan.has_open_bucket() and chan.open_start_s + limits.bucket_s <= before_s:
            settings = (
                facts[channel_id].settings if channel_id in facts else ChannelSettings()
            )
            credit = close_bucket(user_id, channel_id, chan, settings, limits)
            if credit is not None:
                credits.append(credit)
    return credits


def judge_heartbeat(
    user_id: str,
    channel_id: str,
    at_ms: int,
    state: ViewerState,
    *,
    facts: Mapping[str, ChannelFacts],
    limits: WatchLimits,
    excluded_user_ids: frozenset[str] = frozenset(),
    alias: str | None = None,
) -> Outcome:
    """Apply rules 2-8 to one heartbeat received at ``at_ms``; mutates ``state``.

    ``alias`` is the viewer's other id (the Twitch user id) that exclusion lists may
    name instead of ours.

    ``facts`` must hold the heartbeat's channel and every channel with an open bucket
    (missing ones fall back to default settings, offline).
    """
    if state.last_ms is not None and at_ms <= state.last_ms:
        return Outcome("duplicate", 0, ())
    at_s = at_ms // 1000
    credits = tuple(
        sweep_viewer(user_id, state, before_s=at_s, facts=facts, limits=limits)
    )
    fact = facts.get(channel_id) or ChannelFacts(ChannelSettings(), False)
    chan = state.channels.get(channel_id) or ChannelState()
    bucket_start_s = at_s - at_s % limits.bucket_s

    ids = (user_id,) if alias is None else (user_id, alias)
    reason = judge_heartbeat_rejection(
        ids, at_ms, state, chan, fact, bucket_start_s, limits, excluded_user_ids
    )
    if reason is not None:
        if reason in ("excluded", "channel_offline", "capped"):
            state.session_broken = True
        prune_channels(state, at_ms)
        return Outcome(reason, 0, credits)

    credited_s = judge_heartbeat_credit(channel_id, at_ms, state, limits)
    state.last_ms, state.channel_id, state.session_broken = at_ms, channel_id, False
    if credited_s > 0:
        if not chan.has_open_bucket():
            chan.open_start_s = bucket_start_s
        chan.open_seconds += credited_s
    state.channels[channel_id] = chan
    prune_channels(state, at_ms)
    return Outcome("accepted", credited_s, credits)


def judge_heartbeat_rejection(
    ids: tuple[str, ...],
    at_ms: int,
    state: ViewerState,
    chan: ChannelState,
    fact: ChannelFacts,
    bucket_start_s: int,
    limits: WatchLimits,
    excluded_user_ids: frozenset[str],
) -> str | None:
    ignored = fact.settings.ignored_user_ids
    if any(i in excluded_user_ids or i in ignored for i in ids):
        return "excluded"
    if bucket_start_s < chan.closed_to_s:
        return "late"
    if state.last_ms is not None and at_ms - state.last_ms < limits.min_gap_s * 1000:
        return "too_fast"
    if fact.settings.require_live and not fact.is_live:
        return "channel_offline"
    cap = fact.settings.daily_cap_points
    if cap > 0:
        day = local_day(at_ms // 1000, fact.settings.time_zone)
        if chan.day == day and chan.day_points >= cap:
            return "capped"
    return None


def judge_heartbeat_credit(
    channel_id: str, at_ms: int, state: ViewerState, limits: WatchLimits
) -> int:
    """Seconds an accepted heartbeat earns; 0 when it opens a new session."""
    last_ms = state.last_ms
    is_new_session = (
        last_ms is None
        or state.session_broken
        or state.channel_id != channel_id
        or at_ms - last_ms > limits.session_gap_s * 1000
    )
    if is_new_session:
        state.session_start_ms = at_ms
        return 0
    assert last_ms is not None  # narrowed by is_new_session; not a ledger rule
    return min((at_ms - last_ms) // 1000, limits.max_credit_s)


def prune_channels(state: ViewerState, at_ms: int) -> None:
    """Forget idle channel entries that hold nothing owed to the viewer."""
    horizon_s = (at_ms - _CHANNEL_IDLE_DROP_MS) // 1000
    for channel_id in [
        k
        for k, c in state.channels.items()
        if not c.has_open_bucket() and c.carry_s == 0 and c.closed_to_s < horizon_s
    ]:
        del state.channels[channel_id]

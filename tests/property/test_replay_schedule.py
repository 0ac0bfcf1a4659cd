"""The replay's expected totals agree with ``tachigo.rules`` on random schedules.

``tachigo.replay.expected`` is a separate, simpler calculation. Here the same record
stream is fed to both: to the rules the way the worker feeds them (facts from stream and
settings records, ticks sweeping buckets older than end + grace), and to the expected
calculation. Totals, per-channel figures and rejection counts must be identical.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tachigo.kafka.records import Heartbeat, SettingsEvent, StreamEvent, Tick
from tachigo.replay import schedule as sc
from tachigo.replay.expected import ExpectedLimits, ExpectedTotals, expected_totals
from tachigo.rules import (
    ChannelFacts,
    ChannelSettings,
    CreditDraft,
    ViewerState,
    WatchLimits,
    judge_heartbeat,
    sweep_viewer,
)

LIMITS = WatchLimits()
EXPECTED_LIMITS = ExpectedLimits(
    min_gap_s=LIMITS.min_gap_s,
    max_credit_s=LIMITS.max_credit_s,
    session_gap_s=LIMITS.session_gap_s,
    bucket_s=LIMITS.bucket_s,
)
CLOSE_MARGIN_MS = (LIMITS.bucket_s + LIMITS.grace_s + 60) * 1000
DATA_PATH = (
    Path(__file__).resolve().parents[3]
    / "shared/data/twitch-sessions/twitch105k_1600users.csv.gz"
)
HOUR_MS = 3_600_000


@dataclass
class RulesRun:
    """Feeds records to the pure rules as the worker does; collects what comes out."""

    facts: dict[str, ChannelFacts] = field(default_factory=dict)
    viewers: dict[str, ViewerState] = field(default_factory=dict)
    credits: list[CreditDraft] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, record: object) -> None:
        if isinstance(record, Heartbeat):
            state = self.viewers.setdefault(record.user_id, ViewerState())
            outcome = judge_heartbeat(
                record.user_id,
                record.channel_id,
                record.at_ms,
                state,
                facts=self.facts,
                limits=LIMITS,
            )
            self.outcomes[outcome.reason] += 1
            self.credits.extend(outcome.credits)
        elif isinstance(record, Tick):
            before_s = record.at_ms // 1000 - LIMITS.grace_s
            for user_id, state in self.viewers.items():
                self.credits.extend(
                    sweep_viewer(
                        user_id,
                        state,
                        before_s=before_s,
                        facts=self.facts,
                        limits=LIMITS,
                    )
                )
        elif isinstance(record, StreamEvent):
            old = self.facts.get(
                record.channel_id, ChannelFacts(ChannelSettings(), False)
            )
            self.facts[record.channel_id] = ChannelFacts(old.settings, record.online)
        elif isinstance(record, SettingsEvent):
            old = self.facts.get(
                record.channel_id, ChannelFacts(ChannelSettings(), False)
            )
            new_settings = ChannelSettings.from_dict(record.settings)
            self.facts[record.channel_id] = ChannelFacts(new_settings, old.is_live)


def snapshot(
    seconds_per_point: int = 60, multiplier: int = 1, require_live: bool = True
) -> dict[str, Any]:
    return {
        "seconds_per_point": seconds_per_point,
        "multiplier": multiplier,
        "daily_cap_points": 0,
        "require_live": require_live,
        "time_zone": "UTC",
        "ignored_user_ids": [],
    }


def assert_agree(run: RulesRun, expected: ExpectedTotals) -> None:
    per_channel: dict[str, list[int]] = {}
    for credit in run.credits:
        figures = per_channel.setdefault(credit.channel_id, [0, 0, 0])
        figures[0] += credit.seconds
        figures[1] += credit.points
        figures[2] += 1
    wanted = {
        channel_id: [c.seconds, c.points, c.buckets]
        for channel_id, c in expected.channels.items()
        if c.buckets > 0
    }
    assert per_channel == wanted
    assert len({c.credit_id for c in run.credits}) == len(run.credits)
    rejections = {k: v for k, v in run.outcomes.items() if k != "accepted"}
    assert rejections == expected.rejections
    assert run.outcomes["accepted"] == expected.accepted
    assert sum(run.outcomes.values()) == expected.heartbeats


# Starts, lengths and offsets often fall on whole 30-s steps, so gaps of exactly the
# minimum gap, the maximum credit and the session gap occur, not only random ones.
start_strategy = st.one_of(
    st.integers(0, 120).map(lambda n: n * 10_000),
    st.integers(0, 240).map(lambda n: n * 30_000),
    st.integers(0, 7200).map(lambda n: n * 1000),
    st.integers(0, 2 * HOUR_MS),
)
length_strategy = st.one_of(
    st.integers(1, 60).map(lambda n: n * 10_000),
    st.integers(1, 40 * 60_000),
)
offset_strategy = st.one_of(
    st.sampled_from([0, 10_000, 20_000, 29_999]),
    st.integers(0, sc.HEARTBEAT_INTERVAL_MS - 1),
)
session_strategy = st.tuples(
    st.integers(0, 2),  # viewer
    st.integers(0, 2),  # channel
    start_strategy,
    length_strategy,
    offset_strategy,
)
hole_strategy = st.tuples(
    st.integers(0, 2),
    start_strategy,
    st.one_of(st.integers(1, 60_000), st.integers(1, 10 * 60_000)),
)
settings_strategy = st.builds(
    snapshot,
    seconds_per_point=st.sampled_from([1, 7, 60, 90]),
    multiplier=st.integers(0, 3),
    require_live=st.booleans(),
)


def sessions_from(drawn: list[tuple[int, int, int, int, int]]) -> list[sc.Session]:
    return [
        sc.Session(
            row_index=i,
            user_code=user,
            channel_code=channel,
            start_ms=sc.ORIGIN_MS + start,
            end_ms=sc.ORIGIN_MS + start + length,
            offset_ms=offset,
        )
        for i, (user, channel, start, length, offset) in enumerate(drawn)
    ]


def offline_holes(
    schedule: sc.Schedule, holes: list[tuple[int, int, int]]
) -> list[sc.Entry]:
    """Extra offline/online pairs, so the channel_offline path is exercised too."""
    entries: list[sc.Entry] = []
    for i, (code, start, length) in enumerate(holes):
        channel_id = schedule.channel_ids.get(code)
        if channel_id is None:
            continue
        at_ms = sc.ORIGIN_MS + start
        entries.append(
            (
                (at_ms, sc.RANK_OFFLINE, 10_000 + i),
                StreamEvent(channel_id, False, at_ms, None, schedule.clock),
            )
        )
        entries.append(
            (
                (at_ms + length, sc.RANK_ONLINE, 10_000 + i),
                StreamEvent(channel_id, True, at_ms + length, None, schedule.clock),
            )
        )
    return entries


DEFAULTS = [snapshot(), snapshot(), snapshot()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Boundaries random draws rarely hit: a gap of exactly the session gap (still one
# session), exactly the minimum gap (accepted), and a heartbeat right after an offline
# rejection (starts a new session).
@example(
    drawn=[(0, 0, 0, 10_000, 0), (0, 0, 120_000, 10_000, 0)],
    holes=[],
    channel_settings=DEFAULTS,
)
@example(
    drawn=[(0, 0, 0, 60_000, 0), (0, 1, 50_000, 10_000, 0)],
    holes=[],
    channel_settings=DEFAULTS,
)
@example(
    drawn=[(0, 0, 0, 120_000, 0)],
    holes=[(0, 50_000, 20_000)],
    channel_settings=DEFAULTS,
)
@given(
    drawn=st.lists(session_strategy, min_size=1, max_size=8),
    holes=st.lists(hole_strategy, max_size=3),
    channel_settings=st.lists(settings_strategy, min_size=3, max_size=3),
)
def test_expected_totals_match_rules_on_random_schedules(
    drawn: list[tuple[int, int, int, int, int]],
    holes: list[tuple[int, int, int]],
    channel_settings: list[dict[str, Any]],
) -> None:
    schedule = sc.schedule_sessions(
        sessions_from(drawn), name="prop", close_margin_ms=CLOSE_MARGIN_MS
    )
    by_channel = {
        cid: channel_settings[code] for code, cid in schedule.channel_ids.items()
    }
    extra = offline_holes(schedule, holes)

    run = RulesRun()
    for record in sc.iter_records(
        schedule, settings_by_channel=by_channel, extra=extra
    ):
        run.add(record)
    expected = expected_totals(
        sc.iter_records(schedule, settings_by_channel=by_channel, extra=extra),
        limits=EXPECTED_LIMITS,
    )

    assert_agree(run, expected)
    assert run.outcomes["late"] == 0


@settings(max_examples=100, deadline=None)
@given(drawn=st.lists(session_strategy, min_size=1, max_size=6))
def test_replaying_a_schedule_twice_credits_nothing_and_rejects_every_heartbeat(
    drawn: list[tuple[int, int, int, int, int]],
) -> None:
    schedule = sc.schedule_sessions(
        sessions_from(drawn), name="prop", close_margin_ms=CLOSE_MARGIN_MS
    )
    by_channel = {cid: snapshot() for cid in schedule.channel_ids.values()}
    run = RulesRun()
    for record in sc.iter_records(schedule, settings_by_channel=by_channel):
        run.add(record)
    first_credits, first_accepted = len(run.credits), run.outcomes["accepted"]

    for record in sc.iter_records(schedule, settings_by_channel=by_channel):
        run.add(record)

    assert len(run.credits) == first_credits
    assert run.outcomes["accepted"] == first_accepted


_ROWS: list[sc.SessionRow] = []


def data_rows() -> list[sc.SessionRow]:
    if not _ROWS:
        _ROWS.extend(sc.read_rows(DATA_PATH))
    return _ROWS


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    start_day=st.integers(0, 42),
    days=st.sampled_from([0.05, 0.1, 0.25]),
    users_max=st.integers(1, 40),
)
def test_expected_totals_match_rules_on_real_data_windows(
    seed: int, start_day: int, days: float, users_max: int
) -> None:
    rows = sc.select_rows(
        data_rows(), start_day=start_day, days=days, users_max=users_max
    )
    if not rows:
        return
    schedule = sc.build_schedule(
        rows, name="prop-data", seed=seed, close_margin_ms=CLOSE_MARGIN_MS
    )
    by_channel = {cid: snapshot() for cid in schedule.channel_ids.values()}

    run = RulesRun()
    for record in sc.iter_records(schedule, settings_by_channel=by_channel):
        run.add(record)
    expected = expected_totals(
        sc.iter_records(schedule, settings_by_channel=by_channel),
        limits=EXPECTED_LIMITS,
    )

    assert_agree(run, expected)
    assert expected.rejections.get("channel_offline", 0) == 0

"""The expected-totals calculation, case by case (DESIGN section 4 for a replay)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tachigo.kafka.records import Heartbeat, SettingsEvent, StreamEvent, Tick
from tachigo.replay.expected import ChannelTotals, ExpectedLimits, expected_totals

T0 = 1_559_347_200_000  # a bucket boundary (divisible by 300 s)
LIMITS = ExpectedLimits()


def on(channel: str = "a", at_s: float = 0) -> StreamEvent:
    return StreamEvent(channel, True, T0 + int(at_s * 1000))


def off(channel: str = "a", at_s: float = 0) -> StreamEvent:
    return StreamEvent(channel, False, T0 + int(at_s * 1000))


def hb(at_s: float, channel: str = "a", user: str = "u") -> Heartbeat:
    return Heartbeat(user, channel, T0 + int(at_s * 1000))


def settings(channel: str = "a", **values: Any) -> SettingsEvent:
    return SettingsEvent(channel, values, T0)


@dataclass
class Case:
    records: list[object]
    seconds: int
    rejections: dict[str, int] = field(default_factory=dict)


CASES = {
    "first heartbeat of a session credits nothing": Case([on(), hb(0)], 0),
    "steady 30 s heartbeats credit 30 s each": Case([on(), hb(0), hb(30), hb(60)], 60),
    "credit is capped at 30 s per heartbeat": Case([on(), hb(0), hb(100)], 30),
    "gap of exactly 120 s keeps the session": Case([on(), hb(0), hb(120)], 30),
    "gap over 120 s starts a new session": Case([on(), hb(0), hb(120.001)], 0),
    "credit counts whole seconds only": Case([on(), hb(0), hb(25.999)], 25),
    "same millisecond is a duplicate": Case(
        [on(), on("b"), hb(0), hb(0, "b")], 0, {"duplicate": 1}
    ),
    "under 20 s is too fast and does not move the clock": Case(
        [on(), hb(0), hb(19.999), hb(30)], 30, {"too_fast": 1}
    ),
    "exactly 20 s is accepted": Case([on(), hb(0), hb(20)], 20),
    "too fast on any channel counts": Case(
        [on(), on("b"), hb(0), hb(10, "b"), hb(30)], 30, {"too_fast": 1}
    ),
    "switching channel starts a new session": Case(
        [on(), on("b"), hb(0), hb(30, "b"), hb(60, "b")], 30
    ),
    "offline channel rejects and breaks the session": Case(
        [on(), hb(0), hb(30), off(at_s=40), hb(60), on(at_s=70), hb(90), hb(120)],
        60,
        {"channel_offline": 1},
    ),
    "never-live channel rejects": Case([hb(0)], 0, {"channel_offline": 1}),
    "require_live false earns offline": Case(
        [settings(require_live=False), hb(0), hb(30)], 30
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_expected_totals_follow_the_watch_rules(case: Case) -> None:
    totals = expected_totals(case.records, limits=LIMITS)

    assert totals.seconds == case.seconds
    assert totals.rejections == case.rejections
    assert totals.heartbeats == sum(isinstance(r, Heartbeat) for r in case.records)
    assert totals.accepted == totals.heartbeats - sum(case.rejections.values())


def test_seconds_go_to_the_utc_bucket_of_the_heartbeat_and_carry_between_buckets() -> (
    None
):
    # 270 s credited in bucket 0 (first heartbeat at 0 s), 300 s in bucket 1, 30 s in 2.
    records: list[object] = [on(), *(hb(30 * i) for i in range(21))]

    totals = expected_totals(records, limits=LIMITS)

    # Points: floor(270/60)=4 carry 30; floor(330/60)=5 carry 30; floor(60/60)=1.
    assert totals.channels["a"] == ChannelTotals(seconds=600, points=10, buckets=3)
    assert (totals.points, totals.buckets) == (10, 3)


def test_carry_is_kept_per_viewer_and_channel() -> None:
    records: list[object] = [
        on(),
        hb(0, user="x"),
        hb(30, user="x"),
        hb(1000, user="y"),
        hb(1030, user="y"),
    ]

    totals = expected_totals(records, limits=LIMITS)

    # Each viewer has 30 s: no point for either, although together they have 60 s.
    assert totals.channels["a"] == ChannelTotals(seconds=60, points=0, buckets=2)


def test_channel_settings_set_seconds_per_point_and_multiplier() -> None:
    records: list[object] = [
        settings(seconds_per_point=7, multiplier=3),
        on(),
        hb(0),
        hb(30),
        Tick(T0 + 99_000),
    ]

    totals = expected_totals(records, limits=LIMITS)

    assert totals.channels["a"] == ChannelTotals(seconds=30, points=12, buckets=1)


def test_channels_without_credit_are_listed_with_zeros() -> None:
    totals = expected_totals([settings("quiet"), on(), hb(0), hb(30)], limits=LIMITS)

    assert totals.channels["quiet"] == ChannelTotals()

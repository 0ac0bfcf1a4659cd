"""Table-driven examples of the watch rules (DESIGN section 4)."""

from __future__ import annotations

import pytest

from tachigo.rules import (
    ChannelFacts,
    ChannelSettings,
    ViewerState,
    WatchLimits,
    judge_heartbeat,
    sweep_viewer,
)

LIMITS = WatchLimits()
T0 = 1_700_000_200_000  # ms; 100 s into a 300 s bucket
LIVE = {
    "ch": ChannelFacts(ChannelSettings(), True),
    "other": ChannelFacts(ChannelSettings(), True),
}


def feed(
    beats: list[tuple[int, str]],
    facts: dict[str, ChannelFacts] = LIVE,
    excluded: frozenset[str] = frozenset(),
) -> tuple[list[str], list[int], ViewerState]:
    state = ViewerState()
    reasons, credited = [], []
    for offset_s, channel in beats:
        outcome = judge_heartbeat(
            "u1",
            channel,
            T0 + offset_s * 1000,
            state,
            facts=facts,
            limits=LIMITS,
            excluded_user_ids=excluded,
        )
        reasons.append(outcome.reason)
        credited.append(outcome.credited_s)
    return reasons, credited, state


@pytest.mark.parametrize(
    ("beats", "reasons", "credited"),
    [
        # First heartbeat of a session credits 0; then 30 s per 30 s heartbeat.
        ([(0, "ch"), (30, "ch"), (60, "ch")], ["accepted"] * 3, [0, 30, 30]),
        # A heartbeat not newer than the last accepted one is a duplicate.
        (
            [(0, "ch"), (30, "ch"), (30, "ch"), (10, "ch")],
            ["accepted", "accepted", "duplicate", "duplicate"],
            [0, 30, 0, 0],
        ),
        # Under 20 s after the last accepted heartbeat (any channel): ignored, clock
        # kept.
        (
            [(0, "ch"), (15, "other"), (30, "ch")],
            ["accepted", "too_fast", "accepted"],
            [0, 0, 30],
        ),
        # Long gaps are capped at 30 s; over 120 s starts a new session.
        ([(0, "ch"), (100, "ch"), (300, "ch")], ["accepted"] * 3, [0, 30, 0]),
        # Switching channel starts a new session on the new channel.
        ([(0, "ch"), (30, "other"), (60, "other")], ["accepted"] * 3, [0, 0, 30]),
    ],
    ids=[
        "cadence",
        "duplicate",
        "too_fast_any_channel",
        "cap_and_session_gap",
        "switch",
    ],
)
def test_heartbeat_rules_credit_the_documented_seconds(beats, reasons, credited):
    got_reasons, got_credited, _ = feed(beats)
    assert got_reasons == reasons
    assert got_credited == credited


def test_offline_channel_rejects_and_breaks_the_session():
    facts = {"ch": ChannelFacts(ChannelSettings(), False)}
    reasons, credited, _ = feed([(0, "ch"), (30, "ch")], facts)
    assert reasons == ["channel_offline", "channel_offline"]
    assert credited == [0, 0]


def test_channel_without_require_live_earns_while_offline():
    facts = {"ch": ChannelFacts(ChannelSettings(require_live=False), False)}
    _, credited, _ = feed([(0, "ch"), (30, "ch")], facts)
    assert credited == [0, 30]


def test_excluded_viewer_earns_nothing():
    ignored = {
        "ch": ChannelFacts(ChannelSettings(ignored_user_ids=frozenset({"u1"})), True)
    }
    assert feed([(0, "ch"), (30, "ch")], ignored)[0] == ["excluded", "excluded"]
    assert (
        feed([(0, "ch"), (30, "ch")], excluded=frozenset({"u1"}))[0] == ["excluded"] * 2
    )


def test_bucket_closes_on_later_heartbeat_with_carry():
    # T0 is 100 s into its bucket, which ends at +200 s: the beats at +0..+180 s credit
    # 6 x 30 = 180 s there; the beat at +210 s is in the next bucket and closes it.
    state = ViewerState()
    credits = []
    for offset_s in range(0, 240, 30):
        outcome = judge_heartbeat(
            "u1", "ch", T0 + offset_s * 1000, state, facts=LIVE, limits=LIMITS
        )
        credits.extend(outcome.credits)
    assert len(credits) == 1
    first = credits[0]
    assert (first.seconds, first.points) == (180, 3)
    assert first.credit_id == f"watch:u1:ch:{(T0 // 1000) - 100}"
    assert state.channels["ch"].carry_s == 0


def test_sweep_closes_only_after_grace():
    _, _, state = feed([(0, "ch"), (30, "ch"), (60, "ch")])
    bucket_end_s = (T0 // 1000) - 100 + 300
    assert (
        sweep_viewer("u1", state, before_s=bucket_end_s - 1, facts=LIVE, limits=LIMITS)
        == []
    )
    credits = sweep_viewer(
        "u1", state, before_s=bucket_end_s, facts=LIVE, limits=LIMITS
    )
    assert [(c.seconds, c.points) for c in credits] == [(60, 1)]


def test_heartbeat_in_a_closed_bucket_is_late():
    _, _, state = feed([(0, "ch"), (30, "ch")])
    bucket_end_s = (T0 // 1000) - 100 + 300
    sweep_viewer("u1", state, before_s=bucket_end_s, facts=LIVE, limits=LIMITS)
    outcome = judge_heartbeat("u1", "ch", T0 + 60_000, state, facts=LIVE, limits=LIMITS)
    assert outcome.reason == "late"


def test_multiplier_applies_to_whole_points_and_cap_limits_the_day():
    facts = {
        "ch": ChannelFacts(ChannelSettings(multiplier=3, daily_cap_points=5), True)
    }
    state = ViewerState()
    credits, reasons = [], []
    for offset_s in range(0, 900, 30):  # three buckets of watching
        outcome = judge_heartbeat(
            "u1", "ch", T0 + offset_s * 1000, state, facts=facts, limits=LIMITS
        )
        credits.extend(outcome.credits)
        reasons.append(outcome.reason)
    # Bucket 1 earns 180 s -> 3 points x 3 = 9, cut to the cap of 5; then the day is
    # full.
    assert [c.points for c in credits] == [5]
    assert reasons[7:] == ["capped"] * (len(reasons) - 7)


def test_daily_cap_resets_on_the_channel_time_zone_day():
    berlin = ChannelSettings(daily_cap_points=1, time_zone="Europe/Berlin")
    facts = {"ch": ChannelFacts(berlin, True)}
    # 2024-01-01 22:50 UTC = 23:50 Berlin; the cap is reached, then Berlin's midnight
    # (23:00 UTC) starts a new day even though UTC is still on 2024-01-01.
    start_ms = 1_704_149_400_000
    state = ViewerState()
    points = []
    for offset_s in range(0, 1500, 30):
        outcome = judge_heartbeat(
            "u1", "ch", start_ms + offset_s * 1000, state, facts=facts, limits=LIMITS
        )
        points.extend(c.points for c in outcome.credits)
    assert sum(points) == 2


def test_channel_ignore_list_naming_the_twitch_id_excludes_the_viewer():
    ignored = {
        "ch": ChannelFacts(ChannelSettings(ignored_user_ids=frozenset({"tw-77"})), True)
    }
    state = ViewerState()
    outcome = judge_heartbeat(
        "u1", "ch", T0, state, facts=ignored, limits=LIMITS, alias="tw-77"
    )
    assert outcome.reason == "excluded"

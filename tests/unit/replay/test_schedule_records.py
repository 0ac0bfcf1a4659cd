"""Live periods and the time-ordered record stream of a schedule."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tachigo.kafka.records import Heartbeat, SettingsEvent, StreamEvent, Tick
from tachigo.replay import schedule as sc

MINUTE_MS = 60_000
MARGIN_MS = 420_000
SNAPSHOT: dict[str, Any] = {
    "seconds_per_point": 60,
    "multiplier": 1,
    "daily_cap_points": 0,
    "require_live": True,
    "time_zone": "UTC",
    "ignored_user_ids": [],
}


def session(
    row: int,
    user: int,
    channel: int,
    start_min: float,
    end_min: float,
    offset_ms: int = 0,
) -> sc.Session:
    return sc.Session(
        row,
        user,
        channel,
        sc.ORIGIN_MS + int(start_min * MINUTE_MS),
        sc.ORIGIN_MS + int(end_min * MINUTE_MS),
        offset_ms,
    )


def records_of(schedule: sc.Schedule) -> list[Any]:
    settings = {cid: SNAPSHOT for cid in schedule.channel_ids.values()}
    return list(sc.iter_records(schedule, settings_by_channel=settings))


def test_live_periods_merge_overlapping_and_touching_sessions_per_channel() -> None:
    sessions = [
        session(0, 1, 7, 0, 10),
        session(1, 2, 7, 5, 20),
        session(2, 3, 7, 20, 30),
        session(3, 1, 7, 31, 40),
        session(4, 1, 8, 0, 10),
    ]

    periods = sc.merge_live_periods(sessions)

    at = sc.ORIGIN_MS
    assert periods == (
        sc.LivePeriod(7, at, at + 30 * MINUTE_MS),
        sc.LivePeriod(8, at, at + 10 * MINUTE_MS),
        sc.LivePeriod(7, at + 31 * MINUTE_MS, at + 40 * MINUTE_MS),
    )


def test_heartbeats_start_at_the_offset_and_repeat_every_30_s_before_the_end() -> None:
    schedule = sc.schedule_sessions(
        [session(0, 1, 1, 0, 2, offset_ms=12_345)], name="t", close_margin_ms=MARGIN_MS
    )

    beats = [
        r.at_ms - sc.ORIGIN_MS for r in records_of(schedule) if isinstance(r, Heartbeat)
    ]

    assert beats == [12_345, 42_345, 72_345, 102_345]


def test_records_are_time_ordered_and_ties_follow_the_judging_order() -> None:
    # Channel 1 goes offline at 10 min as channel 2 comes online; one heartbeat of
    # channel 2 and one tick share that millisecond.
    schedule = sc.schedule_sessions(
        [session(0, 1, 1, 0, 10), session(1, 2, 2, 10, 11)],
        name="t",
        close_margin_ms=MARGIN_MS,
    )

    records = records_of(schedule)

    times = [r.at_ms for r in records]
    assert times == sorted(times)
    at_ten = [r for r in records if r.at_ms == sc.ORIGIN_MS + 10 * MINUTE_MS]
    assert [type(r).__name__ for r in at_ten] == [
        "StreamEvent",
        "Heartbeat",
        "StreamEvent",
        "Tick",
    ]
    assert at_ten[0].online and not at_ten[2].online
    assert at_ten[0].channel_id == "t-ch2" and at_ten[2].channel_id == "t-ch1"


def test_every_channel_gets_its_settings_before_any_heartbeat() -> None:
    schedule = sc.schedule_sessions(
        [session(0, 1, 1, 0, 10), session(1, 2, 2, 30, 40)],
        name="t",
        close_margin_ms=MARGIN_MS,
    )

    records = records_of(schedule)

    first_heartbeat = next(i for i, r in enumerate(records) if isinstance(r, Heartbeat))
    settings = [i for i, r in enumerate(records) if isinstance(r, SettingsEvent)]
    assert len(settings) == 2 and max(settings) < first_heartbeat
    assert all(r.settings == SNAPSHOT for r in records if isinstance(r, SettingsEvent))


def test_every_heartbeat_falls_in_a_live_period_of_its_channel() -> None:
    schedule = sc.schedule_sessions(
        [
            session(0, 1, 1, 0, 10, 5_000),
            session(1, 1, 1, 10, 20, 29_999),
            session(2, 2, 1, 25, 26, 1),
            session(3, 2, 2, 0, 50, 0),
        ],
        name="t",
        close_margin_ms=MARGIN_MS,
    )

    live: dict[str, bool] = {}
    for record in records_of(schedule):
        if isinstance(record, StreamEvent):
            live[record.channel_id] = record.online
        elif isinstance(record, Heartbeat):
            assert live.get(record.channel_id), record


def test_ticks_run_every_minute_then_once_past_the_last_bucket_grace() -> None:
    schedule = sc.schedule_sessions(
        [session(0, 1, 1, 0.5, 3)], name="t", close_margin_ms=MARGIN_MS
    )

    ticks = [
        r.at_ms - sc.ORIGIN_MS for r in records_of(schedule) if isinstance(r, Tick)
    ]

    assert ticks == [MINUTE_MS, 2 * MINUTE_MS, 3 * MINUTE_MS + MARGIN_MS]


def test_counts_match_the_records_produced() -> None:
    sessions = [
        session(i, i % 4, i % 3, i * 7, i * 7 + 25, i * 1_000) for i in range(12)
    ]
    schedule = sc.schedule_sessions(sessions, name="t", close_margin_ms=MARGIN_MS)

    kinds = Counter(type(r).__name__ for r in records_of(schedule))
    counts = schedule.counts()

    assert kinds == {
        "Heartbeat": counts.heartbeats,
        "StreamEvent": counts.stream_events,
        "SettingsEvent": counts.settings,
        "Tick": counts.ticks,
    }
    assert counts.messages(partitions=12) == (
        counts.heartbeats + 12 * counts.control() + counts.stream_events
    )


def test_every_record_carries_the_replay_clock() -> None:
    schedule = sc.schedule_sessions(
        [session(0, 1, 1, 0, 3)], name="tw-x", close_margin_ms=MARGIN_MS
    )

    assert {r.clock for r in records_of(schedule)} == {"replay:tw-x"}


def test_heartbeats_name_the_replay_viewer_and_channel() -> None:
    schedule = sc.schedule_sessions(
        [session(0, 43, 9, 0, 1)], name="tw", close_margin_ms=MARGIN_MS
    )

    beat = next(r for r in records_of(schedule) if isinstance(r, Heartbeat))

    assert beat.user_id == sc.user_id_of("tw", 43)
    assert beat.channel_id == "tw-ch9"

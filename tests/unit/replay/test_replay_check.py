"""Deciding the kind of run, comparing figures, advising, and the progress text."""

from __future__ import annotations

import io

from tachigo.replay import check
from tachigo.replay.expected import ChannelTotals, ExpectedTotals
from tachigo.replay.offsets import consumed_fraction
from tachigo.replay.progress import ProgressBar, format_duration, render_progress

EXPECTED = ExpectedTotals(
    heartbeats=100,
    accepted=90,
    seconds=2_000,
    points=30,
    buckets=8,
    rejections={"too_fast": 10},
    channels={
        "c1": ChannelTotals(1_500, 25, 6),
        "c2": ChannelTotals(500, 5, 2),
        "c3": ChannelTotals(),
    },
)
CREDITED = {"c1": ChannelTotals(1_500, 25, 6), "c2": ChannelTotals(500, 5, 2)}


def observed(channels: dict[str, ChannelTotals], **rejections: int) -> check.Observed:
    return check.Observed(dict(channels), dict(rejections))


def test_run_kind_is_fresh_repeat_or_resumed_from_the_ledger_before_writing() -> None:
    assert check.classify_run(observed({}), EXPECTED) == "fresh"
    assert check.classify_run(observed(CREDITED, too_fast=10), EXPECTED) == "repeat"
    partial = {"c1": ChannelTotals(300, 5, 1)}
    assert check.classify_run(observed(partial, too_fast=2), EXPECTED) == "resumed"


def test_fresh_run_matches_when_ledger_and_rejections_equal_the_expected() -> None:
    rows = check.compare(
        "fresh",
        EXPECTED,
        baseline=observed({}),
        observed=observed(CREDITED, too_fast=10),
    )

    assert all(r.is_match for r in rows)
    assert [r.label for r in rows][-1] == "rejected: too_fast"


def test_fresh_run_reports_each_differing_figure() -> None:
    short = {"c1": ChannelTotals(1_470, 24, 6), "c2": ChannelTotals(500, 5, 2)}

    rows = check.compare(
        "fresh",
        EXPECTED,
        baseline=observed({}),
        observed=observed(short, too_fast=10, duplicate=1),
    )

    differing = {r.label: (r.expected, r.actual) for r in rows if not r.is_match}
    assert differing == {
        "points": (30, 29),
        "watch seconds": (2_000, 1_970),
        "channels with other totals": (0, 1),
        "rejected: duplicate": (0, 1),
    }


def test_repeat_run_needs_an_unchanged_ledger_and_every_heartbeat_rejected() -> None:
    baseline = observed(CREDITED, too_fast=10)

    halfway = check.compare(
        "repeat",
        EXPECTED,
        baseline=baseline,
        observed=observed(CREDITED, too_fast=10, duplicate=50),
    )
    done = check.compare(
        "repeat",
        EXPECTED,
        baseline=baseline,
        observed=observed(CREDITED, too_fast=20, duplicate=90),
    )

    assert [r.label for r in halfway if not r.is_match] == [
        "rejected (re-run: all heartbeats)"
    ]
    assert all(r.is_match for r in done)


def test_advice_points_at_the_worker_when_it_has_not_consumed_the_run() -> None:
    rows = [check.Comparison("points", 3, 1)]

    assert "is the worker running?" in check.advice(rows, None)[0]
    assert "4.0%" in check.advice(rows, 0.04)[0]
    assert "dead-letters" in check.advice(rows, 1.0)[0]
    assert check.advice([check.Comparison("points", 3, 3)], None) == []


def test_advice_names_at_least_once_counters_when_only_rejections_run_high() -> None:
    rows = [
        check.Comparison("points", 3, 3),
        check.Comparison("rejected: too_fast", 5, 9),
    ]

    assert "LIMIT(analytics)" in check.advice(rows, 1.0)[0]


def test_consumed_fraction_counts_only_this_runs_messages() -> None:
    start, end = {0: 100, 1: 50}, {0: 200, 1: 150}

    assert consumed_fraction(start=start, end=end, committed={0: 150, 1: 40}) == 0.25
    assert consumed_fraction(start=start, end=end, committed={0: 900, 1: 150}) == 1.0
    assert consumed_fraction(start=start, end=start, committed={}) == 1.0


def test_progress_text_shows_share_counts_rate_and_time_left() -> None:
    text = render_progress(
        label="replay", done=250, total=1_000, elapsed_s=5, unit="messages"
    )

    assert text.startswith("replay [#######-----------------------]  25.0%")
    assert "250/1,000 messages 50/s ETA 0:00:15" in text
    assert format_duration(3_725) == "1:02:05"


def test_progress_without_a_terminal_prints_one_line_per_tenth() -> None:
    stream = io.StringIO()
    bar = ProgressBar(100, label="replay", stream=stream)

    for _ in range(100):
        bar.advance(1)
    bar.finish()

    assert len(stream.getvalue().splitlines()) == 10

"""Properties of the watch rules and the batch processor (hypothesis)."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tachigo.agents.watch import RawRecord, WatchProcessor
from tachigo.kafka import records
from tachigo.rules import ChannelSettings, WatchLimits
from tachigo.tables.state import ViewerEntry

LIMITS = WatchLimits()
BASE_MS = 1_560_000_000_000
CHANNELS = ["c1", "c2", "c3"]


class DictStore:
    def __init__(self) -> None:
        self.viewers: dict[str, ViewerEntry] = {}
        self.facts: dict[str, Any] = {}

    def get_viewer(self, user_id: str) -> ViewerEntry | None:
        # A copy, as if read back from the changelog: a crashed batch leaves no trace.
        return copy.deepcopy(self.viewers.get(user_id))

    def get_fact(self, key: str) -> Any | None:
        return self.facts.get(key)

    def iter_viewers(self):  # type: ignore[no-untyped-def]
        return list(self.viewers.items())

    def apply(self, batch) -> None:  # type: ignore[no-untyped-def]
        # Tables hold copies, as a changelog round trip would.
        for key, (_, value) in batch.fact_writes.items():
            self.facts[key] = copy.deepcopy(value)
        for user_id, entry in batch.viewer_writes.items():
            self.viewers[user_id] = copy.deepcopy(entry)


beat = st.tuples(
    st.sampled_from(["u1", "u2", "u3"]),
    st.sampled_from(CHANNELS),
    st.integers(min_value=0, max_value=40_000),
)
schedules = st.lists(beat, min_size=1, max_size=150)


def build_records(
    schedule: list[tuple[str, str, int]], *, with_ticks: bool = True
) -> list[bytes]:
    """Settings for every channel (no live requirement), heartbeats in time order,
    ticks.
    """
    out = [
        records.encode(records.SettingsEvent(c, {"require_live": False}, BASE_MS))
        for c in CHANNELS
    ]
    events = sorted(schedule, key=lambda b: b[2])
    last_ms = BASE_MS
    for user, channel, offset_ms in events:
        at_ms = BASE_MS + offset_ms * 100
        if with_ticks and at_ms - last_ms > 5_000:
            out.append(records.encode(records.Tick(at_ms)))
        out.append(records.encode(records.Heartbeat(user, channel, at_ms)))
        last_ms = at_ms
    out.append(records.encode(records.Tick(last_ms + 10_000_000)))
    return out


def run(
    values: list[bytes], batch_size: int = 7
) -> tuple[list[records.Credit], DictStore]:
    store = DictStore()
    processor = WatchProcessor(store, limits=LIMITS)
    credits: list[records.Credit] = []
    raws = [RawRecord("heartbeats", 0, i, None, v) for i, v in enumerate(values)]
    for start in range(0, len(raws), batch_size):
        batch = processor.process(raws[start : start + batch_size])
        credits.extend(batch.credits)
        store.apply(batch)
    return credits, store


@settings(max_examples=200, deadline=None)
@given(schedules)
def test_credited_seconds_never_exceed_elapsed_time_per_viewer(schedule):
    credits, _ = run(build_records(schedule))
    for user in {u for u, _, _ in schedule}:
        times = sorted(o for u, _, o in schedule if u == user)
        elapsed_s = (times[-1] - times[0]) * 100 // 1000
        assert sum(c.seconds for c in credits if c.user_id == user) <= elapsed_s


@settings(max_examples=200, deadline=None)
@given(schedules, st.integers(min_value=1, max_value=20))
def test_batch_boundaries_do_not_change_credits(schedule, batch_size):
    values = build_records(schedule)
    assert run(values, batch_size=batch_size)[0] == run(values, batch_size=1)[0]


@settings(max_examples=200, deadline=None)
@given(schedules, st.data())
def test_duplicated_records_change_nothing(schedule, data):
    values = build_records(schedule)
    clean, _ = run(values)
    repeated: list[bytes] = []
    for value in values:
        repeated.append(value)
        if data.draw(st.booleans()):
            repeated.append(value)  # Kafka redelivery of the same record
    assert run(repeated)[0] == clean


@settings(max_examples=200, deadline=None)
@given(schedules, st.randoms(use_true_random=False))
def test_interleaving_other_viewers_changes_no_viewers_credits(
    schedule, rnd: random.Random
):
    """Each viewer's heartbeats keep their order; how viewers interleave is
    irrelevant.
    """
    values = build_records(schedule, with_ticks=False)
    head, beats, tail = values[:3], values[3:-1], values[-1:]
    by_user: dict[str, list[bytes]] = {}
    for value in beats:
        by_user.setdefault(records.decode(value).user_id, []).append(value)
    shuffled: list[bytes] = []
    queues = [list(q) for q in by_user.values()]
    while queues:
        queue = rnd.choice(queues)
        shuffled.append(queue.pop(0))
        queues = [q for q in queues if q]
    key = lambda c: c.credit_id  # noqa: E731
    assert sorted(run(head + shuffled + tail)[0], key=key) == sorted(
        run(values)[0], key=key
    )


@settings(max_examples=200, deadline=None)
@given(schedules, st.integers(min_value=1, max_value=10), st.data())
def test_crash_and_replay_yield_the_same_credits(schedule, batch_size, data):
    """A crash loses the table writes of the batch in flight; the batch is replayed from
    its first record (at-least-once). Deduped by id, credits equal a clean run's."""
    values = build_records(schedule)
    clean, _ = run(values, batch_size=batch_size)

    def crash(batch, store):  # type: ignore[no-untyped-def]
        # Crash after the credits were sent, before any table was written.
        return data.draw(st.booleans())

    assert run_with_crashes(values, batch_size, crash) == sorted(
        clean, key=lambda c: c.credit_id
    )


def run_with_crashes(values, batch_size, crash):  # type: ignore[no-untyped-def]
    """Run batches; when ``crash(batch, store)`` says so, drop the rest of that batch's
    table writes, restart the processor and judge the batch again from its start.
    Returns the distinct credits emitted, checking a repeated id has equal content."""
    raws = [RawRecord("heartbeats", 0, i, None, v) for i, v in enumerate(values)]
    store = DictStore()
    processor = WatchProcessor(store, limits=LIMITS)
    emitted: dict[str, records.Credit] = {}
    start, crashed_at = 0, -1
    while start < len(raws):
        batch = processor.process(raws[start : start + batch_size])
        for credit in batch.credits:
            assert emitted.setdefault(credit.credit_id, credit) == credit
        if crashed_at != start and crash(batch, store):
            processor, crashed_at = WatchProcessor(store, limits=LIMITS), start
            continue
        store.apply(batch)
        start += batch_size
    return sorted(emitted.values(), key=lambda c: c.credit_id)


@settings(max_examples=200, deadline=None)
@given(
    schedules,
    st.integers(min_value=1, max_value=120),
    st.integers(min_value=1, max_value=5),
)
def test_points_equal_whole_points_of_total_seconds(
    schedule, seconds_per_point, multiplier
):
    settings_json = {
        "require_live": False,
        "seconds_per_point": seconds_per_point,
        "multiplier": multiplier,
    }
    values = build_records(schedule)
    values[:3] = [
        records.encode(records.SettingsEvent(c, settings_json, BASE_MS))
        for c in CHANNELS
    ]
    credits, _ = run(values)
    pairs = {(c.user_id, c.channel_id) for c in credits}
    for pair in pairs:
        mine = [c for c in credits if (c.user_id, c.channel_id) == pair]
        total_s = sum(c.seconds for c in mine)
        assert sum(c.points for c in mine) == total_s // seconds_per_point * multiplier


def test_settings_from_dict_rejects_nonsense_by_clamping():
    parsed = ChannelSettings.from_dict({"seconds_per_point": 0, "multiplier": -2})
    assert (parsed.seconds_per_point, parsed.multiplier) == (1, 0)


def test_records_past_the_stored_position_are_not_judged_and_ask_for_a_rewind():
    store = DictStore()
    processor = WatchProcessor(store, limits=LIMITS)
    values = build_records([("u1", "c1", 0), ("u1", "c1", 300), ("u1", "c1", 600)])
    first = processor.process(
        [RawRecord("hb", 0, i, None, v) for i, v in enumerate(values[:4])]
    )
    store.apply(first)
    # faust skipped offsets 4..5: the next batch starts at 6.
    later = processor.process(
        [RawRecord("hb", 0, i, None, v) for i, v in enumerate(values) if i >= 6]
    )
    assert later.rewinds == {0: 4}
    assert later.outcomes == {} and later.credits == []
    assert later.viewer_writes == {}


def test_redelivered_records_below_the_stored_position_are_not_judged_again():
    """Tables written, offsets not yet committed, crash: the batch comes again. A
    heartbeat rejected while the channel was offline must not pass the second time."""
    values = [
        records.encode(records.SettingsEvent("c1", {"require_live": True}, BASE_MS)),
        records.encode(records.Heartbeat("u1", "c1", BASE_MS + 1_000)),
        records.encode(records.StreamEvent("c1", True, BASE_MS + 2_000)),
        records.encode(records.Heartbeat("u1", "c1", BASE_MS + 31_000)),
        records.encode(records.Heartbeat("u1", "c1", BASE_MS + 61_000)),
        records.encode(records.Tick(BASE_MS + 10_000_000)),
    ]
    raws = [RawRecord("hb", 0, i, None, v) for i, v in enumerate(values)]
    clean, _ = run(values, batch_size=3)

    store = DictStore()
    processor = WatchProcessor(store, limits=LIMITS)
    first = processor.process(raws[:3])
    store.apply(first)
    processor = WatchProcessor(store, limits=LIMITS)  # restarted worker
    again = processor.process(raws)  # redelivered from offset 0
    assert again.outcomes["redelivered"] == 3
    assert first.credits + again.credits == clean
    assert sum(c.seconds for c in clean) == 30


flaps = st.lists(st.integers(min_value=0, max_value=40_000), max_size=8)


def build_flapping(
    schedule: list[tuple[str, str, int]], flip_at: list[int]
) -> list[bytes]:
    """Channels that need to be live, going online/offline at ``flip_at`` (x100 ms)."""
    out = [
        records.encode(records.SettingsEvent(c, {"require_live": True}, BASE_MS))
        for c in CHANNELS
    ]
    events: list[tuple[int, int, bytes]] = []
    for n, at in enumerate(sorted(flip_at)):
        for channel in CHANNELS:
            event = records.StreamEvent(channel, n % 2 == 0, BASE_MS + at * 100)
            events.append((at * 100, 0, records.encode(event)))
    for user, channel, at in schedule:
        beat = records.Heartbeat(user, channel, BASE_MS + at * 100)
        events.append((at * 100, 1, records.encode(beat)))
    out += [v for _, _, v in sorted(events, key=lambda e: (e[0], e[1]))]
    last_ms = max((e[0] for e in events), default=0)
    out.append(records.encode(records.Tick(BASE_MS + last_ms + 10_000_000)))
    return out


@settings(max_examples=200, deadline=None)
@given(schedules, flaps, st.integers(min_value=1, max_value=10), st.data())
def test_a_crash_between_any_two_changelog_writes_yields_the_same_credits(
    schedule, flip_at, batch_size, data
):
    """A crash may keep none, the viewers only, or the viewers and the channel facts
    but not the partition's position; the batch is judged again from its start."""
    values = build_flapping(schedule, flip_at)
    clean, _ = run(values, batch_size=batch_size)

    def crash(batch, store):  # type: ignore[no-untyped-def]
        kept = data.draw(st.sampled_from(["all", "none", "viewers", "no_position"]))
        if kept in ("viewers", "no_position"):
            for user_id, entry in batch.viewer_writes.items():
                store.viewers[user_id] = copy.deepcopy(entry)
        if kept == "no_position":
            for key, (_, value) in batch.fact_writes.items():
                if not key.endswith("|next_offset"):
                    store.facts[key] = copy.deepcopy(value)
        return kept != "all"

    assert run_with_crashes(values, batch_size, crash) == sorted(
        clean, key=lambda c: c.credit_id
    )

"""From the sessions data set to one time-ordered stream of records (pure, no I/O but
reading the file).

Steps: parse the CSV rows, keep a window of days and viewers, draw each session's
length, merge each channel's sessions into live periods, and merge heartbeats, stream
events, channel settings and ticks into one stream in the order the worker must judge
them. docs/replay.md explains every choice made here.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from tachigo.kafka.records import (
    Heartbeat,
    HeartbeatTopicRecord,
    SettingsEvent,
    StreamEvent,
    Tick,
)
from tachigo.ledger.ids import user_id_for
from tachigo.replay.errors import ReplayError

# 2019-06-01T00:00:00Z, the nominal start of slot 0: the data set only says "mid-2019".
ORIGIN_MS = 1_559_347_200_000
SLOT_MS = 600_000
SLOTS_PER_DAY = 144
HEARTBEAT_INTERVAL_MS = 30_000
TICK_INTERVAL_MS = 60_000
# Each slot ends a session with probability 50/157 = 1/3.14, so lengths are geometric
# with mean 3.14 slots, the published mean of the original data set.
SESSION_END_NUMERATOR = 50
SESSION_END_DENOMINATOR = 157
# One day. A longer draw has a probability near 1e-24: the cap never bites in practice.
SESSION_SLOTS_MAX = 144
CSV_HEADER = ",user_id,streamer_name,start_time,community"
# Channel ids are "<name>-ch<code>" and must fit the 64-character channel id column.
NAME_LENGTH_MAX = 40
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_:\-]+$")
REPLAY_PROVIDER = "replay"

# Ties at one millisecond: a channel goes online before the heartbeats judged against
# it and offline after them; ticks come last, so no bucket closes under a heartbeat.
RANK_ONLINE, RANK_SETTINGS, RANK_HEARTBEAT, RANK_OFFLINE, RANK_TICK = range(5)

SortKey = tuple[int, int, int]
Entry = tuple[SortKey, HeartbeatTopicRecord]


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One data row: a viewer first seen in a channel's chat in a 10-minute slot."""

    row_index: int
    user_code: int
    channel_code: int
    start_slot: int


@dataclass(frozen=True, slots=True)
class Session:
    """A row with its drawn length; heartbeats run from start + offset to end."""

    row_index: int
    user_code: int
    channel_code: int
    start_ms: int
    end_ms: int
    offset_ms: int

    @property
    def first_heartbeat_ms(self) -> int:
        return self.start_ms + self.offset_ms

    def heartbeat_count(self) -> int:
        span_ms = self.end_ms - self.first_heartbeat_ms
        return max(0, -(-span_ms // HEARTBEAT_INTERVAL_MS))


@dataclass(frozen=True, slots=True)
class LivePeriod:
    """A union of touching or overlapping sessions of one channel: it is live."""

    channel_code: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class RecordCounts:
    heartbeats: int
    stream_events: int
    settings: int
    ticks: int

    def control(self) -> int:
        """Control records, each written once to every heartbeats partition."""
        return self.stream_events + self.settings + self.ticks

    def messages(self, *, partitions: int) -> int:
        """Kafka messages the replay writes, to heartbeats and stream-events."""
        return self.heartbeats + self.control() * partitions + self.stream_events


@dataclass(frozen=True, slots=True)
class Schedule:
    """Everything a replay writes, derived from the selected rows and the seed."""

    name: str
    sessions: tuple[Session, ...]  # by (first heartbeat, row index)
    periods: tuple[LivePeriod, ...]
    user_ids: Mapping[int, str]
    channel_ids: Mapping[int, str]
    # Past the last record by bucket + grace + one tick, so the last buckets close.
    close_margin_ms: int

    @property
    def clock(self) -> str:
        return f"replay:{self.name}"

    @property
    def first_ms(self) -> int:
        return min(p.start_ms for p in self.periods)

    @property
    def last_ms(self) -> int:
        return max(p.end_ms for p in self.periods)

    def tick_times_ms(self) -> list[int]:
        """Every 60 s of replay time, then one final tick past the last record."""
        first = -(-self.first_ms // TICK_INTERVAL_MS) * TICK_INTERVAL_MS
        times = list(range(first, self.last_ms, TICK_INTERVAL_MS))
        times.append(self.last_ms + self.close_margin_ms)
        return times

    def counts(self) -> RecordCounts:
        return RecordCounts(
            heartbeats=sum(s.heartbeat_count() for s in self.sessions),
            stream_events=2 * len(self.periods),
            settings=len(self.channel_ids),
            ticks=len(self.tick_times_ms()),
        )


def parse_rows(lines: Iterable[str]) -> list[SessionRow]:
    """Parse the CSV text (header line first); blank lines are skipped.

    Raises:
        ReplayError: the header or a row is not in the data set's format.
    """
    iterator = iter(lines)
    header = next(iterator, "").strip()
    if header != CSV_HEADER:
        raise ReplayError(
            f"unexpected CSV header {header[:80]!r}; expected {CSV_HEADER!r} "
            "(see shared/data/twitch-sessions/README.md)",
            code="replay_bad_data",
        )
    rows = []
    for line_number, line in enumerate(iterator, start=2):
        if not line.strip():
            continue
        parts = line.strip().split(",")
        try:
            if len(parts) != 5:
                raise ValueError(f"{len(parts)} fields instead of 5")
            rows.append(
                SessionRow(int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]))
            )
        except ValueError as error:
            raise ReplayError(
                f"bad CSV row at line {line_number}: {error}",
                code="replay_bad_data",
                line=line_number,
            ) from error
    return rows


def read_rows(path: Path) -> list[SessionRow]:
    """Read a sessions file, gzip-compressed when its name ends in ``.gz``.

    Raises:
        ReplayError: the file cannot be read or is not in the data set's format.
    """
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
                return parse_rows(text)
        with path.open(encoding="utf-8", newline="") as text:
            return parse_rows(text)
    except (OSError, EOFError) as error:
        raise ReplayError(
            f"cannot read sessions file {path}: {error}; pass --data",
            code="replay_bad_data",
        ) from error


def select_rows(
    rows: Iterable[SessionRow], *, start_day: int, days: float, users_max: int
) -> list[SessionRow]:
    """Keep rows starting in [start_day, start_day + days).

    When ``users_max`` > 0, keep only the rows of the ``users_max`` smallest user ids
    present in that window.
    """
    first_slot = start_day * SLOTS_PER_DAY
    end_slot = (start_day + days) * SLOTS_PER_DAY
    window = [r for r in rows if first_slot <= r.start_slot < end_slot]
    if users_max > 0:
        kept = set(sorted({r.user_code for r in window})[:users_max])
        window = [r for r in window if r.user_code in kept]
    return window


def draw_word(seed: int, row_index: int, purpose: str, trial: int = 0) -> int:
    """A uniform 64-bit number fixed by (seed, upstream row index, purpose, trial)."""
    text = f"{seed}:{row_index}:{purpose}:{trial}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def session_slots(seed: int, row_index: int) -> int:
    """Draw a session length in slots: geometric, mean 3.14, at least 1."""
    threshold = (SESSION_END_NUMERATOR << 64) // SESSION_END_DENOMINATOR
    for slots in range(1, SESSION_SLOTS_MAX):
        if draw_word(seed, row_index, "length", slots) < threshold:
            return slots
    return SESSION_SLOTS_MAX


def heartbeat_offset_ms(seed: int, row_index: int) -> int:
    """Where in [0, 30 s) a session's heartbeats start; sessions do not beat in step."""
    return draw_word(seed, row_index, "offset") % HEARTBEAT_INTERVAL_MS


def build_sessions(rows: Iterable[SessionRow], *, seed: int) -> tuple[Session, ...]:
    """Give each row its drawn length and heartbeat offset (rows keep their order)."""
    sessions = []
    for row in rows:
        start_ms = ORIGIN_MS + row.start_slot * SLOT_MS
        end_ms = start_ms + session_slots(seed, row.row_index) * SLOT_MS
        sessions.append(
            Session(
                row.row_index,
                row.user_code,
                row.channel_code,
                start_ms,
                end_ms,
                heartbeat_offset_ms(seed, row.row_index),
            )
        )
    return tuple(sessions)


def merge_live_periods(sessions: Iterable[Session]) -> tuple[LivePeriod, ...]:
    """Merge each channel's overlapping or touching sessions into live periods."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for session in sessions:
        spans.setdefault(session.channel_code, []).append(
            (session.start_ms, session.end_ms)
        )
    periods = []
    for channel_code, channel_spans in spans.items():
        channel_spans.sort()
        start_ms, end_ms = channel_spans[0]
        for next_start_ms, next_end_ms in channel_spans[1:]:
            if next_start_ms > end_ms:
                periods.append(LivePeriod(channel_code, start_ms, end_ms))
                start_ms = next_start_ms
            end_ms = max(end_ms, next_end_ms)
        periods.append(LivePeriod(channel_code, start_ms, end_ms))
    periods.sort(key=lambda p: (p.start_ms, p.channel_code))
    return tuple(periods)


def default_name(
    data_path: Path, *, seed: int, start_day: int, days: float, users_max: int
) -> str:
    """A short replay name fixed by its inputs, e.g. ``tw5d1c-s20190601-d0-1-uall``.

    Two letters and four hex digits of the file name tell data files apart.
    """
    file_name = data_path.name
    letters = "".join(c for c in file_name if c.isalpha())[:2].lower() or "x"
    digest = hashlib.sha256(file_name.encode()).hexdigest()[:4]
    days_text = f"{days:g}".replace(".", "p")
    users_text = f"u{users_max}" if users_max > 0 else "uall"
    return f"{letters}{digest}-s{seed}-d{start_day}-{days_text}-{users_text}"


def validate_name(name: str) -> str:
    """Return ``name`` if it can be part of channel ids and the clock.

    Raises:
        ReplayError: characters outside [A-Za-z0-9_:-] or longer than 40.
    """
    if not NAME_PATTERN.match(name) or len(name) > NAME_LENGTH_MAX:
        raise ReplayError(
            f"replay name {name!r} is unusable: use at most {NAME_LENGTH_MAX} of the "
            "characters A-Z a-z 0-9 _ : -",
            code="replay_bad_name",
            name=name,
        )
    return name


def channel_id_for(name: str, channel_code: int) -> str:
    return f"{name}-ch{channel_code}"


def provider_id_for(name: str, user_code: int) -> str:
    return f"{name}:{user_code}"


def user_id_of(name: str, user_code: int) -> str:
    return str(user_id_for(REPLAY_PROVIDER, provider_id_for(name, user_code)))


def build_schedule(
    rows: Iterable[SessionRow], *, name: str, seed: int, close_margin_ms: int
) -> Schedule:
    """Turn selected rows into a schedule.

    Raises:
        ReplayError: no rows were selected, or the name is unusable.
    """
    return schedule_sessions(
        build_sessions(rows, seed=seed), name=name, close_margin_ms=close_margin_ms
    )


def schedule_sessions(
    sessions: Iterable[Session], *, name: str, close_margin_ms: int
) -> Schedule:
    """Name the viewers and channels of ``sessions`` and derive the live periods.

    Raises:
        ReplayError: there are no sessions, or the name is unusable.
    """
    validate_name(name)
    ordered = tuple(sorted(sessions, key=lambda s: (s.first_heartbeat_ms, s.row_index)))
    if not ordered:
        raise ReplayError(
            "no sessions in the selected days and viewers; change "
            "--start-day, --days or --users",
            code="replay_empty",
        )
    users = sorted({s.user_code for s in ordered})
    channels = sorted({s.channel_code for s in ordered})
    return Schedule(
        name=name,
        sessions=ordered,
        periods=merge_live_periods(ordered),
        user_ids={c: user_id_of(name, c) for c in users},
        channel_ids={c: channel_id_for(name, c) for c in channels},
        close_margin_ms=close_margin_ms,
    )


def iter_records(
    schedule: Schedule,
    *,
    settings_by_channel: Mapping[str, dict[str, Any]],
    extra: Iterable[Entry] = (),
) -> Iterator[HeartbeatTopicRecord]:
    """Yield every record of the schedule in judging order (see the RANK_* constants).

    ``settings_by_channel`` holds each channel's settings snapshot as
    ``channels.get_channel`` returns it. ``extra`` entries (tests only) join the merge.
    """
    control = iter_records_control(schedule, settings_by_channel)
    control.extend(extra)
    control.sort(key=itemgetter(0))
    merged = heapq.merge(control, iter_records_heartbeats(schedule), key=itemgetter(0))
    for _, record in merged:
        yield record


def iter_records_control(
    schedule: Schedule, settings_by_channel: Mapping[str, dict[str, Any]]
) -> list[Entry]:
    clock = schedule.clock
    entries: list[Entry] = []
    for period in schedule.periods:
        channel_id = schedule.channel_ids[period.channel_code]
        stream_id = f"{channel_id}-{period.start_ms // 1000}"
        entries.append(
            (
                (period.start_ms, RANK_ONLINE, period.channel_code),
                StreamEvent(channel_id, True, period.start_ms, stream_id, clock),
            )
        )
        entries.append(
            (
                (period.end_ms, RANK_OFFLINE, period.channel_code),
                StreamEvent(channel_id, False, period.end_ms, stream_id, clock),
            )
        )
    first_ms = schedule.first_ms
    for channel_code, channel_id in schedule.channel_ids.items():
        snapshot = settings_by_channel[channel_id]
        entries.append(
            (
                (first_ms, RANK_SETTINGS, channel_code),
                SettingsEvent(channel_id, snapshot, first_ms, clock),
            )
        )
    for at_ms in schedule.tick_times_ms():
        entries.append(((at_ms, RANK_TICK, 0), Tick(at_ms, clock)))
    return entries


def iter_records_heartbeats(schedule: Schedule) -> Iterator[Entry]:
    """Merge the sessions' 30-s heartbeat trains lazily; ties go by row index."""
    sessions = schedule.sessions
    heap = [
        (s.first_heartbeat_ms, s.row_index, i)
        for i, s in enumerate(sessions)
        if s.heartbeat_count() > 0
    ]
    heapq.heapify(heap)
    while heap:
        at_ms, row_index, index = heap[0]
        session = sessions[index]
        yield (
            (at_ms, RANK_HEARTBEAT, row_index),
            Heartbeat(
                schedule.user_ids[session.user_code],
                schedule.channel_ids[session.channel_code],
                at_ms,
                clock=schedule.clock,
            ),
        )
        next_ms = at_ms + HEARTBEAT_INTERVAL_MS
        if next_ms < session.end_ms:
            heapq.heapreplace(heap, (next_ms, row_index, index))
        else:
            heapq.heappop(heap)

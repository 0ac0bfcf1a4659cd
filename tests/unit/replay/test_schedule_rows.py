"""Reading, selecting and drawing: from CSV rows to sessions."""

from __future__ import annotations

import gzip
import re
import statistics
from pathlib import Path

import pytest

from tachigo.ledger.ids import user_id_for
from tachigo.replay import schedule as sc
from tachigo.replay.errors import ReplayError

HEADER = sc.CSV_HEADER + "\n"


def rows_of(*lines: str) -> list[sc.SessionRow]:
    return sc.parse_rows([HEADER, *(line + "\n" for line in lines)])


def test_parse_rows_reads_index_user_channel_and_slot() -> None:
    rows = rows_of("1093,43,0,93,8", "", "1094,43,1,281,8")

    assert rows == [sc.SessionRow(1093, 43, 0, 93), sc.SessionRow(1094, 43, 1, 281)]


def test_parse_rows_with_another_header_names_the_expected_one() -> None:
    with pytest.raises(ReplayError, match="unexpected CSV header"):
        sc.parse_rows(["user,channel\n", "1,2\n"])


@pytest.mark.parametrize("line", ["1,2,3", "1,2,x,4,5", "1,2,3,4,5,6"])
def test_parse_rows_with_a_malformed_row_names_its_line(line: str) -> None:
    with pytest.raises(ReplayError, match="line 3") as raised:
        rows_of("1093,43,0,93,8", line)

    assert raised.value.details["line"] == 3


def test_read_rows_reads_gzip_and_plain_files(tmp_path: Path) -> None:
    text = HEADER + "7,1,2,3,4\n"
    (tmp_path / "s.csv").write_text(text)
    with gzip.open(tmp_path / "s.csv.gz", "wt") as file:
        file.write(text)

    assert sc.read_rows(tmp_path / "s.csv") == [sc.SessionRow(7, 1, 2, 3)]
    assert sc.read_rows(tmp_path / "s.csv.gz") == [sc.SessionRow(7, 1, 2, 3)]


def test_read_rows_of_a_missing_file_suggests_data_flag(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="--data"):
        sc.read_rows(tmp_path / "missing.csv.gz")


def test_select_rows_keeps_slots_of_the_day_window() -> None:
    rows = [
        sc.SessionRow(i, 1, 1, slot) for i, slot in enumerate([0, 143, 144, 287, 288])
    ]

    day1 = sc.select_rows(rows, start_day=1, days=1, users_max=0)
    half = sc.select_rows(rows, start_day=0, days=0.5, users_max=0)

    assert [r.start_slot for r in day1] == [144, 287]
    assert [r.start_slot for r in half] == [0]


def test_select_rows_keeps_the_smallest_user_ids_present_in_the_window() -> None:
    rows = [
        sc.SessionRow(0, 5, 1, 10),
        sc.SessionRow(1, 3, 1, 10),
        sc.SessionRow(2, 9, 1, 10),
        sc.SessionRow(3, 1, 1, 500),
        sc.SessionRow(4, 3, 2, 20),
    ]

    kept = sc.select_rows(rows, start_day=0, days=1, users_max=2)

    assert sorted({r.user_code for r in kept}) == [3, 5]
    assert [r.row_index for r in kept] == [0, 1, 4]


def test_session_slots_are_deterministic_at_least_one_and_average_3_14() -> None:
    draws = [sc.session_slots(20190601, i) for i in range(40_000)]

    assert draws[:100] == [sc.session_slots(20190601, i) for i in range(100)]
    assert min(draws) >= 1
    assert max(draws) <= sc.SESSION_SLOTS_MAX
    assert statistics.mean(draws) == pytest.approx(3.14, abs=0.05)
    assert draws != [sc.session_slots(7, i) for i in range(40_000)]


def test_a_rows_draw_does_not_depend_on_which_other_rows_are_selected() -> None:
    rows = [sc.SessionRow(i, i % 3, i % 5, i) for i in range(50)]

    everything = {s.row_index: s for s in sc.build_sessions(rows, seed=9)}
    some = sc.build_sessions(rows[10:20], seed=9)

    assert all(everything[s.row_index] == s for s in some)


def test_heartbeat_offset_lies_within_one_interval() -> None:
    offsets = [sc.heartbeat_offset_ms(1, i) for i in range(5_000)]

    assert 0 <= min(offsets) and max(offsets) < sc.HEARTBEAT_INTERVAL_MS
    assert len(set(offsets)) > 4_000


def test_build_sessions_maps_slots_to_ms_after_the_2019_06_01_origin() -> None:
    (session,) = sc.build_sessions([sc.SessionRow(11, 4, 2, 145)], seed=3)

    assert sc.ORIGIN_MS == 1_559_347_200_000
    assert session.start_ms == sc.ORIGIN_MS + 145 * 600_000
    slots = sc.session_slots(3, 11)
    assert session.end_ms == session.start_ms + slots * 600_000
    assert session.heartbeat_count() == 20 * slots


def test_default_name_is_short_valid_and_fixed_by_its_inputs() -> None:
    data = Path("/x/twitch105k_1600users.csv.gz")

    name = sc.default_name(data, seed=20190601, start_day=0, days=1, users_max=0)
    other = sc.default_name(data, seed=20190601, start_day=0, days=0.5, users_max=30)

    assert re.fullmatch(r"tw[0-9a-f]{4}-s20190601-d0-1-uall", name)
    assert other.endswith("-d0-0p5-u30")
    assert sc.validate_name(name) == name
    assert (
        sc.default_name(
            Path("other.csv.gz"), seed=20190601, start_day=0, days=1, users_max=0
        )
        != name
    )


@pytest.mark.parametrize("name", ["has space", "dot.ted", "x" * 41, ""])
def test_validate_name_refuses_names_unusable_in_channel_ids(name: str) -> None:
    with pytest.raises(ReplayError, match="unusable"):
        sc.validate_name(name)


def test_ids_fit_the_channel_id_rules_and_the_replay_identity() -> None:
    name = "x" * sc.NAME_LENGTH_MAX

    channel_id = sc.channel_id_for(name, 1741)

    assert len(channel_id) <= 64
    assert re.fullmatch(r"[A-Za-z0-9_:\-]+", channel_id)
    assert sc.user_id_of("tw", 43) == str(user_id_for("replay", "tw:43"))


def test_build_schedule_of_no_rows_suggests_other_options() -> None:
    with pytest.raises(ReplayError, match="--start-day"):
        sc.build_schedule([], name="tw", seed=1, close_margin_ms=0)

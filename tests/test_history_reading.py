"""Reading what the week needs: a cumulative registrations workbook dropped again is told from
what an earlier run read of it by a digest of its first rows, and its other rows are compared
only with the stored registrations sharing a phone; the rows stored and the duplicates counted
are those of comparing with everything stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.intake import Intake, prefix_digest, prepare
from pipeline.io.read import Sheet
from pipeline.records import Registered
from pipeline.state import State

ROW = st.tuples(st.sampled_from(["13800138000", "13900139000", "1380013800", "x"]),
                st.sampled_from(["2026-11-01T09:00:00", "2026-11-02T09:00:00"]), st.sampled_from(["张伟", "王芳"]))
ROWS = st.lists(ROW, max_size=8)


def _sheet(file: str, name: str, rows: list[tuple[str, str, str]], index: int = 0) -> Sheet:
    sheet = Sheet(file, name, index, kind="registrations", header_row=1)
    sheet.registrations = Registered(phone=[r[0] for r in rows], at=[r[1] for r in rows], who=[r[2] for r in rows],
                                     customer=[""] * len(rows), note=[""] * len(rows),
                                     row=list(range(2, len(rows) + 2)))
    return sheet


def _stored(state: State) -> list[tuple[str, str, str]]:
    everything = state.registrations()
    return list(zip(everything.phone, everything.at, everything.who, strict=True))


@settings(max_examples=120, deadline=None)
@given(first=ROWS, other=ROWS, change=st.sampled_from(["grown", "same", "edited", "shorter", "renamed"]),
       grown=ROWS, at=st.integers(0, 7), edit=ROW, where_read=st.booleans())
def test_a_workbook_dropped_again_stores_what_comparing_everything_stores(
        tmp_path_factory: Any, first: list[tuple[str, str, str]], other: list[tuple[str, str, str]], change: str,
        grown: list[tuple[str, str, str]], at: int, edit: tuple[str, str, str], where_read: bool) -> None:
    """One run reads a registrations sheet and another file's; the next reads the sheet again:
    grown at its end, the same, with a row edited in the middle, shorter, or under another
    name. Whatever it holds, the rows stored are each identity's first reading in the order
    read, and every other row read counts as a duplicate; so too when the rows read before are
    told where the sheet is read (`prepare` with the stored prefixes), which then hands over
    only the rows after them."""
    state = State(tmp_path_factory.mktemp("state"))
    state.begin()
    one = Intake(state, "r1")
    one.store(0, [_sheet("登记.xlsx", "2026年", first)])
    one.store(1, [_sheet("补充.xlsx", "登记", other)])
    state.commit()
    again = list(first)
    if change == "grown":
        again += grown
    elif change == "edited" and again:
        again[at % len(again)] = edit
    elif change == "shorter":
        again = again[: at % (len(again) + 1)]
    file = "登记2.xlsx" if change == "renamed" else "登记.xlsx"
    state.begin()
    two = Intake(state, "r2", base=state.next_seq())
    sheet = _sheet(file, "2026年", again)
    if where_read:
        prepare([sheet], prefixes=state.sheet_prefixes())
        unchanged = change != "renamed" and first and again[:len(first)] == first
        assert sheet.registrations is not None
        assert len(sheet.registrations) == (len(again) - len(first) if unchanged else len(again))
        assert sheet.data_rows == len(again)
    two.store(0, [sheet])
    expected: list[tuple[str, str, str]] = []
    for row in first + other + again:
        if row not in expected:
            expected.append(row)
    assert _stored(state) == expected
    assert two.rows_stored + two.duplicates == len(again)
    assert two.rows_stored == len(expected) - len(set(first + other))
    state.rollback()
    state.close()


def test_the_digest_of_a_sheets_first_rows_tells_them_apart(tmp_path: Path) -> None:
    """The digest covers the rows' numbers and identities in order: a sheet read again the same
    gives the same digest of its first rows; a row moved, renumbered or changed does not."""
    rows = [("13800138000", "2026-11-01T09:00:00", "张伟"), ("13900139000", "2026-11-02T09:00:00", "王芳"),
            ("13700137000", "2026-11-03T09:00:00", "张伟")]
    block = _sheet("a.xlsx", "s", rows).registrations
    assert block is not None
    whole = prefix_digest(block, 3)
    grown = _sheet("a.xlsx", "s", [*rows, ("13600136000", "2026-11-04T09:00:00", "王芳")]).registrations
    assert grown is not None and prefix_digest(grown, 3) == whole and prefix_digest(grown, 4) != whole
    swapped = _sheet("a.xlsx", "s", [rows[1], rows[0], rows[2]]).registrations
    assert swapped is not None and prefix_digest(swapped, 3) != whole
    edited = _sheet("a.xlsx", "s", [rows[0], (rows[1][0], rows[1][1], "张伟"), rows[2]]).registrations
    assert edited is not None and prefix_digest(edited, 3) != whole
    renumbered = Registered(**{**{c: block.array(c).to_pylist() for c in ("phone", "at", "who", "customer", "note")},
                               "row": [3, 4, 5]})
    assert prefix_digest(renumbered, 3) != whole

"""SPEC §2.4 as properties of the intake: a row seen before (stored, or rejected) is a duplicate,
whatever the order the files are read in."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.intake import Intake, prepare, shortcut
from pipeline.io.read import Sheet, read_sheet
from pipeline.state import State
from tests.helpers import LEADS, REGISTRATIONS, VISITS

_WHEN = [datetime(2026, 11, 24, 9, 0), datetime(2026, 11, 24, 9, 30), "2026-11-25 10:00:00", "昨天"]
_PHONES = ["13900000001", 13900000002, "139 0000 0003", "1390000000x", None]
_NAMES = ["张伟", "王强", " 张伟 ", "", None]

_LEAD = st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(_PHONES), st.sampled_from(_WHEN),
                           st.sampled_from(["甲", "乙", None])), max_size=6)
_VISIT = st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(_PHONES), st.sampled_from(_WHEN),
                            st.sampled_from(["李娜", ""])), max_size=6)
_REGISTRATION = st.lists(st.tuples(st.sampled_from(_PHONES), st.sampled_from(_WHEN),
                                   st.sampled_from(["自然到访", "电话来访"]), st.sampled_from(["甲", None])), max_size=6)
# A file: its sheets, each a kind's header and rows.
_FILE = st.lists(st.one_of(_LEAD.map(lambda rows: (LEADS, rows)), _VISIT.map(lambda rows: (VISITS, rows)),
                           _REGISTRATION.map(lambda rows: (REGISTRATIONS, rows))), min_size=1, max_size=2)
_INBOX = st.lists(_FILE, min_size=1, max_size=3)


def read(inbox: list[list[tuple[list[str], list[Any]]]]) -> list[list[Sheet]]:
    """The inbox's files as the reader hands them to the run (stored forms made where read)."""
    files = []
    for f, sheets in enumerate(inbox):
        read_ = [read_sheet(f"{f}.xlsx", f"第{i}页", i, [header, *map(list, rows)], "zh",
                            partial(shortcut, late_range=None)) for i, (header, rows) in enumerate(sheets)]
        prepare(read_)
        files.append(read_)
    return files


def stored(state: State) -> list[tuple[Any, ...]]:
    """Every stored row: its order, kind, phone, time, who and where it came from."""
    rows = [(e.seq, e.kind, e.phone, e.at, e.who, e.file, e.sheet, e.row) for e in state.history("\uffff")]
    reg = state.registrations()
    rows += [(seq, "registrations", phone, at, who, file, sheet, row) for seq, at, phone, who, _c, _n, file, sheet, row
             in zip(*reg.columns(), strict=True)]
    return sorted(rows)


@settings(max_examples=60, deadline=None)
@given(inbox=_INBOX)
def test_reading_the_same_inbox_again_stores_nothing(tmp_path_factory: Any, inbox: Any) -> None:
    """A second run over the same inbox stores no row and rejects none: each row it reads was
    stored or rejected by the first, so each is a duplicate."""
    state = State(tmp_path_factory.mktemp("state"))
    state.begin()
    first = Intake(state, "r0")
    for position, sheets in enumerate(read(inbox)):
        first.store(position, sheets)
    state.add_rejected(first.new_fingerprints)
    before = stored(state)
    again = Intake(state, "r1", base=state.next_seq())
    for position, sheets in enumerate(read(inbox)):
        again.store(position, sheets)
    assert (again.rows_stored, again.rejections) == (0, [])
    assert again.duplicates == again.rows_read == first.rows_read
    assert first.rows_read == first.rows_stored + first.duplicates + len(first.rejections)
    assert stored(state) == before
    state.rollback()
    state.close()


@settings(max_examples=60, deadline=None)
@given(inbox=_INBOX, data=st.data())
def test_files_stored_ahead_of_earlier_ones_store_what_reading_in_order_does(
        tmp_path_factory: Any, inbox: Any, data: st.DataObject) -> None:
    """A run stores a file as soon as it is read, ahead of earlier files still being read
    (`Intake.store_early`), then every file in order (`Intake.store`, once each): whatever the
    order the files arrive in, the rows stored, their order and the counts are those of storing
    the files one after another."""
    arrival = data.draw(st.permutations(range(len(inbox))))

    def take(order: list[int] | None) -> tuple[Any, ...]:
        state = State(tmp_path_factory.mktemp("state"))
        state.begin()
        taken = Intake(state, "r0")
        files = read(inbox)
        for position in order or ():
            taken.store_early(position, files[position])
        for position, sheets in enumerate(files):
            taken.store(position, sheets)
        out = (stored(state), taken.rows_read, taken.rows_stored, taken.duplicates,
               [(seq, r.reason, r.source.as_dict()) for seq, r in taken.rejections])
        state.rollback()
        state.close()
        return out

    assert take(arrival) == take(None)


def test_a_late_row_stored_before_is_a_duplicate_and_a_new_one_is_late(tmp_path: Path) -> None:
    """SPEC §3 with §2.4: once a week is closed, a row dated in it that was stored before is a
    duplicate; one never seen is rejected as LATE, and only once."""
    state = State(tmp_path / "state")
    state.begin()
    old = [["张伟", "13900000001", datetime(2026, 11, 24, 9, 0), "甲"]]
    first = Intake(state, "r0")
    first.store(0, read([[(LEADS, old)]])[0])
    late = ("2026-11-23T00:00:00", "2026-11-30T00:00:00")
    inbox = [[(LEADS, [*old, ["张伟", "13900000002", datetime(2026, 11, 25, 9, 0), "乙"]])]]
    files = []
    for f, sheets in enumerate(inbox):
        read_ = [read_sheet(f"{f}.xlsx", "s", i, [h, *rows], "zh", partial(shortcut, late_range=late))
                 for i, (h, rows) in enumerate(sheets)]
        prepare(read_, late_range=late)
        files.append(read_)
    second = Intake(state, "r1", late_range=late, base=state.next_seq())
    second.store(0, files[0])
    assert (second.rows_stored, second.duplicates) == (0, 1)
    assert [(r.reason, r.phone) for _, r in second.rejections] == [("LATE", "13900000002")]
    state.add_rejected(second.new_fingerprints)
    third = Intake(state, "r2", late_range=late, base=state.next_seq())
    again = [read_sheet("0.xlsx", "s", 0, [LEADS, *inbox[0][0][1]], "zh")]
    prepare(again, late_range=late)
    third.store(0, again)
    assert (third.rows_stored, third.duplicates, third.rejections) == (0, 2, [])
    state.rollback()
    state.close()


def test_identities_are_ordered_by_day_and_a_state_of_bare_ones_still_knows_its_rows(tmp_path: Path) -> None:
    """The identity index is ordered by the rows' days (a week's new rows go to its end). A
    state whose rows were stored under bare identities (schema 12) is upgraded in place: a row
    it stored is still a duplicate when read again, late or not, and a new one is stored or
    rejected as LATE as before."""
    import sqlite3

    from pipeline.state import BARE_IDENTS, BARE_IDENTS_UNTIL, MIGRATIONS

    folder = tmp_path / "state"
    old = [["张伟", "13900000001", datetime(2026, 11, 25, 9, 0), "甲"],
           ["王强", "13900000002", datetime(2026, 11, 24, 9, 30), "乙"]]
    state = State(folder)
    state.begin()
    Intake(state, "r0").store(0, read([[(LEADS, old)]])[0])
    state.commit()
    assert state.meta(BARE_IDENTS_UNTIL) is None  # a state made by this schema has no bare identity
    ats = [at for (at,) in state.conn.execute("SELECT at FROM rows ORDER BY ident")]
    assert ats == sorted(ats) and len(ats) == 2
    state.close()
    with sqlite3.connect(folder / "pipeline.db") as db:  # as schema 12 stored them
        db.execute("UPDATE rows SET ident = substr(ident, 4)")
        db.execute("DELETE FROM meta WHERE key = ?", (BARE_IDENTS_UNTIL,))
    db.close()
    db = sqlite3.connect(folder / "pipeline.db")
    db.execute(f"PRAGMA user_version = {MIGRATIONS.index(BARE_IDENTS)}")
    for column in ("parent", "phones"):  # added by schema 14 (the chained snapshots): not in schema 12
        db.execute(f"ALTER TABLE snapshots DROP COLUMN {column}")
    db.execute("ALTER TABLE weeks DROP COLUMN roster")  # added by schema 15
    db.close()

    state = State(folder, create=False)
    assert state.meta(BARE_IDENTS_UNTIL) == "2026-11-25T09:00:00"
    state.begin()
    fresh = ["李娜", "13900000003", datetime(2026, 12, 1, 9, 0), "甲"]
    again = Intake(state, "r1", base=state.next_seq())
    again.store(0, read([[(LEADS, [*old, fresh])]])[0])
    assert (again.rows_stored, again.duplicates) == (1, 2)
    late = ("2026-11-23T00:00:00", "2026-11-30T00:00:00")
    lately = [["赵敏", "13900000004", datetime(2026, 11, 26, 9, 0), "甲"]]
    sheets = [read_sheet("1.xlsx", "s", 0, [LEADS, *old, *lately], "zh", partial(shortcut, late_range=late))]
    prepare(sheets, late_range=late)
    third = Intake(state, "r2", late_range=late, base=state.next_seq())
    third.store(0, sheets)
    assert (third.rows_stored, third.duplicates) == (0, 2)
    assert [(r.reason, r.phone) for _, r in third.rejections] == [("LATE", "13900000004")]
    state.commit()
    lengths = dict(state.conn.execute("SELECT phone, length(ident) FROM rows"))
    assert lengths == {"13900000001": 16, "13900000002": 16, "13900000003": 19}
    state.close()

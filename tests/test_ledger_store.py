"""Closed weeks' ledger.csv kept as deltas: a week closed stores the difference from the week
before's (a whole file again every `MAX_CHAIN + 1` weeks), made from that week's own file where it
is as written, and a re-render of any closed week writes the bytes it wrote when it closed; weeks
closed by earlier versions (deltas against the week after them) still re-render, and states of
earlier versions are migrated."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import ledgerstore
from pipeline.state import MIGRATIONS, STREAKS, State
from tests.conftest import Store
from tests.helpers import written_anew
from tests.test_snapshots import (
    MONDAYS,
    PEOPLE,
    PHONES,
    _outputs,
    _run,
    _write_inbox,
    _writing_in_processes,
    week_of,
)

# Pieces of a file: lines as ledger.csv has them, lines without CRLF, and a few that repeat.
piece = st.one_of(st.sampled_from(["13800138000,张三,王强,2026-11-24T09:00:00,leads,\r\n", "\ufeff手机号码\r\n", "\n",
                                   "x"]),
                  st.text(alphabet="0123456789,\"\r\n客户", max_size=40))
text_file = st.lists(piece, max_size=30).map(lambda parts: "".join(parts).encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(files=st.lists(text_file, min_size=1, max_size=5))
def test_a_chain_of_deltas_gives_back_every_files_bytes(tmp_path_factory: Any, files: list[bytes]) -> None:
    """Each file stored as a delta against the next, the last whole: resolving the chain from the
    last back to any file gives that file's bytes, whatever they hold (cut anywhere a newline
    is, or none at all); and so does writing it to a file a few lines at a time (`unpack_to`)."""
    path = tmp_path_factory.mktemp("unpacked") / "ledger.csv"
    stored = [ledgerstore.make_delta(old, new, f"W{i + 1}") for i, (old, new) in enumerate(zip(files, files[1:],
                                                                                                 strict=False))]
    stored.append(ledgerstore.pack(files[-1]))
    for i, blob in enumerate(stored[:-1]):
        assert ledgerstore.is_delta(blob) and ledgerstore.delta_base(blob) == f"W{i + 1}"
    for i, expected in enumerate(files):
        chain = stored[i:][::-1]
        assert ledgerstore.resolve(chain) == expected
        assert ledgerstore.unpack(chain) == expected
        taking = ledgerstore.TAKE
        try:
            ledgerstore.TAKE = 3   # the lines taken three at a time
            ledgerstore.unpack_to(chain, path)
        finally:
            ledgerstore.TAKE = taking
        assert path.read_bytes() == expected


def test_a_whole_ledger_is_written_as_stored_in_every_form(tmp_path: Path) -> None:
    """`unpack_to` of a whole file, as every version stored it (`pack`, `pack_file`, and zlib
    before them), gives back its bytes, large (several of the chunks it writes at a time) or
    empty; a stored file that does not unpack to the size it records is refused."""
    import random
    import zlib

    rng = random.Random(7)
    lines = [f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d},客户{i},经理{i % 50},2026-11-24T09:00:00,leads,\r\n"
             for i in range(160_000)]
    big = ("\ufeff手机号码,客户\r\n" + "".join(lines)).encode("utf-8")
    assert len(big) > 2 * ledgerstore.CHUNK
    source = tmp_path / "source.csv"
    out = tmp_path / "ledger.csv"
    for data in (big, b"", b"no newline at the end"):
        source.write_bytes(data)
        for blob in (ledgerstore.pack(data), ledgerstore.pack_file(source), zlib.compress(data, 1)):
            ledgerstore.unpack_to(blob, out)
            assert out.read_bytes() == data
            ledgerstore.unpack_to([blob], out)
            assert out.read_bytes() == data
    packed = ledgerstore.pack(big)
    mark = len(b"\x00zstd1\x1e")
    wrong = packed[:mark] + (len(big) + 1).to_bytes(8, "little") + packed[mark + 8:]
    with pytest.raises(ValueError, match="did not unpack to its size"):
        ledgerstore.unpack_to(wrong, out)


def test_a_file_packed_in_frames_reads_back_in_every_way(tmp_path: Path, monkeypatch: Any) -> None:
    """`pack_file` compresses a file a part at a time, each part a zstd frame of its own: the
    frames together read back whole (`unpack`, `unpack_to`, a week before's parts as the next
    week's splice and delta read them), and the next week stored as a delta against it
    resolves to that week's bytes; the size, pieces and digest it records are the file's."""
    import hashlib
    import random

    monkeypatch.setattr(ledgerstore, "FRAME", 4096)
    rng = random.Random(11)
    lines = [f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d},客户{i},经理{i % 7}\r\n" for i in range(3000)]
    data = ("\ufeff手机号码,客户,归属人\r\n" + "".join(lines)).encode("utf-8")
    source = tmp_path / "ledger.csv"
    source.write_bytes(data)
    blob = ledgerstore.pack_file(source)
    assert blob.count(b"\x28\xb5\x2f\xfd") > len(data) // 4096  # a zstd frame's magic number, one a part
    assert ledgerstore.unpack(blob) == data and ledgerstore.size(blob) == len(data)
    ledgerstore.unpack_to(blob, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == data
    before = ledgerstore.stored_before("2026-W47", blob)
    assert b"".join(before.parts(tmp_path / "scratch")) == data and before.pieces == data.count(b"\n")
    assert blob[len(b"\x00zstd2\x1e") + 16:len(b"\x00zstd2\x1e") + 48] == hashlib.sha256(data).digest()
    after = data + "13800000000,新客户,经理1\r\n".encode()
    source.write_bytes(after)
    delta = ledgerstore.stored_file(source, before, tmp_path / "scratch.csv")
    assert ledgerstore.is_delta(delta) and ledgerstore.resolve([blob, delta]) == after


SQLITE = Store("sqlite")  # these tests read the SQLite file itself


def test_a_delta_is_the_weeks_changes_not_the_whole_file() -> None:
    """A ledger grown by a week's phones and first visits: the week before is stored in a small
    fraction of its whole file's packed size."""
    lines = [f"1380{i:07d},客户{i % 97},经理{i % 50},2026-11-{1 + i % 28:02d}T09:00:00,leads,\r\n" for i in range(60_000)]
    later = [line.replace(",\r\n", ",2026-12-01 10:00:00\r\n") if i % 40 == 0 else line for i, line in enumerate(lines)]
    later[10:10] = [f"1390{i:07d},新客户,经理1,2026-12-01T09:00:00,leads,\r\n" for i in range(3_000)]
    old, new = "".join(lines).encode(), "".join(later).encode()
    delta = ledgerstore.make_delta(old, new, "2026-W49")
    assert ledgerstore.resolve([ledgerstore.pack(new), delta]) == old
    assert len(delta) * 5 < len(ledgerstore.pack(old))


def _stored_ledgers(state: Path) -> dict[str, bytes]:
    with sqlite3.connect(state / "pipeline.db") as db:
        return {week: bytes(blob) for week, blob in db.execute("SELECT week, ledger FROM weeks ORDER BY week")}


_FIVE: list[list[tuple[Any, ...]]] = [
    [("registrations", PHONES[0], 0, 1, 9, 0), ("leads", PHONES[1], 0, 2, 9, 1)],
    [("visits", PHONES[1], 0, 1, 9, 1), ("leads", PHONES[2], 0, 1, 10, 0)],
    [("registrations", PHONES[3], 1, 2, 9, 1), ("visits", PHONES[0], 0, 2, 9, 0)],
    [("leads", PHONES[4], 0, 3, 9, 0), ("deals", PHONES[1], 0, 4, 9, 1)],
    [("visits", PHONES[4], 0, 1, 9, 0), ("leads", PHONES[5], 0, 1, 12, 1)],
]


def _five_weeks(root: Path) -> list[bytes]:
    """Five weeks closed one run each, with new phones, visits and a late registration: the
    ledger.csv each run wrote."""
    (root / "in").mkdir(parents=True)
    first = []
    for k, rows in enumerate(_FIVE):
        _write_inbox(root / "in", k, rows, PEOPLE)
        result = _run(root, MONDAYS[k], SQLITE)
        assert result.exit_code == 0, result.output
        first.append(_outputs(root, week_of(k))[1])
    return first


def _rerender_all(root: Path) -> list[bytes]:
    again = []
    later = MONDAYS[-1] + timedelta(weeks=1)
    for k in range(len(MONDAYS)):
        written_anew(root / "out" / week_of(k))
        result = _run(root, later, SQLITE, "--week", week_of(k))
        assert result.exit_code == 0 and "re-rendered" in result.output, result.output
        again.append(_outputs(root, week_of(k))[1])
    return again


def test_closed_weeks_keep_deltas_and_re_render_byte_identical(tmp_path: Path) -> None:
    """After five weeks the first keeps its whole ledger.csv and each later one is a delta
    against the week before it; a re-render of every week writes the bytes of its first render."""
    first = _five_weeks(tmp_path)
    assert len(set(first)) == len(first), "each week's ledger differs from the others"
    stored = _stored_ledgers(tmp_path / "state")
    weeks = [week_of(k) for k in range(len(MONDAYS))]
    assert list(stored) == weeks
    assert not ledgerstore.is_delta(stored[weeks[0]])
    for k, (earlier, week) in enumerate(zip(weeks, weeks[1:], strict=False)):
        assert ledgerstore.is_delta(stored[week]) and ledgerstore.delta_base(stored[week]) == earlier
        assert ledgerstore.depth(stored[week]) == k + 1
    assert _rerender_all(tmp_path) == first


@pytest.mark.parametrize("big", [False, True], ids=["compared", "spliced"])
def test_a_week_befores_ledger_gone_or_edited_is_read_from_the_state(tmp_path: Path, monkeypatch: Any,
                                                                     big: bool) -> None:
    """The week before's ledger.csv is read from its folder only as it was written: with the
    folder gone, or the file edited (opened and saved in Excel: the same size, a line broken in
    two), each week is made from the state's copy and writes what an untouched run writes;
    every week re-renders to those bytes. Small weeks store ledger.csv by comparing it with the
    week before's; big ones splice it from the week before's lines (`spliced`), the folder gone
    or not, in the same weeks as the untouched run."""
    spliced = tmp_path / "spliced.txt"
    if big:
        _writing_in_processes(monkeypatch, spliced)
    plain = _five_weeks(tmp_path / "plain")
    plain_spliced = spliced.read_text().split() if big else []
    spliced.unlink(missing_ok=True)
    root = tmp_path / "touched"
    (root / "in").mkdir(parents=True)
    made = []
    for k, rows in enumerate(_FIVE):
        if k == 4:
            shutil.rmtree(root / "out" / week_of(3))
        if k == 3:
            edited = root / "out" / week_of(2) / "ledger.csv"
            data = bytearray(edited.read_bytes())
            data[data.index(b"\n") + 5] = ord("\n")
            edited.write_bytes(bytes(data))
        _write_inbox(root / "in", k, rows, PEOPLE)
        result = _run(root, MONDAYS[k], SQLITE)
        assert result.exit_code == 0, result.output
        made.append(_outputs(root, week_of(k))[1])
    assert made == plain
    if big:
        assert {week_of(3), week_of(4)} <= set(plain_spliced) and spliced.read_text().split() == plain_spliced
    assert _rerender_all(root) == plain


@pytest.mark.parametrize("big", [False, True], ids=["compared", "spliced"])
def test_a_state_whose_weeks_are_deltas_against_the_week_after_runs_on(tmp_path: Path, monkeypatch: Any,
                                                                      big: bool) -> None:
    """A state an earlier version left (each closed week a delta against the week after it, the
    newest whole, with no digest to check a folder's file against) upgrades in place: the next
    weeks are made from the state's copy of the newest and chained to it, write what an
    untouched run writes, and every week, old and new, re-renders to its first bytes."""
    spliced = tmp_path / "spliced.txt"
    if big:
        _writing_in_processes(monkeypatch, spliced)
    plain = _five_weeks(tmp_path / "plain")
    root = tmp_path / "old"
    (root / "in").mkdir(parents=True)
    made = []
    for k, rows in enumerate(_FIVE):
        if k == 3:  # as the earlier version stored the three weeks closed so far
            weeks = [week_of(j) for j in range(3)]
            with sqlite3.connect(root / "state" / "pipeline.db") as db:
                db.execute("UPDATE weeks SET ledger = ? WHERE week = ?", (ledgerstore.pack(made[2]), weeks[2]))
                for j in (1, 0):
                    db.execute("UPDATE weeks SET ledger = ? WHERE week = ?",
                               (ledgerstore.make_delta(made[j], made[j + 1], weeks[j + 1]), weeks[j]))
            assert [ledgerstore.is_delta(b) for b in _stored_ledgers(root / "state").values()] == [True, True, False]
        _write_inbox(root / "in", k, rows, PEOPLE)
        result = _run(root, MONDAYS[k], SQLITE)
        assert result.exit_code == 0, result.output
        made.append(_outputs(root, week_of(k))[1])
    assert made == plain
    if big:  # made from the newest old week's lines, decompressed from the state
        assert {week_of(3), week_of(4)} <= set(spliced.read_text().split())
    stored = _stored_ledgers(root / "state")
    assert ledgerstore.delta_base(stored[week_of(3)]) == week_of(2) and ledgerstore.depth(stored[week_of(4)]) == 2
    assert _rerender_all(root) == plain


def test_a_whole_ledger_is_stored_again_after_max_chain_deltas(tmp_path: Path) -> None:
    """Weeks made one from the other's file: each a delta against the week before until the
    chain reaches `MAX_CHAIN`, then one whole again; each resolves from its chain to its bytes."""
    import pyarrow as pa

    folder = tmp_path / "W0"
    folder.mkdir()
    files = [HEADER + b"13800000000,a\r\n"]
    (folder / "ledger.csv").write_bytes(files[0])
    blobs = {"W0": ledgerstore.pack_file(folder / "ledger.csv")}
    chains = {"W0": [blobs["W0"]]}
    for k in range(1, ledgerstore.MAX_CHAIN + 3):
        week, earlier = f"W{k}", f"W{k - 1}"
        before = ledgerstore.before_of(earlier, blobs[earlier], tmp_path / earlier / "ledger.csv",
                                       lambda: pytest.fail("read from its file"))
        (tmp_path / week).mkdir()
        line = pa.array([f"13800{k:06d},b\r\n"], pa.large_string())
        blob = ledgerstore.splice(before, HEADER, list(range(k)), line, [k], tmp_path / week / "ledger.csv",
                                  whole=ledgerstore.whole_due(before))
        assert blob is not None
        files.append(files[-1] + f"13800{k:06d},b\r\n".encode())
        assert (tmp_path / week / "ledger.csv").read_bytes() == files[-1]
        blobs[week] = blob
        chains[week] = [*chains[earlier], blob] if ledgerstore.is_delta(blob) else [blob]
        assert ledgerstore.resolve(chains[week]) == files[-1]
    assert [ledgerstore.depth(blobs[f"W{k}"]) for k in range(ledgerstore.MAX_CHAIN + 3)] == \
        [*range(ledgerstore.MAX_CHAIN + 1), 0, 1]


def test_a_state_of_the_previous_schema_is_migrated_to_deltas(tmp_path: Path) -> None:
    """A state written before deltas (every closed week's whole ledger.csv, schema 6) is
    migrated when opened: the ledgers become deltas but the newest's, and every week still
    re-renders to the bytes it first wrote."""
    first = _five_weeks(tmp_path)
    db = sqlite3.connect(tmp_path / "state" / "pipeline.db")
    with db:  # as the previous version left it: whole ledgers, schema 6
        for k, data in enumerate(first):
            db.execute("UPDATE weeks SET ledger = ? WHERE week = ?", (ledgerstore.pack(data), week_of(k)))
        db.execute("DELETE FROM block_formats WHERE format = 'ldelta1'")
        db.execute("DROP INDEX rows_registrations")  # and without what later schemas add
        db.execute("DROP TABLE sheet_prefixes")
        db.execute("DROP TABLE streaks")
        _without_the_client_visit_log(db)
    db.execute(f"PRAGMA user_version = {MIGRATIONS.index(_ledger_deltas_migration())}")
    db.close()
    assert not any(ledgerstore.is_delta(blob) for blob in _stored_ledgers(tmp_path / "state").values())
    State(tmp_path / "state", create=False).close()
    stored = _stored_ledgers(tmp_path / "state")
    assert [ledgerstore.is_delta(blob) for blob in stored.values()] == [True, True, True, True, False]
    assert _rerender_all(tmp_path) == first


def _without_the_client_visit_log(db: sqlite3.Connection) -> None:
    """What the client-visit log's migration (after these) adds, taken away again, and the
    closed weeks' covering index, the chained snapshots' columns and the closed weeks' roster
    view after it."""
    db.execute("ALTER TABLE weeks DROP COLUMN roster")
    db.execute("ALTER TABLE snapshots DROP COLUMN parent")
    db.execute("ALTER TABLE snapshots DROP COLUMN phones")
    db.execute("DROP INDEX weeks_landings")
    db.execute("DROP TABLE client_visits")
    db.execute("ALTER TABLE weeks DROP COLUMN followups")


def _ledger_deltas_migration() -> str:
    from pipeline.state import LEDGER_DELTAS

    return LEDGER_DELTAS


def test_a_run_closing_several_weeks_chains_their_ledgers(tmp_path: Path) -> None:
    """A run that catches up two weeks at once: the first is a delta against the week closed
    before (which keeps its whole file), the second against the first; each re-renders to its
    first bytes."""
    (tmp_path / "in").mkdir(parents=True)
    first: dict[str, bytes] = {}
    for k, week in ((0, 0), (2, 2)):
        _write_inbox(tmp_path / "in", k, [("leads", PHONES[k], 0, 1, 9, 0), ("visits", PHONES[0], 0, 2, 9, 0),
                                          ("leads", PHONES[k + 1], 1, 3, 9, 1)], PEOPLE)
        result = _run(tmp_path, MONDAYS[week], SQLITE)
        assert result.exit_code == 0, result.output
        for j in range(week + 1):
            first.setdefault(week_of(j), _outputs(tmp_path, week_of(j))[1])
    stored = _stored_ledgers(tmp_path / "state")
    assert {w: ledgerstore.is_delta(b) and ledgerstore.delta_base(b) for w, b in stored.items()} == {
        "2026-W48": False, "2026-W49": "2026-W48", "2026-W50": "2026-W49"}
    later = datetime(2027, 1, 4)
    for week, data in first.items():
        written_anew(tmp_path / "out" / week)
        result = _run(tmp_path, later, SQLITE, "--week", week)
        assert result.exit_code == 0 and "re-rendered" in result.output, result.output
        assert _outputs(tmp_path, week)[1] == data


def _streaks_from_every_week(state: Path) -> dict[str, int]:
    """Each manager's streak in their newest closed week with active days, read from every
    closed week's results.json as stored."""
    found: dict[str, int] = {}
    with sqlite3.connect(state / "pipeline.db") as db:
        for (text,) in db.execute("SELECT results FROM weeks ORDER BY week DESC"):
            for m in json.loads(text)["managers"]:
                if m["active_days"] > 0 and m["name"] not in found:
                    found[m["name"]] = int(m["streak"])
    return found


def test_streaks_kept_as_weeks_close_are_those_of_the_closed_weeks(tmp_path: Path) -> None:
    """The streak a run carries for each manager is the one of their newest assessed closed
    week, kept as weeks close (no run reads every closed week for it); a state of an earlier
    schema gets them from its closed weeks when migrated."""
    _five_weeks(tmp_path)
    expected = _streaks_from_every_week(tmp_path / "state")
    assert expected
    state = State(tmp_path / "state", create=False)
    assert state.last_streaks() == expected
    state.close()
    db = sqlite3.connect(tmp_path / "state" / "pipeline.db")
    with db:
        db.execute("DROP TABLE streaks")
        _without_the_client_visit_log(db)
    db.execute(f"PRAGMA user_version = {MIGRATIONS.index(STREAKS)}")
    db.close()
    state = State(tmp_path / "state", create=False)
    assert state.last_streaks() == expected
    state.close()


HEADER = "\ufeff手机号码,客户\r\n".encode()


@settings(max_examples=150, deadline=None)
@given(phones=st.sets(st.integers(0, 60), max_size=40), data=st.data(), chunk=st.sampled_from([1, 7, 64, 1 << 22]))
def test_a_spliced_ledger_is_the_week_befores_lines_with_the_weeks_own(tmp_path_factory: Any, phones: set[int],
                                                                     data: Any, chunk: int) -> None:
    """ledger.csv made from the week before's (stored whole, read a part at a time) by keeping
    some of its lines and putting new ones between them is the file written whole from the
    same lines in order; the week before's, stored as a delta against it, resolves to its bytes."""
    ordered = sorted(phones)
    old_lines = [f"138{p:08d},客户{p % 3}\r\n".encode() for p in ordered]
    kept = sorted(data.draw(st.sets(st.sampled_from(range(len(ordered))) if ordered else st.nothing())))
    kept_phones = [ordered[k] for k in kept]
    fresh = sorted(data.draw(st.sets(st.integers(0, 60).filter(lambda p: p not in kept_phones), max_size=12)))
    # a named phone's line comes back unchanged or changed
    new_lines = [f"138{p:08d},客户{(p + data.draw(st.integers(0, 1))) % 3}\r\n" for p in fresh]
    before = [sum(1 for k in kept_phones if k < p) for p in fresh]
    old = HEADER + b"".join(old_lines)
    path = tmp_path_factory.mktemp("splice") / "ledger.csv"
    import pyarrow as pa

    expected = HEADER + b"".join(sorted([old_lines[k] for k in kept] + [line.encode() for line in new_lines]))
    file = path.with_name("before.csv")
    file.write_bytes(old)
    packed = ledgerstore.pack(old)
    from_file = ledgerstore.before_of("W1", ledgerstore.pack_file(file), file, lambda: [])
    assert from_file.file == str(file)  # its size and SHA-256 as stored
    for source in (packed, from_file):
        with pytest.MonkeyPatch.context() as patch:  # the old file read in parts of `chunk` bytes
            patch.setattr(ledgerstore, "CHUNK", chunk)
            delta = ledgerstore.splice(source, HEADER, kept, pa.array(new_lines, pa.large_string()), before, path,
                                       "W1")
        assert delta is not None and path.read_bytes() == expected
        assert ledgerstore.delta_base(delta) == "W1" and ledgerstore.resolve([packed, delta]) == expected
        assert ledgerstore.size(delta) == len(expected) and ledgerstore.depth(delta) == 1
        with pytest.MonkeyPatch.context() as patch:  # stored whole as frames of 37 bytes: parts cut across writes
            patch.setattr(ledgerstore, "FRAME", 37)
            whole = ledgerstore.splice(source, HEADER, kept, pa.array(new_lines, pa.large_string()), before, path,
                                       "W1", whole=True)
        assert whole is not None and not ledgerstore.is_delta(whole) and path.read_bytes() == expected
        assert ledgerstore.unpack(whole) == expected and ledgerstore.size(whole) == len(expected)
        # what the next week checks the file against: both stored forms name it
        for stored in (delta, whole):
            assert ledgerstore.before_of("W2", stored, path, lambda: []).file == str(path)


def test_a_splice_refuses_a_file_that_is_not_the_one_its_positions_are_of(tmp_path: Path) -> None:
    """Another header (the office's language changed), or fewer lines than the positions name:
    nothing is made (the week's ledger.csv is then written whole)."""
    import pyarrow as pa

    old = HEADER + b"13800000001,a\r\n13800000002,b\r\n"
    none = pa.array([], pa.large_string())
    assert ledgerstore.splice(ledgerstore.pack(old), b"\xef\xbb\xbfphone,customer\r\n", [0], none, [],
                              tmp_path / "a.csv", "W2") is None
    assert ledgerstore.splice(ledgerstore.pack(old), HEADER, [0, 2], none, [], tmp_path / "b.csv", "W2") is None
    assert ledgerstore.splice(ledgerstore.pack(old), HEADER, [0, 1], none, [], tmp_path / "c.csv", "W2") is not None


@settings(max_examples=100, deadline=None)
@given(lines=st.integers(0, 6), kept=st.lists(st.integers(0, 8), max_size=4, unique=True),
       header=st.sampled_from([HEADER, "\ufeffphone,customer\r\n".encode()]), tail=st.sampled_from([b"", b"1380"]),
       chunk=st.sampled_from([1, 7, 1 << 22]))
def test_splices_says_whether_a_splice_applies(tmp_path_factory: Any, lines: int, kept: list[int], header: bytes,
                                               tail: bytes, chunk: int) -> None:
    """`splices` (checked before the run lets go of the ledger it would write ledger.csv from
    otherwise) says True exactly where `splice` makes the file: the header, the lines the
    positions name, the last line ended."""
    import pyarrow as pa

    data = HEADER + b"".join(f"138{p:08d},a\r\n".encode() for p in range(lines)) + tail
    kept = sorted(kept)
    path = tmp_path_factory.mktemp("splices") / "ledger.csv"
    file = path.with_name("before.csv")
    file.write_bytes(data)
    # stored whole (read through), and its file checked as stored (asked its ends: its lines are stored)
    for old in (ledgerstore.pack(data), ledgerstore.before_of("W1", ledgerstore.pack_file(file), file, lambda: [])):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ledgerstore, "CHUNK", chunk)
            made = ledgerstore.splice(old, header, kept, pa.array([], pa.large_string()), [], path, "W1")
            assert ledgerstore.splices(old, header, kept) == (made is not None)


@settings(max_examples=150, deadline=None)
@given(phones=st.sets(st.text("0123456789+ab", min_size=1, max_size=40), max_size=30), data=st.data(),
       chunk=st.sampled_from([1, 7, 64, 1 << 22]))
def test_line_positions_finds_each_phones_line_in_the_week_befores_file(tmp_path_factory: Any, phones: set[str],
                                                                       data: Any, chunk: int) -> None:
    """The lines of some of a ledger.csv's phones, found by their first cell: their positions
    after the header, in order, whatever the phones (numbers of one length, texts, longer than
    a fixed-width key) and however the file is read in parts; None where the header is another
    or a phone has no line there."""
    import pyarrow as pa

    ordered = sorted(phones, key=lambda p: p.encode())
    old = HEADER + b"".join(f"{p},客户,张伟\r\n".encode() for p in ordered)
    kept = sorted(data.draw(st.sets(st.sampled_from(range(len(ordered))) if ordered else st.nothing())))
    wanted = pa.array([ordered[k] for k in kept], pa.string())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledgerstore, "CHUNK", chunk)
        found = ledgerstore.line_positions(ledgerstore.pack(old), HEADER, wanted)
        assert found is not None and found.tolist() == kept
        assert ledgerstore.line_positions(ledgerstore.pack(old), "\ufeffphone,customer\r\n".encode(), wanted) is None
        missing = pa.array([*(ordered[k] for k in kept), "13899999999x"], pa.string())
        assert ledgerstore.line_positions(ledgerstore.pack(old), HEADER, missing) is None


def test_line_positions_in_a_file_not_in_the_order_of_its_bytes(tmp_path: Path) -> None:
    """Phones not in the order of their bytes (a file another version wrote) are found all the
    same; a ledger stored as a delta has no lines of its own to find."""
    import pyarrow as pa

    old = HEADER + b"13800000002,a\r\n13800000001,b\r\n13800000003,c\r\n"
    found = ledgerstore.line_positions(ledgerstore.pack(old), HEADER, pa.array(["13800000001", "13800000003"]))
    assert found is not None and found.tolist() == [1, 2]
    backwards = ledgerstore.line_positions(ledgerstore.pack(old), HEADER, pa.array(["13800000001", "13800000002"]))
    assert backwards is None  # not in the file's order
    new = HEADER + b"13800000001,b\r\n"
    delta = ledgerstore.make_delta(old, new, "W2")
    assert ledgerstore.line_positions(delta, HEADER, pa.array(["13800000001"])) is None


def test_a_splice_given_the_kept_lines_phones_finds_them_in_the_file(tmp_path: Path) -> None:
    """Kept lines given by their phones (`KeptLines`) splice the file their positions would; a
    phone with no line in the week before's file makes nothing (ledger.csv is then written whole)."""
    import pyarrow as pa

    old = ledgerstore.pack(HEADER + b"13800000001,a\r\n13800000002,b\r\n13800000004,d\r\n")
    new = pa.array(["13800000003,c\r\n"], pa.large_string())
    by_positions = ledgerstore.splice(old, HEADER, [0, 2], new, [1], tmp_path / "a.csv", "W1")
    by_phones = ledgerstore.splice(old, HEADER, ledgerstore.KeptLines(pa.array(["13800000001", "13800000004"])), new,
                                   [1], tmp_path / "b.csv", "W1")
    assert by_positions is not None and by_phones == by_positions
    assert (tmp_path / "b.csv").read_bytes() == HEADER + b"13800000001,a\r\n13800000003,c\r\n13800000004,d\r\n"
    gone = ledgerstore.KeptLines(pa.array(["13800000001", "13800000005"]))
    assert ledgerstore.splice(old, HEADER, gone, new, [1], tmp_path / "c.csv", "W1") is None

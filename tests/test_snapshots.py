"""Snapshots: a run starts from what the rules carried past the last closed week and replays only
the newer rows, with the same results as a replay of the whole history (`--full-replay`, the
reference), whatever arrives late and whether or not any snapshot is left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.cli import cli
from pipeline.state import State, open_state
from tests.conftest import Store
from tests.helpers import (
    ADJUSTMENTS,
    CANCELLATIONS,
    DEALS,
    LEADS,
    REGISTRATIONS,
    RULINGS,
    UNITS,
    VISITS,
    roster,
    workbook,
    written_anew,
)

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王强", "大客户经理", "二组", "wq@example.com", None, None],
    ["李娜", "销售员", "一组", None, None, None],
    ["赵敏", "销售员", "二组", None, None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]
# A roster that decides earlier rows differently: 王强 left before the first week.
LEFT = [p if p[0] != "王强" else [*p[:4], None, datetime(2026, 11, 1)] for p in PEOPLE]
# A roster that decides no earlier row differently: a manager who starts later joins.
JOINED = [*PEOPLE, ["孙丽", "大客户经理", "一组", "sl@example.com", datetime(2027, 3, 1), None]]
# A roster without the leader: the rulings 刘总 approved are NOT_APPROVED, and owners change back.
NO_LEADER = [p for p in PEOPLE if p[0] != "刘总"]

MONDAYS = [datetime(2026, 11, 23) + timedelta(weeks=k) for k in range(5)]  # W48 ...
PHONES = [13800138000 + i for i in range(6)]
MANAGERS = ["张伟", "王强", "陈某"]  # 陈某 is in no roster
SALES = ["李娜", "赵敏"]


def week_of(k: int) -> str:
    return f"2026-W{48 + k}"


def _office(root: Path, store: Store) -> Store:
    """Each folder an office of its own (on PostgreSQL, of the one database)."""
    return store.other(str(root))


def _run(root: Path, monday: datetime, store: Store, *args: str, body: str = "") -> Any:
    """A run of the office in `root`; `body`: its configuration's TOML (the state's added)."""
    config = ["--config", str(_office(root, store).write_config(root / "store.toml", body))] if body else \
        _office(root, store).args(root)
    argv = ["run", "--inbox", str(root / "in"), "--out", str(root / "out"), "--state", str(root / "state"),
            "--now", f"{(monday + timedelta(days=7)).date()}T08:00:00", *config, *args]
    return CliRunner().invoke(cli, argv, catch_exceptions=False)


@contextmanager
def _state(root: Path, store: Store) -> Iterator[State]:
    office = _office(root, store)
    state = open_state(root / "state", office.url, office.office, create=False)
    try:
        yield state
    finally:
        state.close()


def _outputs(root: Path, week: str) -> tuple[str, bytes]:
    folder = root / "out" / week
    return (folder / "results.json").read_text(encoding="utf-8"), (folder / "ledger.csv").read_bytes()


# One row: (kind, phone, weeks back from the week run (0: this week), day, hour, who)
KINDS = ["registrations", "leads", "visits", "deals", "units", "rulings", "cancellations", "adjustments"]
row = st.tuples(st.sampled_from(KINDS), st.sampled_from(PHONES),
                st.integers(0, 2), st.integers(0, 6), st.integers(8, 20), st.integers(0, 2))
week_rows = st.lists(row, max_size=8)


def _write_inbox(inbox: Path, k: int, rows: list[tuple[Any, ...]], people: list[list[Any]]) -> None:
    by_kind: dict[str, list[list[Any]]] = {}
    for kind, phone, back, day, hour, who in rows:
        at = MONDAYS[max(0, k - back)] + timedelta(days=day, hours=hour, minutes=len(by_kind.get(kind, [])))
        manager = MANAGERS[who]
        if kind == "registrations":
            by_kind.setdefault(kind, []).append([phone, at, manager, "客户"])
        elif kind == "leads":
            by_kind.setdefault(kind, []).append([manager, phone, at, ""])
        elif kind == "visits":
            by_kind.setdefault(kind, []).append([manager, phone, at, SALES[who % 2]])
        elif kind == "deals":
            by_kind.setdefault(kind, []).append([phone, at, SALES[who % 2], "3000", f"1-{phone % 100}"])
        elif kind == "rulings":  # approved by the leader, or by a manager: NOT_APPROVED
            by_kind.setdefault(kind, []).append([phone, manager, at, "刘总" if who != 1 else "王强"])
        elif kind == "cancellations":  # of a room, or of the phone's latest deal
            by_kind.setdefault(kind, []).append([phone, at, f"1-{phone % 100}" if who == 0 else None])
        elif kind == "adjustments":
            by_kind.setdefault(kind, []).append([manager, f"-{phone % 7}0" if who else f"{phone % 5}5.5",
                                                 at, "刘总", f"原因{phone % 2}"])
        else:
            by_kind.setdefault(kind, []).append([manager, f"单位{phone % 3}", at, "照片.jpg"])
    headers = {"registrations": REGISTRATIONS, "leads": LEADS, "visits": VISITS, "deals": DEALS, "units": UNITS,
               "rulings": RULINGS, "cancellations": CANCELLATIONS, "adjustments": ADJUSTMENTS}
    for kind, values in by_kind.items():
        workbook(inbox / f"{kind}-{k}.xlsx", {kind: (headers[kind], values)})
    roster(inbox / "名单.xlsx", people)


def _cron(root: Path, weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]], store: Store, *args: str,
          forget_snapshots: bool = False, body: str = "") -> list[tuple[str, bytes]]:
    (root / "in").mkdir(parents=True)
    seen = []
    for k, (rows, people) in enumerate(weeks):
        if forget_snapshots and k:
            with _state(root, store) as state:
                state.conn.execute("DELETE FROM snapshots")
        _write_inbox(root / "in", k, rows, people)
        # a drawn week may hold no leads, visits or units: closed as it is (EMPTY_WEEK)
        result = _run(root, MONDAYS[k], store, "--force", *args, body=body)
        assert result.exit_code == 0, result.output
        seen.append(_outputs(root, week_of(k)))
    return seen


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(weeks=st.lists(st.tuples(week_rows, st.sampled_from([PEOPLE, PEOPLE, JOINED, LEFT, NO_LEADER])), min_size=2,
                     max_size=4),
       window=st.sampled_from([0, 0, 1, 3]))
def test_replay_from_snapshots_gives_the_full_replays_results(tmp_path_factory: Any, weeks: Any,
                                                               window: int, store: Store) -> None:
    """Multi-week histories with late registrations, deals and corrections (rulings,
    cancellations, adjustments), protection windows, and rosters that change: every
    week's results.json and ledger.csv are the same from snapshots, from a full replay, and with
    every snapshot deleted before each run; on either engine."""
    root = tmp_path_factory.mktemp("cron")
    body = f"[ownership]\nprotection_days = {window}\n"  # with a protection window (§7.5), leads lapse without a visit
    incremental = _cron(root / "snap", weeks, store, body=body)
    assert incremental == _cron(root / "full", weeks, store, "--full-replay", body=body)
    assert incremental == _cron(root / "none", weeks, store, body=body, forget_snapshots=True)


def _snapshot_weeks(root: Path, store: Store) -> list[str]:
    with _state(root, store) as state:
        return sorted(s[0] for s in state.snapshots())


def test_each_run_stores_a_snapshot_and_a_late_registration_replaces_the_stale_ones(tmp_path: Path,
                                                                                  store: Store) -> None:
    """A run stores the snapshot of the last week it closed, or, when its own rows reach back
    into closed weeks, of the week before its first one; a registration dated in a closed week
    makes the snapshots after it stale (dropped), and the results still match the full
    replay's."""
    quiet: list[tuple[Any, ...]] = [("leads", PHONES[0], 0, 1, 9, 0), ("visits", PHONES[0], 0, 2, 9, 0)]
    late: list[tuple[Any, ...]] = [("registrations", PHONES[1], 2, 1, 9, 1), ("leads", PHONES[1], 0, 1, 10, 0),
                                   ("deals", PHONES[0], 1, 3, 9, 0)]
    weeks = [(quiet, PEOPLE), (quiet, PEOPLE), (quiet, PEOPLE), (late, PEOPLE)]
    seen = _cron(tmp_path / "snap", weeks[:3], store)
    assert _snapshot_weeks(tmp_path / "snap", store) == ["2026-W48", "2026-W49", "2026-W50"]
    _write_inbox(tmp_path / "snap" / "in", 3, late, PEOPLE)
    assert _run(tmp_path / "snap", MONDAYS[3], store).exit_code == 0
    seen.append(_outputs(tmp_path / "snap", week_of(3)))
    # dated in W49: the snapshots of W49's and W50's end did not hold it; W50's is taken again
    assert _snapshot_weeks(tmp_path / "snap", store) == ["2026-W48", "2026-W50"]
    assert seen == _cron(tmp_path / "full", weeks, store, "--full-replay")
    w51 = seen[-1][0]
    assert '"ALREADY_REGISTERED"' in w51 and '"late": true' in w51


def test_a_snapshot_of_another_version_is_ignored(tmp_path: Path, store: Store) -> None:
    """A snapshot whose tag names other rules is not trusted: the run replays the whole history."""
    weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]] = [
        ([("leads", PHONES[0], 0, 1, 9, 0)], PEOPLE), ([("visits", PHONES[0], 0, 1, 9, 0)], PEOPLE)]
    _cron(tmp_path / "a", weeks[:1], store)
    with _state(tmp_path / "a", store) as state:  # unreadable if it were read
        state.conn.execute("UPDATE snapshots SET version = 'carried0', owners = ?", (b"\x00",))
    _write_inbox(tmp_path / "a" / "in", 1, weeks[1][0], PEOPLE)
    assert _run(tmp_path / "a", MONDAYS[1], store).exit_code == 0
    assert _outputs(tmp_path / "a", week_of(1)) == _cron(tmp_path / "b", weeks, store)[1]
    shutil.rmtree(tmp_path / "b")


def _stored_phones(root: Path, store: Store, week: str) -> Any:
    """The phones stored with a chained snapshot's ledger, as read back (keys or text)."""
    from pipeline.state import snapshot_reader

    with _state(root, store) as state:
        blob = state.conn.execute("SELECT phones FROM snapshots WHERE week = ?", (week,)).fetchone()[0]
    return snapshot_reader(bytes(blob)).read_all().column("phone")


def test_a_snapshot_an_earlier_version_stored_with_its_phones_as_text_is_started_from(tmp_path: Path,
                                                                                        store: Store) -> None:
    """A chained snapshot stores its ledger's phones as their keys (integers); one stored by the
    version before (its phones as text, tagged carried2) is read as it is: the run after the
    upgrade starts from it and writes what a full replay writes, and its own snapshot stores keys."""
    import pyarrow as pa

    from pipeline.state import encode_snapshot_table

    weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]] = [
        ([("registrations", p, 0, 0, 8, i % 2) for i, p in enumerate(PHONES[:4])] +
         [("leads", PHONES[4], 0, 1, 9, 0)], PEOPLE),
        ([("visits", PHONES[0], 0, 2, 9, 0)], PEOPLE),
        ([("leads", PHONES[5], 0, 1, 9, 1), ("visits", PHONES[4], 0, 2, 9, 0)], PEOPLE),
    ]
    root = tmp_path / "snap"
    seen = _cron(root, weeks[:2], store)
    keys = _stored_phones(root, store, week_of(1))
    assert pa.types.is_int64(keys.type) and keys.to_pylist() == sorted(PHONES[:5])
    as_text = encode_snapshot_table(pa.table({"phone": pa.array([str(k) for k in keys.to_pylist()], pa.string())}))
    with _state(root, store) as state:
        state.conn.execute("UPDATE snapshots SET phones = ?, version = 'carried2 rules2' WHERE week = ?",
                           (as_text, week_of(1)))
    _write_inbox(root / "in", 2, weeks[2][0], PEOPLE)
    assert _run(root, MONDAYS[2], store).exit_code == 0
    seen.append(_outputs(root, week_of(2)))
    logs = [json.loads(log.read_text(encoding="utf-8")) for log in (root / "state" / "logs").glob("*.json")]
    assert [log["replay_from"] for log in logs if log["weeks"] == [week_of(2)]] == [week_of(1)]
    assert _stored_phones(root, store, week_of(2)).to_pylist() == sorted(PHONES)
    assert seen == _cron(tmp_path / "full", weeks, store, "--full-replay")


def test_a_snapshot_does_not_hold_for_a_roster_with_other_leaders(tmp_path: Path, store: Store) -> None:
    """A ruling approved by someone who is not a leader yet changes nobody's customer; once the
    roster names them leader, the whole history's ruling stands (the current roster applies to
    the replay): the snapshot taken under the old roster is not used, and the deal after the
    ruling pays the ruled owner, as in a full replay."""
    weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]] = [
        ([("leads", PHONES[0], 0, 0, 9, 1), ("rulings", PHONES[0], 0, 1, 9, 0)], NO_LEADER),
        ([("deals", PHONES[0], 0, 2, 9, 0), ("leads", PHONES[1], 0, 0, 9, 0)], PEOPLE)]
    seen = _cron(tmp_path / "snap", weeks, store)
    assert seen == _cron(tmp_path / "full", weeks, store, "--full-replay")
    first, second = (json.loads(results) for results, _ledger in seen)
    assert [r["reason"] for r in first["rejections"]] == ["NOT_APPROVED"]
    assert [(d["manager"], d["kind"]) for d in second["deals"]] == [("张伟", "lead")]


def _writing_in_processes(monkeypatch: Any, spliced: Path | None = None) -> None:
    """Every week written as a big one is (the ledger's files in a process of their own); with
    `spliced`, each ledger.csv made from the week before's lines (`ledgerstore.splice`, by the
    process given the splice instead of the ledger) adds a line to that file, written here as
    that process's result comes back spliced."""
    from pipeline.report import write

    monkeypatch.setattr(write, "PARALLEL_FROM_ROWS", 0)
    monkeypatch.setattr(write, "ASIDE_FROM_BYTES", 0)
    if spliced is not None:
        result = write.Aside.result

        def counted(self: Any) -> Any:
            made = result(self)
            if self.plan.splice is not None and made is not None and made != write.UNSPLICED:
                with spliced.open("a", encoding="utf-8") as fh:
                    fh.write(f"{self.plan.report.week}\n")
            return made

        monkeypatch.setattr(write.Aside, "result", counted)


def _rerendered(root: Path, store: Store, weeks: int) -> list[bytes]:
    """Each closed week's ledger.csv as a re-render writes it from the state."""
    seen = []
    for k in range(weeks):
        written_anew(root / "out" / week_of(k))
        assert _run(root, MONDAYS[-1], store, "--week", week_of(k)).exit_code == 0
        seen.append((root / "out" / week_of(k) / "ledger.csv").read_bytes())
    return seen


def _as_a_full_replay_and_rerendered(tmp_path: Path, weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]],
                                     store: Store, body: str, seen: list[tuple[str, bytes]]) -> None:
    """The weeks run in `tmp_path / "snap"` (`seen`) wrote what a full replay of them writes, and
    every closed week there re-renders to the ledger.csv it had."""
    assert seen == _cron(tmp_path / "full", weeks, store, "--full-replay", body=body)
    assert _rerendered(tmp_path / "snap", store, len(weeks)) == [ledger for _, ledger in seen]


def test_a_ledger_made_from_the_week_befores_lines_is_the_one_a_full_replay_writes(tmp_path: Path, store: Store,
                                                                                   monkeypatch: Any) -> None:
    """Written as a big week is, each week's ledger.csv is the week before's lines with the
    week's changed ones (new phones, first visits, a lapsed lead, a ruled owner), the same bytes
    as a full replay's; and every closed week re-renders to the bytes it had, its stored ledger
    now a delta against the next week's."""
    spliced = tmp_path / "spliced.txt"
    _writing_in_processes(monkeypatch, spliced)
    weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]] = [
        ([("registrations", p, 0, 0, 8, i % 2) for i, p in enumerate(PHONES[:4])] +
         [("leads", PHONES[4], 0, 1, 9, 0)], PEOPLE),
        ([("visits", PHONES[0], 0, 2, 9, 0), ("leads", PHONES[5], 0, 1, 9, 1)], PEOPLE),
        ([("rulings", PHONES[1], 0, 1, 9, 0), ("units", PHONES[2], 0, 1, 9, 0)], PEOPLE),
        ([("leads", PHONES[3], 0, 1, 9, 1), ("visits", PHONES[5], 0, 3, 9, 1)], PEOPLE),
    ]
    body = "[ownership]\nprotection_days = 3\n"
    seen = _cron(tmp_path / "snap", weeks, store, body=body)
    assert spliced.read_text(encoding="utf-8").split() == [week_of(k) for k in range(1, len(weeks))]
    _as_a_full_replay_and_rerendered(tmp_path, weeks, store, body, seen)


def test_a_week_whose_rows_reach_into_the_closed_week_has_its_lines_from_that_weeks_file(
        tmp_path: Path, store: Store, monkeypatch: Any) -> None:
    """A run whose rows are dated in the week closed before (a cumulative registrations sheet
    dropped again) replays from the snapshot at that week's start; its ledger.csv is still that
    closed week's lines for the phones no row since names, with the changed ones put between
    them: the same bytes as a full replay's, and every closed week re-renders to the bytes it
    had (its stored ledger a delta against the next week's)."""
    spliced = tmp_path / "spliced.txt"
    _writing_in_processes(monkeypatch, spliced)
    weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]] = [
        ([("registrations", p, 0, 0, 8, i % 2) for i, p in enumerate(PHONES[:3])] +
         [("leads", PHONES[3], 0, 1, 9, 0)], PEOPLE),
        ([("registrations", PHONES[4], 1, 2, 9, 1), ("visits", PHONES[0], 0, 2, 9, 0)], PEOPLE),
        ([("registrations", PHONES[5], 1, 3, 9, 0), ("rulings", PHONES[1], 0, 1, 9, 0)], PEOPLE),
        ([("registrations", PHONES[5], 1, 4, 9, 1), ("leads", PHONES[2], 0, 1, 9, 1),
          ("visits", PHONES[3], 0, 3, 9, 0)], PEOPLE),
    ]
    body = "[ownership]\nprotection_days = 3\n"
    seen = _cron(tmp_path / "snap", weeks, store, body=body)
    logs = [json.loads(log.read_text(encoding="utf-8")) for log in (tmp_path / "snap" / "state" / "logs").glob("*.json")]
    assert sorted((log["weeks"], log["replay_from"]) for log in logs) == \
        [([week_of(0)], None), ([week_of(1)], None), ([week_of(2)], week_of(0)), ([week_of(3)], week_of(1))]
    assert spliced.read_text(encoding="utf-8").split() == [week_of(k) for k in (2, 3)]
    _as_a_full_replay_and_rerendered(tmp_path, weeks, store, body, seen)


def test_a_closed_weeks_lines_are_not_kept_when_the_roster_that_made_them_decides_otherwise(
        tmp_path: Path, store: Store, monkeypatch: Any) -> None:
    """王强's lead comes before 张伟's registration of the same phone. The roster of the second
    and fourth weeks says 王强 left before the first week (his lead does not count: 张伟 owns the
    phone), the third week's that he did not (王强 owns it). The fourth week brings a row dated
    in the third, so its replay starts from the snapshot of the second week's roster; no row
    stored since names the phone. The third week's ledger.csv line for it was made by the other
    roster: the fourth week writes 张伟 as a full replay does, not the third week's line."""
    _writing_in_processes(monkeypatch)
    weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]] = [
        ([("leads", PHONES[3], 0, 0, 8, 1), ("registrations", PHONES[3], 0, 0, 16, 0)], PEOPLE),
        ([], LEFT),
        ([], PEOPLE),
        ([("registrations", PHONES[1], 1, 2, 8, 0)], LEFT),
    ]
    seen = _cron(tmp_path / "snap", weeks, store)
    owners = [{line.split(",")[0]: line.split(",")[2] for line in ledger.decode("utf-8").splitlines()[1:]}
              for _, ledger in seen]
    assert [o[str(PHONES[3])] for o in owners] == ["王强", "张伟", "王强", "张伟"]
    _as_a_full_replay_and_rerendered(tmp_path, weeks, store, "", seen)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(weeks=st.lists(st.tuples(week_rows, st.sampled_from([PEOPLE, PEOPLE, JOINED, LEFT, NO_LEADER])), min_size=2,
                     max_size=4),
       window=st.sampled_from([0, 1, 3]))
def test_big_weeks_from_snapshots_give_the_full_replays_results_and_rerender(tmp_path_factory: Any, weeks: Any,
                                                                             window: int, store: Store,
                                                                             monkeypatch: Any) -> None:
    """As `test_replay_from_snapshots_gives_the_full_replays_results`, every week written as a
    big one is (its ledger.csv from the week before's where it can be): the same results.json and
    ledger.csv as a full replay's, and each closed week re-renders to the same ledger.csv."""
    _writing_in_processes(monkeypatch)
    root = tmp_path_factory.mktemp("cron")
    body = f"[ownership]\nprotection_days = {window}\n"
    incremental = _cron(root / "snap", weeks, store, body=body)
    assert incremental == _cron(root / "full", weeks, store, "--full-replay", body=body)
    assert _rerendered(root / "snap", store, len(weeks)) == [ledger for _, ledger in incremental]


def test_a_snapshot_is_chained_to_the_one_it_started_from_until_it_is_stored_whole_again(
        tmp_path: Path, store: Store, monkeypatch: Any) -> None:
    """From a snapshot, the next one's ledger holds only the rows of the phones its run walked
    and names the snapshot it started from; once a snapshot chained to it would make the chain
    `CHAIN_WEEKS` long, the run stores the ledger of the one it started from whole again (in a
    process of its own) and chains its own to it. Each week's ledger.csv is still spliced from
    the week before's lines, every week's results.json and ledger.csv are a full replay's, every
    closed week re-renders to its ledger.csv, and the snapshots a kept one is chained to are kept
    (the older ones, no longer read, are not)."""
    from pipeline.rules import replay

    monkeypatch.setattr(replay, "CHAIN_WEEKS", 3)
    monkeypatch.setattr(replay, "CHAIN_SHARE", 100.0)  # a few phones: whole again by the weeks alone
    spliced = tmp_path / "spliced.txt"
    _writing_in_processes(monkeypatch, spliced)
    weeks: list[tuple[list[tuple[Any, ...]], list[list[Any]]]] = [
        ([("registrations", p, 0, 0, 8, i % 2) for i, p in enumerate(PHONES[:3])] +
         [("leads", PHONES[3], 0, 1, 9, 0)], PEOPLE),
        ([("visits", PHONES[0], 0, 2, 9, 0), ("leads", PHONES[4], 0, 1, 9, 1)], PEOPLE),
        ([("rulings", PHONES[1], 0, 1, 9, 0), ("units", PHONES[2], 0, 1, 9, 0)], PEOPLE),
        ([("leads", PHONES[5], 0, 1, 9, 1), ("visits", PHONES[4], 0, 3, 9, 1)], PEOPLE),
        ([("visits", PHONES[3], 0, 2, 9, 0), ("deals", PHONES[0], 0, 3, 9, 0)], PEOPLE),
    ]
    seen = _cron(tmp_path / "snap", weeks, store)
    with _state(tmp_path / "snap", store) as state:
        parents = dict(state.conn.execute("SELECT week, parent FROM snapshots").fetchall())
        usable = sorted(week for week, *_ in state.snapshots() if state.snapshot(week)["visits"] is not None)
        chained = {week: state.snapshot(week)["owners"] for week in parents}
    # W51's run started from W50's (chained to W49, to W48): it stored W50's ledger whole again
    assert parents == {week_of(2): None, week_of(3): week_of(2), week_of(4): week_of(3)}
    assert usable == [week_of(2), week_of(3), week_of(4)]
    # chained: the walked phones' rows alone; the ledger read back whole is the week's ledger.csv's
    assert chained[week_of(2)].depth == 0 and chained[week_of(2)].changed_rows == 0
    assert chained[week_of(3)].changed_rows == 2 and len(chained[week_of(3)].phones) == 6
    assert chained[week_of(4)].changed_rows == 4 and len(chained[week_of(4)].phones) == 6
    for k, (_, ledger) in enumerate(seen):
        if week_of(k) not in chained:
            continue
        lines = ledger.decode("utf-8").splitlines()[1:]
        assert [line.split(",")[0] for line in lines] == chained[week_of(k)].whole().column("phone").to_pylist()
    assert spliced.read_text(encoding="utf-8").split() == [week_of(k) for k in range(1, len(weeks))]
    assert seen == _cron(tmp_path / "full", weeks, store, "--full-replay")
    assert _rerendered(tmp_path / "snap", store, len(weeks)) == [ledger for _, ledger in seen]


def _cli_run(root: Path, monday: datetime, store: Store, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line in a process of its own, its chains stored whole again from two
    snapshots on (`CHAIN_WEEKS`), killed at `crash` (`run._crash_point`) if given."""
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CRASH_AT"}
    if crash:
        env["PIPELINE_CRASH_AT"] = crash
    argv = ["run", "--inbox", str(root / "in"), "--out", str(root / "out"), "--state", str(root / "state"),
            "--now", f"{(monday + timedelta(days=7)).date()}T08:00:00", "--force", *_office(root, store).args(root)]
    code = "import sys; from pipeline.rules import replay; replay.CHAIN_WEEKS = 2; from pipeline.cli import cli; cli()"
    return subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, timeout=300)


def test_a_run_killed_after_storing_a_ledger_whole_again_loses_nothing(tmp_path: Path, store: Store) -> None:
    """The third week's run starts from a snapshot chained to the first week's: a process of its
    own stores that snapshot's ledger whole again. Killed once it is stored (inside the commit's
    transaction), nothing changed: the next run closes the week as an uninterrupted office does,
    with the snapshot it started from whole and its own chained to it, and the next week's run
    starts from there with a full replay's results."""
    weeks = [
        ([("registrations", p, 0, 0, 8, i % 2) for i, p in enumerate(PHONES[:3])] + [("leads", PHONES[3], 0, 1, 9, 0)],
         PEOPLE),
        ([("visits", PHONES[0], 0, 2, 9, 0), ("leads", PHONES[4], 0, 1, 9, 1)], PEOPLE),
        ([("rulings", PHONES[1], 0, 1, 9, 0), ("units", PHONES[2], 0, 1, 9, 0)], PEOPLE),
        ([("leads", PHONES[5], 0, 1, 9, 1), ("visits", PHONES[4], 0, 3, 9, 1)], PEOPLE),
    ]
    offices = {"plain": store.other("plain"), "killed": store.other("killed")}
    for name, office in offices.items():
        (tmp_path / name / "in").mkdir(parents=True)
        for k, (rows, people) in enumerate(weeks):
            _write_inbox(tmp_path / name / "in", k, rows, people)
            if name == "killed" and k == 2:
                crashed = _cli_run(tmp_path / name, MONDAYS[k], office, crash="after_whole_ledger")
                assert crashed.returncode == -9, crashed.stderr
                with _state(tmp_path / name, office) as state:  # as before the run
                    assert dict(state.conn.execute("SELECT week, parent FROM snapshots").fetchall()) == {
                        week_of(0): None, week_of(1): week_of(0)}
            done = _cli_run(tmp_path / name, MONDAYS[k], office)
            assert done.returncode == 0, done.stderr
            if k == 2:
                with _state(tmp_path / name, office) as state:
                    parents = dict(state.conn.execute("SELECT week, parent FROM snapshots").fetchall())
                    assert parents == {week_of(0): None, week_of(1): None, week_of(2): week_of(1)}, name
                    assert state.snapshot(week_of(1))["owners"].depth == 0
    for k in range(len(weeks)):
        assert _outputs(tmp_path / "killed", week_of(k)) == _outputs(tmp_path / "plain", week_of(k))
    full = tmp_path / "full"
    assert _cron(full, weeks, store, "--full-replay") == [_outputs(tmp_path / "plain", week_of(k))
                                                          for k in range(len(weeks))]


def _ledger_blob(rows: list[tuple[str, ...]], metadata: dict[str, str], step: int) -> bytes:
    """Rows of a snapshot's ledger encoded as `state.encode_snapshot` stores them, `step` rows a batch."""
    import pyarrow as pa

    from pipeline.records import Ledger
    from pipeline.state import encode_snapshot_table

    table = Ledger.from_rows(rows).table
    schema = table.schema.with_metadata(metadata)
    return encode_snapshot_table(pa.RecordBatchReader.from_batches(schema, table.to_batches(max(step, 1))))


ledger_phone = st.one_of(st.integers(13000000000, 13000000060).map(str), st.sampled_from(["+86 1", "甲", "0"]))
ledger_row = st.tuples(ledger_phone, st.sampled_from(["客户", ""]), st.sampled_from(["张伟", "王强", ""]),
                       st.sampled_from(["2026-01-05T09:00:00", "2026-02-01T10:30:00"]),
                       st.sampled_from(["registrations", "leads", "rulings"]),
                       st.sampled_from([None, "2026-03-01T09:00:00"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.lists(ledger_row, max_size=25, unique_by=lambda r: r[0]),
       changes=st.lists(st.lists(ledger_row, max_size=8, unique_by=lambda r: r[0]), max_size=3),
       loose=st.integers(0, 5), step=st.integers(1, 7), stream=st.integers(1, 6), data=st.data())
def test_a_chained_ledger_read_a_batch_at_a_time_is_the_ledger_read_whole(
        base: list[tuple[Any, ...]], changes: list[list[tuple[Any, ...]]], loose: int, step: int, stream: int,
        data: Any, monkeypatch: Any) -> None:
    """`LedgerChain.batches` (the whole one read a batch at a time, merged with the changes) gives
    the rows `whole` gives, at any positions: phones of 11 digits or not, batches of any size,
    and a whole one stored with its last rows in no order (before `SORTED`)."""
    import numpy as np
    import pyarrow as pa

    from pipeline import records
    from pipeline.state import snapshot_reader

    monkeypatch.setattr(records, "STREAM_STEP", stream)
    ordered = sorted(base, key=lambda r: r[0].encode("utf-8"))
    loose = min(loose, len(ordered))
    kept, tail = ordered[:len(ordered) - loose], ordered[len(ordered) - loose:][::-1]  # the tail in no order
    metadata = {"ordered": str(len(kept))} if loose else {"ordered": str(len(kept)), "sorted": "1"}
    blobs = [_ledger_blob(rows, {}, step) for rows in reversed(changes)] + [_ledger_blob(kept + tail, metadata, step)]
    every = {r[0] for rows in [base, *changes] for r in rows}
    phones = sorted(every, key=lambda p: p.encode("utf-8"))
    phones_blob = _ledger_blob([(p, "", "", "", "", None) for p in phones], {}, step) if changes else None
    chain = records.LedgerChain("2026-W01", blobs, phones_blob, snapshot_reader)
    whole = chain.whole()
    assert whole.column("phone").to_pylist() == phones
    positions = np.array(sorted(data.draw(st.sets(st.integers(0, max(len(phones) - 1, 0)), max_size=len(phones)))
                                if phones else []), np.int64)
    for at in (None, positions):
        read = pa.Table.from_batches(list(chain.batches(at)), records.ledger_schema())
        assert read.to_pylist() == chain.whole(at).to_pylist()


@settings(max_examples=60, deadline=None)
# a batch of a whole ledger that runs past its ordered rows into the loose ones (an earlier
# version's): the phone asked among the loose is found, not searched for as if in order
@example(base=[("13000000001", '客户', '张伟', '2026-01-05T09:00:00', 'registrations', None), ("13000000002", '客户', '张伟', '2026-01-05T09:00:00', 'registrations', None), ("13000000005", '客户', '张伟', '2026-01-05T09:00:00', 'registrations', None),
               ("13000000009", '客户', '张伟', '2026-01-05T09:00:00', 'registrations', None)],
         changes=[[("13000000007", '客户', '张伟', '2026-01-05T09:00:00', 'registrations', None)]], loose=2, step=4, asked=["13000000005"])
@given(base=st.lists(ledger_row, max_size=25, unique_by=lambda r: r[0]),
       changes=st.lists(st.lists(ledger_row, max_size=8, unique_by=lambda r: r[0]), max_size=2),
       loose=st.integers(0, 5), step=st.integers(1, 7),
       asked=st.lists(st.one_of(ledger_phone, st.sampled_from(["12999999999", "13000000099", "乙"])), max_size=30))
def test_a_ledger_looks_up_the_rows_of_the_phones_asked_and_says_which_of_its_phones_they_are(
        base: list[tuple[Any, ...]], changes: list[list[tuple[Any, ...]]], loose: int, step: int,
        asked: list[str]) -> None:
    """`LedgerChain.lookup` gives the rows of the phones asked that the ledger holds (each batch
    of a whole one looked up among the phones asked within its range), and `named` which of the
    ledger's phones, in its order, were asked: as read from the whole ledger, for a whole one in
    order, one stored with its last rows in no order, and one chained to changes; phones asked
    below, between and above the ledger's, or none."""
    import pyarrow as pa

    from pipeline import records
    from pipeline.state import snapshot_reader

    ordered = sorted(base, key=lambda r: r[0].encode("utf-8"))
    loose = min(loose, len(ordered))
    kept, tail = ordered[:len(ordered) - loose], ordered[len(ordered) - loose:][::-1]
    metadata = {"ordered": str(len(kept))} if loose else {"ordered": str(len(kept)), "sorted": "1"}
    blobs = [_ledger_blob(rows, {}, step) for rows in reversed(changes)] + [_ledger_blob(kept + tail, metadata, step)]
    every = {r[0] for rows in [base, *changes] for r in rows}
    phones = sorted(every, key=lambda p: p.encode("utf-8"))
    phones_blob = _ledger_blob([(p, "", "", "", "", None) for p in phones], {}, step) if changes else None
    whole = records.LedgerChain("2026-W01", blobs, phones_blob, snapshot_reader).whole().to_pylist()
    chain = records.LedgerChain("2026-W01", blobs, phones_blob, snapshot_reader)
    wanted = pa.array(sorted(set(asked)), pa.string())
    found = chain.lookup(wanted).to_pylist()
    assert sorted(found, key=lambda r: r["phone"]) == sorted((r for r in whole if r["phone"] in set(asked)),
                                                             key=lambda r: r["phone"])
    assert chain.named(wanted).to_pylist() == [p in set(asked) for p in phones]
    assert chain.phones.to_pylist() == phones
    if changes and all(len(p) == 11 and p.isdigit() for p in phones):
        # as a snapshot stores them where they are numbers: their keys
        from pipeline.state import encode_snapshot_table

        keys = encode_snapshot_table(pa.table({"phone": pa.array([int(p) for p in phones], pa.int64())}))
        keyed = records.LedgerChain("2026-W01", blobs, keys, snapshot_reader)
        assert keyed.named(wanted).to_pylist() == [p in set(asked) for p in phones]
        assert sorted(keyed.lookup(wanted).to_pylist(), key=lambda r: r["phone"]) == \
            sorted(found, key=lambda r: r["phone"])
        assert keyed.phones.to_pylist() == phones and keyed.keys.tolist() == [int(p) for p in phones]

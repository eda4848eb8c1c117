"""Golden tests of the reader (SPEC §2.1-2.3): what each awkward cell and sheet reads as, row by row,
and property tests of the cell parsers in pipeline/normalise.py."""

from __future__ import annotations

import string
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline import normalise as nz
from pipeline.io.read import Problem, Row, Sheet, read_file

T = datetime(2026, 11, 24, 9, 0)


def write(path: Path, sheets: dict[str, list[list[Any]]], hidden: tuple[str, ...] = ()) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


def outcome(sheet: Sheet) -> list[tuple[int, str, Any]]:
    """Every data row in order: (row number, reason or "ok", column of the problem or the parsed values)."""
    items: list[Row | Problem] = sorted([*sheet.rows, *sheet.problems], key=lambda x: x.source.row)
    return [(x.source.row, "ok", x.values) if isinstance(x, Row) else (x.source.row, x.reason, x.column)
            for x in items]


def reasons(sheet: Sheet) -> list[tuple[int, str]]:
    return [(row, reason) for row, reason, _ in outcome(sheet)]


# ---------------------------------------------------------------------------------------------
# one workbook, many cases

LEADS = ["客户经理", "手机号码", "提交时间", "客户姓名"]
PHONES: list[tuple[Any, str]] = [
    # (cell as typed, what it reads as: 11 digits or a reason)
    (13800138000, "13800138000"),              # a number cell
    (13800138001.0, "13800138001"),            # a float cell, as Excel stores typed numbers
    ("+86 138-0013-8002", "13800138002"),
    ("008613800138003", "13800138003"),
    ("１３８００１３８００４", "13800138004"),   # full-width digits
    ("'13800138005", "13800138005"),           # a leading apostrophe (text forced in Excel)
    ("(138) 0013.8006", "13800138006"),
    ("13800138007.0", "13800138007"),          # a float pasted as text
    ("86 13800138008", "13800138008"),
    ("12345", "INVALID_PHONE"),
    (13800138000.5, "INVALID_PHONE"),          # a number that is not whole
    ("23800138000", "INVALID_PHONE"),          # not a mainland mobile
    ("1380013800", "INVALID_PHONE"),           # 10 digits
    ("电话13800138000", "INVALID_PHONE"),
]
DATES: list[tuple[Any, str]] = [
    (datetime(2026, 11, 24, 14, 30), "2026-11-24T14:30:00"),   # a date-time cell
    (46350.375, "2026-11-24T09:00:00"),                         # a serial number (1900 system)
    (46350, "2026-11-24T00:00:00"),
    ("2026/11/24 14:30", "2026-11-24T14:30:00"),
    ("2026-11-24", "2026-11-24T00:00:00"),
    ("2026.11.24 9:05:07", "2026-11-24T09:05:07"),
    ("2026年11月24日", "2026-11-24T00:00:00"),
    ("2026年11月24日14:30", "2026-11-24T14:30:00"),
    ("2026年1月4日 8:00", "2026-01-04T08:00:00"),
    ("11/24/2026", "INVALID_DATE"),
    ("下午3点", "INVALID_DATE"),
    ("2026-11-24 25:00", "INVALID_DATE"),
    ("2026-02-30", "INVALID_DATE"),
    (0, "INVALID_DATE"),
]


def leads_rows() -> list[list[Any]]:
    rows: list[list[Any]] = [["2026年第48周 诚意客户号码汇总表"], LEADS]  # a title row above the header
    rows += [["张伟", phone, T, "王先生"] for phone, _ in PHONES]
    rows += [[None, None, None, None]]  # an empty row in the middle: skipped, numbering goes on
    rows += [["张伟", "13900139000", when, None] for when, _ in DATES]
    rows += [[None, "13900139000", T, "x"], ["张伟", None, T, "x"], ["张伟", "13900139000", None, "x"], ["   ", "　", "", None]]
    return rows


DEALS = ["phone", "deal_at", "salesperson", "commission", "room"]  # English headers
MONEY: list[tuple[Any, str]] = [
    ("4,000元", "4000.00"),
    ("￥4000.50", "4000.50"),
    ("¥ 4000", "4000.00"),
    (4000, "4000.00"),
    (1999.995, "2000.00"),
    ("4000.005", "4000.01"),   # half up
    (-100, "INVALID_AMOUNT"),
    ("-4,000元", "INVALID_AMOUNT"),
    ("四千", "INVALID_AMOUNT"),
]


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> list[Sheet]:
    path = tmp_path_factory.mktemp("read") / "周报.xlsx"
    write(path, {
        "号码": leads_rows(),
        "成交": [DEALS] + [["13800138000", T, "李娜", money, "3-1201"] for money, _ in MONEY],
        "名单": [["姓名", "岗位", "团队"], ["李娜", "销售员", "一组"], ["张伟", "客户经理", "一组"], ["王五", "实习生", "一组"]],
        "缺列": [["客户经理", "手机号码", "客户姓名"], ["张伟", "13800138000", "王先生"]],
        "两种": [["客户经理", "手机号码", "提交时间", "登记时间", "登记人"]],
        "说明": [["填写说明：每周一上午提交"], ["手机号码请填写 11 位"]],
    }, hidden=("名单",))
    return read_file(path)


def test_each_sheet_is_classified_on_its_own(book: list[Sheet]) -> None:
    assert [(s.sheet, s.kind, s.header_row, s.error) for s in book] == [
        ("号码", "leads", 2, None),
        ("成交", "deals", 1, None),
        ("名单", "roster", 1, None),          # hidden sheets are read like the others
        ("缺列", None, 1, "MISSING_COLUMN"),
        ("两种", None, 1, "AMBIGUOUS_SHEET"),
        ("说明", None, None, None),           # not recognised: a warning only, no error
    ]
    missing, ambiguous = book[3], book[4]
    assert missing.message and "提交时间" in missing.message and "缺列" in missing.message
    assert ambiguous.message and "诚意客户号码" in ambiguous.message and "客户登记备案" in ambiguous.message


def test_phones_dates_and_missing_values(book: list[Sheet]) -> None:
    leads = book[0]
    first = 3
    expected: list[tuple[int, str]] = []
    for i, (_, want) in enumerate(PHONES):
        expected.append((first + i, "ok" if want.isdigit() else want))
    blank = first + len(PHONES)
    for i, (_, want) in enumerate(DATES):
        expected.append((blank + 1 + i, "ok" if want[0].isdigit() else want))
    last = blank + 1 + len(DATES)
    expected += [(last, "MISSING_VALUE"), (last + 1, "MISSING_VALUE"), (last + 2, "MISSING_VALUE")]
    assert reasons(leads) == expected  # the blank rows (one in the middle, one of spaces at the end) are skipped
    got = {row: values for row, why, values in outcome(leads) if why == "ok"}
    assert [got[first + i]["phone"] for i, (_, want) in enumerate(PHONES) if want.isdigit()] == [
        want for _, want in PHONES if want.isdigit()]
    assert [got[blank + 1 + i]["submitted_at"].isoformat() for i, (_, want) in enumerate(DATES) if want[0].isdigit()] == [
        want for _, want in DATES if want[0].isdigit()]
    assert {got[row]["manager"] for row in got} == {"张伟"}
    assert [(row, column) for row, why, column in outcome(leads) if why == "MISSING_VALUE"] == [
        (last, "manager"), (last + 1, "phone"), (last + 2, "submitted_at")]


def test_problems_say_where_what_and_why(book: list[Sheet]) -> None:
    leads = book[0]
    bad = next(p for p in leads.problems if p.reason == "INVALID_PHONE")
    assert (bad.source.file, bad.source.sheet, bad.source.row, bad.column, bad.value) == ("周报.xlsx", "号码", 12, "phone", "12345")
    assert "12345" in bad.message and bad.manager == "张伟" and bad.phone == "12345"
    date = next(p for p in leads.problems if p.reason == "INVALID_DATE")
    assert (date.value, date.phone) == ("11/24/2026", "13900139000") and "11/24/2026" in date.message


def test_money(book: list[Sheet]) -> None:
    deals = book[1]
    assert reasons(deals) == [(2 + i, "ok" if want[0].isdigit() else want) for i, (_, want) in enumerate(MONEY)]
    assert [str(r.values["commission"]) for r in deals.rows] == [want for _, want in MONEY if want[0].isdigit()]
    assert all(r.values["salesperson"] == "李娜" and r.values["room"] == "3-1201" for r in deals.rows)


def test_roster_roles(book: list[Sheet]) -> None:
    roster = book[2]
    assert [(r.values["name"], r.values["role"]) for r in roster.rows] == [("李娜", "salesperson"), ("张伟", "manager")]
    assert [(p.source.row, p.reason, p.value) for p in roster.problems] == [(4, "UNKNOWN_ROLE", "实习生")]


def test_reading_twice_gives_the_same(book: list[Sheet], tmp_path: Path) -> None:
    path = write(tmp_path / "again.xlsx", {"号码": leads_rows()})
    first, second = read_file(path), read_file(path)
    assert [outcome(s) for s in first] == [outcome(s) for s in second] == [outcome(book[0])]


# ---------------------------------------------------------------------------------------------
# the cell parsers: properties

settings.register_profile("parsers", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FULL_WIDTH = {d: chr(ord("０") + int(d)) for d in string.digits}
mobiles = st.builds(lambda second, rest: "1" + str(second) + rest,
                    st.integers(3, 9), st.text(alphabet=string.digits, min_size=9, max_size=9))


@st.composite
def noisy(draw: st.DrawFn, number: str) -> Any:
    """`number` as an admin or a system might have typed or exported it (SPEC §2.3)."""
    prefix = draw(st.sampled_from(["", "+86", "0086", "86"]))
    if draw(st.booleans()):
        return int(prefix.lstrip("+") + number) if draw(st.booleans()) else float(prefix.lstrip("+") + number)
    cuts = sorted(draw(st.sets(st.integers(1, 10), max_size=4)))
    groups = [number[a:b] for a, b in zip([0, *cuts], [*cuts, 11], strict=True)]
    parts = []
    for i, g in enumerate(groups):
        if draw(st.integers(0, 5)) == 0:
            g = draw(st.sampled_from(["({})", "[{}]", "（{}）"])).format(g)
        parts.append(g)
        separators = ["", " ", "-", ".", "  ", "\u3000", " - "]
        if i == len(groups) - 2 and groups[-1] == "0":
            # "…1.0" is a float from Excel by the spec's own order (".0" is stripped before the
            # separators), so a "." before a last lone 0 is not noise around a valid number.
            separators.remove(".")
        parts.append(draw(st.sampled_from(separators)))
    body = "".join(parts[:-1])
    if prefix:
        body = prefix + draw(st.sampled_from(["", " ", "-"])) + body
    if draw(st.booleans()):
        body = "".join(FULL_WIDTH.get(c, c) if draw(st.booleans()) else c for c in body)
    if draw(st.booleans()):
        body += ".0"
    if draw(st.booleans()):
        body = "'" + body
    return draw(st.sampled_from(["{}", " {} ", "\t{}\u3000"])).format(body)


@settings(settings.get_profile("parsers"))
@given(st.data(), mobiles)
def test_every_valid_mobile_survives_the_noise(data: st.DataObject, number: str) -> None:
    cell = data.draw(noisy(number))
    assert nz.phone(cell) == number, cell


@pytest.mark.parametrize("cell", ["+86 (138) 0013-8000.0", "'0086 138.0013.8000", "（１３８）００１３－８０００",
                                  8613800138000, 13800138000.0, " 86-138 0013 8000 "])
def test_a_mobile_with_noise(cell: Any) -> None:
    assert nz.phone(cell) == "13800138000"


# Amounts stay below 10**20 and times below 9999-12-31: the extremes have their own tests at the end.
cells = st.one_of(
    st.none(), st.booleans(), st.integers(-10**15, 10**15),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: abs(f) < 1e20 or f != f or abs(f) == float("inf")),
    st.text(max_size=19), st.text(alphabet="0123456789+-.,() '０１２３８６元￥", max_size=19),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 30)), st.dates(), mobiles,
    st.decimals(min_value=-10**15, max_value=10**15, allow_nan=False, allow_infinity=False, places=4).map(str),
)


def parsed(parser: Any, value: Any) -> Any:
    try:
        return parser(value)
    except nz.ValueProblem as exc:
        assert exc.reason in ("INVALID_PHONE", "INVALID_DATE", "INVALID_AMOUNT")
        return exc


@settings(settings.get_profile("parsers"))
@given(cells)
@example("138١٣٨٠٠٠٠٠")  # Arabic-Indic digits: digits to Python, not to a phone
def test_phone_is_idempotent(value: Any) -> None:
    once = parsed(nz.phone, value)
    if isinstance(once, str):
        assert nz.phone(once) == once and len(once) == 11
        assert once.isascii() and once.isdigit()


@settings(settings.get_profile("parsers"))
@given(cells)
@example("4,000元")
@example("-0")
@example(1e-7)
def test_money_is_idempotent_on_its_text(value: Any) -> None:
    once = parsed(nz.money, value)
    if isinstance(once, Decimal):
        assert once >= 0 and once.as_tuple().exponent == -2
        assert nz.money(str(once)) == once
        assert nz.money(nz.fmt_money(once)) == once


@settings(settings.get_profile("parsers"))
@given(st.one_of(cells, st.text(alphabet="0123456789-−－+¥￥元., ", max_size=12)))
@example("-¥150")
@example("−0.005")
@example(-0.005)
def test_signed_money_is_idempotent_and_mirrors_money(value: Any) -> None:
    """SPEC §7.1: a signed amount is money with an optional leading minus; its text reads back as
    itself, and a leading minus before any other form of an amount gives its negative."""
    once = parsed(nz.signed_money, value)
    if isinstance(once, Decimal):
        assert once.as_tuple().exponent == -2 and str(once) != "-0.00"
        assert nz.signed_money(str(once)) == once
        if abs(once) < 10**9:  # a number cell (a float) holds such an amount exactly enough
            assert nz.signed_money(float(once)) == once
    plain = parsed(nz.money, value)
    if isinstance(plain, Decimal):
        assert once == plain
        if isinstance(value, str):
            assert nz.signed_money("-" + value.strip()) == -plain + 0
            assert nz.signed_money("\u2212" + value.strip()) == -plain + 0


@pytest.mark.parametrize(("cell", "amount"), [
    ("-¥150", "-150.00"), ("−150", "-150.00"), ("－1,500.5元", "-1500.50"), (-150, "-150.00"), (-0.005, "-0.01"),
    ("-0.005", "-0.01"), (0, "0.00"), ("0", "0.00"), ("-0", "0.00"), ("+0", None), ("¥-150", None), ("+150", None),
    ("--5", None), ("-", None), ("- -5", None), (True, None),
])
def test_signed_money_cases(cell: Any, amount: str | None) -> None:
    got = parsed(nz.signed_money, cell)
    assert (str(got) if isinstance(got, Decimal) else None) == amount
    if amount is None:
        assert got.reason == "INVALID_AMOUNT"


@settings(settings.get_profile("parsers"))
@given(st.one_of(cells, st.floats(1, 2958465.99999),
                 st.datetimes(max_value=datetime(9999, 12, 30)).map(lambda d: d.isoformat(sep=" ", timespec="seconds"))))
@example(46350.999999999)
@example("2026年11月24日 9:05")
def test_datetime_value_is_idempotent(value: Any) -> None:
    once = parsed(nz.datetime_value, value)
    if isinstance(once, datetime):
        assert once.microsecond == 0 and once.tzinfo is None
        assert nz.datetime_value(once) == once
        assert nz.datetime_value(once.isoformat(sep=" ")) == once


@settings(settings.get_profile("parsers"))
@given(st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 30)))
def test_an_excel_serial_reads_as_its_date(moment: datetime) -> None:
    serial = (moment - datetime(1899, 12, 30)) / timedelta(days=1)
    got = nz.datetime_value(serial)
    assert abs(got - moment) <= timedelta(seconds=1)


@settings(settings.get_profile("parsers"))
@given(cells)
def test_text_is_idempotent(value: Any) -> None:
    once = nz.text(value)
    assert nz.text(once) == once
    assert once == once.strip()
    if isinstance(value, str):
        assert unicodedata.normalize("NFKC", once) == once


def test_dates_alone_mean_midnight() -> None:
    assert nz.datetime_value(date(2026, 11, 24)) == datetime(2026, 11, 24)


@pytest.mark.parametrize("cell", [1e30, 10**30, "1" * 30])
def test_money_refuses_an_absurd_amount(cell: Any) -> None:
    with pytest.raises(nz.ValueProblem):
        nz.money(cell)


@pytest.mark.parametrize("cell", [datetime(9999, 12, 31, 23, 59, 59, 600_000), 2958465.9999999])
def test_datetime_value_refuses_the_last_half_second(cell: Any) -> None:
    with pytest.raises(nz.ValueProblem):
        nz.datetime_value(cell)


def test_the_reader_turns_a_parser_crash_into_a_row_rejection(tmp_path: Path) -> None:
    """Whatever a cell parser trips over, reading goes on: the cell is invalid for its column."""
    path = write(tmp_path / "成交.xlsx", {"成交": [DEALS, ["13800138000", T, "李娜", 1e30, ""],
                                                 ["13800138000", 2958465.9999999, "李娜", 100, ""],
                                                 ["13800138000", T, "李娜", "1" * 30, ""]]})
    assert reasons(read_file(path)[0]) == [(2, "INVALID_AMOUNT"), (3, "INVALID_DATE"), (4, "INVALID_AMOUNT")]

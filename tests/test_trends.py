"""Trends: the last 8 weeks on the summary (each manager, each team, the office) and on each
statement and its email (achieved against target per task, fines and net).

The weeks come from the closed weeks' stored results plus the week written, never from rows,
so a re-render of a closed week shows the same history as its first render.
"""

from __future__ import annotations

import email
import re
from email.policy import default as DEFAULT_POLICY
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import Config
from pipeline.mail import build_messages
from pipeline.report.context import (
    TrendBar,
    attainment,
    index_week,
    manager_page,
    manager_trend,
    summary_page,
    trend_bar,
)
from pipeline.report.html import environment, make_environment
from pipeline.report.write import statement_paths, write_week
from tests.helpers import written_anew
from tests.test_reports import EVIL, WANG, ZHANG, _manager
from tests.test_run import Office, leads, office  # noqa: F401 - the fixture
from tests.trend_sample import EARLIER_WEEKS, report_with_history

WEEKS = [*EARLIER_WEEKS, "2026-W48"]


def test_attainment_caps_each_manager_and_averages_the_tasks() -> None:
    """Per task: each manager's achieved capped at their target, over the targets' sum; then
    the mean of the tasks. One manager's surplus does not hide another's shortfall."""
    over = _manager("甲", "一组", (200, 32, 6), ("0", "0"), 0)      # twice every target
    nothing = _manager("乙", "一组", (0, 0, 0), ("0", "0"), 0)
    half = _manager("丙", "一组", (50, 8, 0), ("0", "0"), 0)          # 50 %, 50 %, 0 %
    absent = {**nothing, "active_days": 0, "targets": {"leads": 0, "visits": 0, "units": 0}}
    assert [attainment([over]), attainment([over, nothing]), attainment([half]), attainment([absent]),
            attainment([])] == [100, 50, 33, None, None]


def test_summary_lines_carry_eight_weeks_oldest_first() -> None:
    report = report_with_history()
    page = summary_page(report, index_week(report))
    one = page.teams[0]
    zhang = next(line for line in one.lines if line.name == ZHANG)
    assert [b.week for b in zhang.trend] == WEEKS
    # 张伟 slipped: 100 % in W41, then 96, 90, ... as the stored weeks say (capped, mean of three)
    assert [b.label for b in zhang.trend][:3] == ["2026-W41：达成 100%", "2026-W42：达成 100%", "2026-W43：达成 96%"]
    assert zhang.trend[0].colour == "#16a34a" and zhang.trend[-1].colour != "#16a34a"
    assert all(b.height + b.gap == 24 for line in [*one.lines, one.total, page.office] for b in line.trend)
    # the third manager was not assessed in W43: no bar that week, for them and their team alone
    two = page.teams[1]
    evil = two.lines[0]
    assert evil.name == EVIL and evil.trend[2].height == 0 and evil.trend[2].label == "2026-W43：未考核"
    assert two.total.trend[2].height == 0 and page.office.trend[2].height > 0
    # a team's trend is the attainment of its members that week, not an average of bars
    w41 = [m for m in report.earlier[0][1] if m["team"] == "一组"]
    assert one.total.trend[0].label == f"2026-W41：达成 {attainment(w41)}%"
    assert page.trend.legend.startswith("近8周达成率（2026-W41 至 2026-W48）")


def test_statement_history_is_the_managers_own_weeks() -> None:
    report = report_with_history()
    index = index_week(report)
    m = next(m for m in index.managers if m["name"] == WANG)
    history = manager_page(report, index, m).history
    assert [w.week for w in history.weeks] == WEEKS and history.heading == "近8周走势"
    assert [[b.text for b in w.bars] for w in history.weeks][:2] == [["1 / 3", "5 / 16", "40 / 100"],
                                                                     ["1 / 3", "8 / 16", "55 / 100"]]
    assert history.weeks[0].amounts == "罚款 370.00 · 净额 -370.00"
    assert [w.bold for w in history.weeks] == [False] * 7 + [True] and history.weeks[-1].note == "本周"
    evil = next(m for m in index.managers if m["name"] == EVIL)
    absent = manager_page(report, index, evil).history.weeks[2]
    assert (absent.week, absent.bars, absent.note) == ("2026-W43", [], "未考核")


def test_a_week_without_history_shows_itself_alone(tmp_path: Path) -> None:
    report = report_with_history()
    report.earlier = []
    write_week(report, tmp_path)
    page = (tmp_path / "summary.html").read_text(encoding="utf-8")
    assert page.count('title="2026-W48：达成') == 3 + 2 + 1 and "2026-W47" not in page


def _html_part(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=DEFAULT_POLICY)
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_emails_carry_the_charts_in_a_form_mail_clients_render(tmp_path: Path) -> None:
    """The leaders' email (the summary page) and each manager's carry their charts as table
    cells with inline styles: no script, no SVG, no image, no external address."""
    report = report_with_history()
    write_week(report, tmp_path)
    messages = {m.key: m for m in build_messages(report, tmp_path, Config())}
    summary = _html_part(messages["summary:zhao@example.com"].data)
    statement = _html_part(messages[f"manager:{ZHANG}"].data)
    text = email.message_from_bytes(messages[f"manager:{ZHANG}"].data, policy=DEFAULT_POLICY)
    plain = str(text.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    for html in (summary, statement):
        lowered = html.lower()
        assert not any(bad in lowered for bad in ("<script", "<svg", "<img", "url(", "@import", "src=", "href="))
        assert not re.search(r"https?://", html.replace('=HYPERLINK(&#34;http://x&#34;', ""))
    # the summary: 8 bars a line, each a coloured cell of the trend table
    bars = re.findall(r'<td width="8" height="(\d+)" title="(2026-W\d\d)：([^"]+)"', summary)
    lines = 3 + 2 + 1                                   # managers, team subtotals, the office
    assert len(bars) == 8 * lines and {week for _, week, _ in bars} == set(WEEKS)
    assert sum(1 for height, _, _ in bars if int(height) > 0) == 8 * lines - 2   # W43: one manager, their team
    # the statement: the manager's 8 weeks, oldest first, with the week's figures
    assert statement.index("近8周走势") < statement.index("2026-W41") < statement.index("2026-W47")
    assert "罚款 320.00 · 净额 -320.00" in statement and "60 / 100" in statement
    assert "近8周走势" in plain and "- 2026-W44: 拓展单位 2 / 3; 上门批次 14 / 16; 诚意号码 90 / 100;" in plain


def test_a_statement_email_carries_the_history_of_its_page(tmp_path: Path) -> None:
    """The history table of a statement email's page is the one its statement page shows, byte
    for byte: eight weeks, each a line of figures and a line of bars."""
    report = report_with_history()
    write_week(report, tmp_path)
    messages = {m.key: m for m in build_messages(report, tmp_path, Config())}
    compared = 0
    for name, (_, path) in statement_paths(report, tmp_path).items():
        page = path.read_text(encoding="utf-8")
        table = page[page.index('<table role="presentation" class="history"'):]
        table = table[:table.index("</table>\n</td></tr>") + len("</table>")]
        assert table.count('<td colspan="3" style="padding:6px 6px 2px;">') == len(WEEKS)
        assert all(week in table for week in WEEKS)
        if f"manager:{name}" in messages:
            assert table in _html_part(messages[f"manager:{name}"].data).replace("\r\n", "\n")
            compared += 1
    assert compared >= 2


# The trend cells as the summary drew them with a Jinja macro, before `sparkline` made them in Python.
SPARKLINE_MACRO = """{% macro sparkline(bars, bg) -%}
{% set gap = bg or '#ffffff' %}
<table role="img" aria-label="{{ bars|map(attribute='label')|join('; ') }}" class="trend" cellpadding="0" cellspacing="0" border="0" style="border-collapse:separate;border-spacing:0;"><tr>
{%- for b in bars %}<td width="8" height="{{ b.height }}" title="{{ b.label }}"{% if b.height %} bgcolor="{{ b.colour }}"{% endif %} style="width:8px;height:{{ b.height }}px;padding:0;border-top:{{ b.gap }}px solid {{ gap }};border-left:1px solid {{ gap }};border-right:1px solid {{ gap }};border-bottom:1px solid #9ca3af;background:{{ b.colour if b.height else gap }};font-size:0;line-height:0;mso-line-height-rule:exactly;"></td>{% endfor -%}
</tr></table>
{%- endmacro %}
{% for bars, bg in lines %}[{{ sparkline(bars, bg) }}]{% endfor %}"""

_trend_text = st.one_of(st.text(max_size=8), st.sampled_from(["", "<b>&\"'", "2026-W48：达成 87%", "#fde2e2"]))
_trend_bar = st.builds(TrendBar, _trend_text, st.integers(0, 24), st.integers(0, 24), _trend_text, _trend_text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(_trend_bar, max_size=8), _trend_text), max_size=3))
def test_a_sparkline_is_the_macro_it_replaced(lines: list[tuple[list[TrendBar], str]]) -> None:
    """`sparkline` writes what the Jinja macro it replaced wrote, escaped the same way."""
    reference = make_environment(True).from_string(SPARKLINE_MACRO)
    drawn = environment().from_string("{% for bars, bg in lines %}[{{ sparkline(bars, bg) }}]{% endfor %}")
    assert drawn.render(lines=lines) == reference.render(lines=lines)


def test_a_managers_trend_is_the_bar_of_them_alone() -> None:
    """Each manager's summary trend, week by week, is `trend_bar` of their row alone (none when
    not assessed), whichever manager's figures it shares."""
    report = report_with_history()
    index = index_week(report)
    for m in index.managers:
        for (week, by_name), drawn in zip(index.trend, manager_trend("zh", index, m["name"]), strict=True):
            row = by_name.get(m["name"])
            assert drawn == trend_bar("zh", week, [row] if row and row["active_days"] else [])


# --- through the command line: weeks closed one run after another -----------------------------

def _trend_titles(page: str, name: str) -> list[str]:
    """The week labels of `name`'s trend in a summary page."""
    row = page[page.index(f'border-bottom:1px solid #e5e7eb;">{name}'):]     # the manager's line
    table = row[row.index('class="trend"'):]
    table = table[:table.index("</table>")]
    return re.findall(r'title="(2026-W\d\d)：', table)


def _week_leads(week_index: int) -> list[list[Any]]:
    from datetime import datetime, timedelta

    monday = datetime(2026, 9, 28) + timedelta(weeks=week_index)        # 2026-W40 is week 0
    return [["张伟", 13800000000 + week_index * 1000 + i, monday + timedelta(hours=9 + i % 8), ""]
            for i in range(10 * (week_index + 1))]


def test_weeks_closed_by_cron_show_their_history_and_rerender_the_same(office: Office) -> None:  # noqa: F811
    """Ten Mondays of cron: each week's summary shows at most the 8 weeks up to it (never a
    later one); re-rendering a closed week gives the same page, byte for byte."""
    for i in range(10):                                 # 2026-W40 .. 2026-W49
        leads(office.inbox / f"号码{i:02d}.xlsx", _week_leads(i))
        assert office.run(now=f"{_next_monday(i)}T08:00:00").exit_code == 0
    weeks = [f"2026-W{40 + i}" for i in range(10)]
    first = {week: (office.out / week / "summary.html").read_bytes() for week in weeks}
    assert _trend_titles(first["2026-W42"].decode(), "张伟") == weeks[:3]
    assert _trend_titles(first["2026-W49"].decode(), "张伟") == weeks[2:]
    statement = (office.out / "2026-W49" / "managers" / "张伟.html").read_text(encoding="utf-8")
    assert statement.count("2026-W4") >= 8 and "2026-W41" not in statement
    # W44: 50 leads of 100, nothing else: (50 + 0 + 0) / 3 = 16 %
    assert "2026-W44：达成 16%" in first["2026-W49"].decode()
    for week in ("2026-W42", "2026-W46"):
        written_anew(office.out / week)
        assert office.run("--week", week, now="2026-12-20T08:00:00").exit_code == 0
        assert (office.out / week / "summary.html").read_bytes() == first[week]


def _next_monday(i: int) -> str:
    from datetime import date, timedelta

    return (date(2026, 10, 5) + timedelta(weeks=i)).isoformat()

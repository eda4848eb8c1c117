"""The pages of a week: summary.html (the leaders' dashboard) and managers/<name>.html (SPEC §5).

Pages are built to be read in a browser and pasted into an email body: inline `style` attributes
only, tables for layout, no JavaScript and no external asset. Customer phones are masked. Jinja
runs with `autoescape=True` and `StrictUndefined`, so input text never becomes markup and a
misspelt field fails loudly instead of rendering empty. Templates live in the top-level
`templates/` folder and only place values computed in `context.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from markupsafe import Markup, escape

from .context import Bar, History, TrendBar, index_week, manager_page, summary_page
from .model import WeekReport

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def make_environment(autoescape: bool | Callable[[str | None], bool]) -> jinja2.Environment:
    """A Jinja environment over `templates/`, as every page and email is rendered: undefined
    names fail, blocks trimmed. Templates do not change during a run: without `auto_reload`
    off, every render of a page that extends or imports another looks up the other's
    modification time again."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.globals["card"] = card
    env.globals["history_table"] = history_table
    env.globals["sparkline"] = sparkline
    return env


# `card`'s fixed text, around the values it places
_CARD_OPEN = ('<table role="presentation" class="card" width="100%" cellpadding="0" cellspacing="0" border="0" '
              'style="border-collapse:collapse;width:100%;table-layout:fixed;word-wrap:break-word;margin:0 0 8px 0;'
              'border:1px solid #e5e7eb;border-left:4px solid ')
_CARD_TITLE = ';">\n<tr><td style="padding:6px 10px 2px 10px;font-weight:bold;color:'
_CARD_LINE = '<tr><td style="padding:0 10px 2px 10px;">'
_ESCAPED = re.compile("[&<>'\"]")   # what `escape` changes
_CARD_FOOT = '<tr><td style="padding:0 10px 6px 10px;font-size:12px;color:#6b7280;">'


def card(title: Any, title_colour: Any, accent: Any, lines: Iterable[Any], foot: Iterable[Any]) -> Markup:
    """One row of a list as a small card (a deal, a rejected row, a follow-up), for the pages and
    the emails (a template global): a line that says what it is, then lines of detail (the
    empty ones left out), then a foot of the non-empty `foot` values joined by " · ". One
    column, so nothing is squeezed on a phone; wide screens put two cards side by side (the
    `cards` rule of the page's style, which mail clients may ignore). Every value escaped as
    the templates escape it. Made here, not by a Jinja macro: a big week's statements and their
    emails draw 25,000 cards, which were two thirds of their pages' rendering by a macro
    (tests/test_reports.py compares the two)."""
    lines = [line for line in lines if line]
    foot = [value for value in foot if value]
    texts = (accent, title_colour, title, *lines, *foot)
    if all(type(text) is str for text in texts) and not _ESCAPED.search("".join(texts)):  # nothing to escape: most
        parts = [_CARD_OPEN, accent, _CARD_TITLE, title_colour, ';">', title, "</td></tr>\n"]
        for line in lines:
            parts += (_CARD_LINE, line, "</td></tr>\n")
        parts += (_CARD_FOOT, " · ".join(foot), "</td></tr>\n</table>")
        return Markup("".join(parts))
    parts = [_CARD_OPEN, escape(accent), _CARD_TITLE, escape(title_colour), ';">', escape(title), "</td></tr>\n"]
    for line in lines:
        parts += (_CARD_LINE, escape(line), "</td></tr>\n")
    parts += (_CARD_FOOT, " · ".join([escape(value) for value in foot]), "</td></tr>\n</table>")
    return Markup("".join(parts))


# `history_table`'s fixed text, around the values it places
_HISTORY_OPEN = ('<table role="presentation" class="history" width="100%" cellpadding="0" cellspacing="0" border="0" '
                 'style="border-collapse:collapse;width:100%;font-size:12px;">\n'
                 '<tr style="background:#eff6ff;color:#1e3a8a;">')
_HISTORY_TH = '<th align="left" width="33%" style="width:33%;padding:4px 6px;border-bottom:2px solid #bfdbfe;">'
_HISTORY_WEEK = ('><td colspan="3" style="padding:6px 6px 2px;"><span style="white-space:nowrap;">', '</span>',
                 ' <span style="font-weight:normal;color:#6b7280;">',
                 ' &nbsp; <span style="white-space:nowrap;color:', ';">', '</span></td></tr>\n<tr')
_HISTORY_BOLD = (' style="font-weight:bold;background:#f3f4f6;"', ' style="background:#f3f4f6;"')
_HISTORY_TD = '<td style="padding:0 6px 6px;border-bottom:1px solid #e5e7eb;">'
_HISTORY_EMPTY = ('<td colspan="3" style="padding:0 6px 6px;border-bottom:1px solid #e5e7eb;font-size:0;line-height:0;">'
                  '&nbsp;</td>')


def history_table(h: History) -> Markup:
    """A manager's last weeks (`context.History`), for the statement pages and their emails (a
    template global): per week a line with the week, its note, its fines and net, then a line of
    one small bar per task (`small_bar`), or an empty cell when not assessed. Narrow first: three
    columns at most, so it reads on a 390 px phone. Every value escaped as the templates escape
    it. Made here, not by a Jinja macro: from the eighth week every statement and its email
    carry eight weeks of it, which were a third of their rendering by a macro
    (tests/test_reports.py compares the two)."""
    week_open, week_close, note_open, net_open, net_mid, week_end = _HISTORY_WEEK
    parts = [_HISTORY_OPEN]
    for label in h.item_labels:
        parts += (_HISTORY_TH, escape(label), "</th>")
    parts.append("</tr>\n")
    for w in h.weeks:
        parts += ("<tr", _HISTORY_BOLD[0] if w.bold else "", week_open, escape(w.week), week_close)
        if w.note:
            parts += (note_open, escape(w.note), "</span>")
        parts += (net_open, escape(w.net_colour), net_mid, escape(w.amounts), week_end,
                  _HISTORY_BOLD[1] if w.bold else "", ">")
        if w.bars:
            for b in w.bars:
                parts += (_HISTORY_TD, small_bar(b), "</td>")
        else:
            parts.append(_HISTORY_EMPTY)
        parts.append("</tr>\n")
    parts.append("</table>")
    return Markup("".join(parts))


@lru_cache(maxsize=4096)
def small_bar(b: Bar) -> str:
    """A bar of a history (`Bar`) in few bytes, the text in the table's font: its markup,
    escaped; made once a process (a week's 12,000 bars are a few hundred distinct ones)."""
    fill = (f'<td width="{escape(b.pct)}%" height="6" bgcolor="{escape(b.colour)}" '
            f'style="font-size:0;line-height:0;"></td>') if b.pct else ""
    rest = '<td height="6" style="font-size:0;line-height:0;"></td>' if b.rest else ""
    return (f'<table width="100%" cellpadding="0" cellspacing="0" style="background:#e5e7eb;"><tr>{fill}{rest}'
            f'</tr></table><span style="white-space:nowrap;">{escape(b.text)} '
            f'<span style="color:#6b7280;">{escape(b.pct_text)}</span></span>')


def sparkline(bars: Iterable[TrendBar], bg: str) -> Markup:
    """A trend of the last weeks (`context.TrendBar`s), one cell per week, for the summary (a
    template global): a coloured bar under a gap drawn as the cell's top border in the row's
    background (`bg`, white when none), so that every cell is the same height and no client has
    to honour a height on a div. No script, no SVG, no image: what Outlook, Gmail and the phone
    apps keep. Heights, colours and labels come from context.py; every value escaped as the
    templates escape it. Made here, not by a Jinja macro: a big office's summary draws one for
    each manager, eight cells each (tests/test_trends.py compares the two)."""
    gap = escape(bg or "#ffffff")
    bars = list(bars)
    parts = ['<table role="img" aria-label="', "; ".join([escape(b.label) for b in bars]),
             '" class="trend" cellpadding="0" cellspacing="0" border="0" '
             'style="border-collapse:separate;border-spacing:0;"><tr>']
    parts += [_trend_cell(b, gap) for b in bars]
    parts.append("</tr></table>")
    return Markup("".join(parts))


@lru_cache(maxsize=4096)
def _trend_cell(b: TrendBar, gap: str) -> str:
    """One week's cell of `sparkline` (`gap`: escaped), made once a process: a summary's bars
    repeat from manager to manager."""
    height = escape(b.height)
    colour = f' bgcolor="{escape(b.colour)}"' if b.height else ""
    return (f'<td width="8" height="{height}" title="{escape(b.label)}"{colour} style="width:8px;height:{height}px;'
            f'padding:0;border-top:{escape(b.gap)}px solid {gap};border-left:1px solid {gap};border-right:1px solid '
            f'{gap};border-bottom:1px solid #9ca3af;background:{escape(b.colour) if b.height else gap};font-size:0;'
            'line-height:0;mso-line-height-rule:exactly;"></td>')


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return make_environment(True)


PAGES = ("summary.html", "manager.html")


def prepare_templates(env: jinja2.Environment | None = None, names: Iterable[str] = PAGES) -> None:
    """Templates (by default the week's pages) compiled now in `env` (the pages' by default),
    with what they extend and import (their macros' modules made): a writer's process forked
    after this finds them ready, where each compiled its own."""
    for name in names:
        _compiled(env or environment(), name)


def _compiled(env: jinja2.Environment, name: str) -> None:
    """`name` compiled in `env`, and every template it extends or imports, their modules made."""
    template = env.get_template(name)
    assert template.filename is not None
    with open(template.filename, encoding="utf-8") as fh:
        tree = env.parse(fh.read())
    for node in tree.find_all((nodes.Extends, nodes.Import, nodes.FromImport, nodes.Include)):
        named = getattr(node, "template", None)
        if not isinstance(named, nodes.Const):
            continue
        used = env.get_template(named.value)
        if isinstance(node, (nodes.Import, nodes.FromImport)) and not node.with_context:
            used.module  # noqa: B018 - made once and kept by the template, as an import makes it


def render_summary(report: WeekReport) -> str:
    return environment().get_template("summary.html").render(page=summary_page(report, index_week(report)))


def write_summary_html(report: WeekReport, folder: Path) -> None:
    (folder / "summary.html").write_text(render_summary(report), encoding="utf-8")


def write_manager_html(report: WeekReport, folder: Path, share: tuple[int, int] | None = None) -> None:
    """Every manager's statement page, or those of managers[start:stop] for `share` (start, stop)."""
    index = index_week(report)
    template = environment().get_template("manager.html")
    out = folder / "managers"
    out.mkdir(parents=True, exist_ok=True)
    for m in index.managers[slice(*share) if share else slice(None)]:
        html = template.render(page=manager_page(report, index, m))
        (out / f"{index.stems[m['name']]}.html").write_text(html, encoding="utf-8")

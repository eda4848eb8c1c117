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

from .context import index_week, manager_page, summary_page
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

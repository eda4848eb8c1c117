"""The pages of a week: summary.html (the leaders' dashboard) and managers/<name>.html (SPEC §5).

Pages are built to be read in a browser and pasted into an email body: inline `style` attributes
only, tables for layout, no JavaScript and no external asset. Customer phones are masked. Jinja
runs with `autoescape=True` and `StrictUndefined`, so input text never becomes markup and a
misspelt field fails loudly instead of rendering empty. Templates live in the top-level
`templates/` folder and only place values computed in `context.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2 import nodes

from .context import index_week, manager_page, summary_page
from .model import WeekReport

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def make_environment(autoescape: bool | Callable[[str | None], bool]) -> jinja2.Environment:
    """A Jinja environment over `templates/`, as every page and email is rendered: undefined
    names fail, blocks trimmed. Templates do not change during a run: without `auto_reload`
    off, every render of a page that extends or imports another looks up the other's
    modification time again."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


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

"""The pages of a week: summary.html (the leaders' dashboard) and managers/<name>.html (SPEC §5).

Pages are built to be read in a browser and pasted into an email body: inline `style` attributes
only, tables for layout, no JavaScript and no external asset. Customer phones are masked. Jinja
runs with `autoescape=True` and `StrictUndefined`, so input text never becomes markup and a
misspelt field fails loudly instead of rendering empty. Templates live in the top-level
`templates/` folder and only place values computed in `context.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import jinja2

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

"""The group's closed week side by side (SPEC §10): `group.json`, `group.xlsx` and `group.html`
from each office's stored results.json of the week, nothing re-derived from rows.

Per office, `teams` (one per team of the week's managers, by name) and `totals` hold the fields
of period.json's `teams` and `office` (§8), summed over the week's managers: `managers` counts
them, `weeks_met` those assessed (`active_days` > 0) who met every target; `clawback` and
`adjustment` read "0.00" from results that have none. Offices by name (code point).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..texts import t
from ..weeks import Week
from ..xlsx.writer import col_name
from .context import GREEN, bar, labels
from .html import environment

ITEMS = ("leads", "visits", "units")
FINES = ("leads", "visits", "units", "total")
COMMISSION = ("visit", "lead", "total")
CENT = Decimal("0.01")


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT) + 0)  # + 0: never "-0.00"


def totals(managers: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sums of period.json's `office` fields over these managers' entries of a week."""
    managers = list(managers)
    counts = {part: dict.fromkeys(ITEMS, 0) for part in ("targets", "achieved", "shortfall")}
    fines = dict.fromkeys(FINES, Decimal(0))
    commission = dict.fromkeys(COMMISSION, Decimal(0))
    clawback = adjustment = net = Decimal(0)
    for m in managers:
        for part, sums in counts.items():
            for item in ITEMS:
                sums[item] += int(m[part][item])
        for key in FINES:
            fines[key] += Decimal(m["fines"][key])
        for key in COMMISSION:
            commission[key] += Decimal(m["commission"][key])
        clawback += Decimal(m.get("clawback", "0.00"))
        adjustment += Decimal(m.get("adjustment", "0.00"))
        net += Decimal(m["net"])
    return {
        "managers": len(managers),
        "weeks_met": sum(1 for m in managers if m["active_days"] > 0 and m["met"]),
        **counts,
        "fines": {k: _money(v) for k, v in fines.items()},
        "commission": {k: _money(v) for k, v in commission.items()},
        "clawback": _money(clawback), "adjustment": _money(adjustment), "net": _money(net),
    }


def office_entry(office: str, results: dict[str, Any]) -> dict[str, Any]:
    teams: dict[str, list[dict[str, Any]]] = {}
    for m in results["managers"]:
        teams.setdefault(m["team"], []).append(m)
    return {"office": office,
            "teams": [{"team": team, **totals(teams[team])} for team in sorted(teams)],
            "totals": totals(results["managers"])}


def group_json(week: str, offices: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """group.json: every office that closed `week`, from its stored results."""
    return {"schema": 1, "week": week,
            "offices": [office_entry(office, results) for office, results in sorted(offices, key=lambda o: o[0])]}


def _reviews(results: dict[str, Any]) -> dict[str | None, int]:
    """Dismissal reviews of the week per team, and in all (key None)."""
    out: dict[str | None, int] = {None: 0}
    for m in results["managers"]:
        if m["dismissal_review"]:
            out[m["team"]] = out.get(m["team"], 0) + 1
            out[None] += 1
    return out


# ---- the page


@dataclass(frozen=True)
class GroupLine:
    name: str
    sub: bool        # a team's line under its office
    managers: str    # "met / managers"
    reviews: int
    bars: list[Any]
    fines: str
    commission: str
    clawback: str
    adjustment: str
    net: str
    net_colour: str
    net_bar: int     # the net's share of the largest office's, in %


def _line(name: str, entry: dict[str, Any], reviews: int, largest: Decimal, sub: bool) -> GroupLine:
    net = Decimal(entry["net"])
    share = int(max(Decimal(0), net) * 100 / largest) if largest > 0 else 0
    return GroupLine(name, sub, f"{entry['weeks_met']} / {entry['managers']}", reviews,
                     [bar(entry["achieved"][i], entry["targets"][i]) for i in ITEMS],
                     entry["fines"]["total"], entry["commission"]["total"], entry["clawback"], entry["adjustment"],
                     entry["net"], "#dc2626" if net < 0 else "#111827", share)


def _lines(doc: dict[str, Any], results: dict[str, dict[str, Any]], lang: str) -> list[GroupLine]:
    offices = doc["offices"]
    largest = max((Decimal(o["totals"]["net"]) for o in offices), default=Decimal(0))
    lines = []
    for o in offices:
        reviews = _reviews(results[o["office"]])
        lines.append(_line(o["office"] or t(lang, "report.group.unnamed"), o["totals"], reviews[None], largest, False))
        lines += [_line(team["team"], team, reviews.get(team["team"], 0), largest, True) for team in o["teams"]]
    return lines


def render_html(doc: dict[str, Any], results: dict[str, dict[str, Any]], lang: str, now: str) -> str:
    week = Week.parse(doc["week"])
    all_managers = [m for r in results.values() for m in r["managers"]]
    group = totals(all_managers)
    page = {
        "lang": lang, "L": labels(lang),
        "title": t(lang, "report.group.title", week=doc["week"]),
        "period": t(lang, "report.period", start=week.monday.isoformat(), end=week.sunday.isoformat()),
        "generated": t(lang, "report.group.generated", now=now, offices=len(doc["offices"])),
        "item_labels": [t(lang, f"report.item.{i}") for i in ITEMS],
        "lines": _lines(doc, results, lang),
        "group": _line(t(lang, "report.group.total"), group, sum(_reviews(r)[None] for r in results.values()),
                       Decimal(0), False),
        "green": GREEN,
    }
    return environment().get_template("group.html").render(page=page)


# ---- the workbook


def write_xlsx(doc: dict[str, Any], results: dict[str, dict[str, Any]], lang: str, path: Path) -> None:
    """One sheet, an office's line then its teams', every figure of group.json as a number, and
    a chart of each office's net."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                           "strings_to_numbers": False})
    try:
        book.set_properties({"created": None})
    except TypeError:  # older xlsxwriter
        pass
    head = book.add_format({"bold": True, "bg_color": "#EFF6FF", "font_color": "#1E3A8A", "bottom": 1,
                            "text_wrap": True, "valign": "top"})
    money = book.add_format({"num_format": "#,##0.00"})
    money_bold = book.add_format({"num_format": "#,##0.00", "bold": True, "bg_color": "#F3F4F6"})
    bold = book.add_format({"bold": True, "bg_color": "#F3F4F6"})
    sheet = book.add_worksheet(t(lang, "report.group.sheet"))
    columns = [t(lang, "report.group.office"), t(lang, "report.col.team"), t(lang, "report.group.managers"),
               t(lang, "report.group.met"), t(lang, "report.col.dismissal_review")]
    for part in ("target_of", "achieved_of", "shortfall_of"):
        columns += [t(lang, f"report.col.{part}", item=t(lang, f"report.item.{i}")) for i in ITEMS]
    columns += [t(lang, "report.col.fine_of", item=t(lang, f"report.item.{i}")) for i in ITEMS]
    columns += [t(lang, "report.col.fines_total"), t(lang, "report.col.commission_visit"),
                t(lang, "report.col.commission_lead"), t(lang, "report.col.commission_total"),
                t(lang, "report.group.clawback"), t(lang, "report.group.adjustment"), t(lang, "report.col.net")]
    sheet.write_row(0, 0, columns, head)
    sheet.freeze_panes(1, 2)
    sheet.set_column(0, 1, 16)
    sheet.set_column(2, len(columns) - 1, 11)
    row = 1
    office_rows = []
    for o in doc["offices"]:
        reviews = _reviews(results[o["office"]])
        for team, entry in [(None, o["totals"]), *((tm["team"], tm) for tm in o["teams"])]:
            text, number = (bold, money_bold) if team is None else (None, money)
            sheet.write_string(row, 0, o["office"], text)
            sheet.write_string(row, 1, team if team is not None else t(lang, "report.group.all_teams"), text)
            values: list[Any] = [entry["managers"], entry["weeks_met"], reviews.get(team, 0)]
            for part in ("targets", "achieved", "shortfall"):
                values += [entry[part][i] for i in ITEMS]
            sheet.write_row(row, 2, values, text)
            amounts = [*(entry["fines"][k] for k in FINES), *(entry["commission"][k] for k in COMMISSION),
                       entry["clawback"], entry["adjustment"], entry["net"]]
            for k, amount in enumerate(amounts):
                sheet.write_number(row, 2 + len(values) + k, float(Decimal(amount)), number)
            if team is None:
                office_rows.append(row)
            row += 1
    if office_rows:  # one bar per office (its teams' rows between are left out)
        chart = book.add_chart({"type": "bar"})
        net_col = col_name(len(columns) - 1)
        chart.add_series({
            "name": t(lang, "report.col.net"),
            "categories": "=(" + ",".join(f"'{sheet.name}'!$A${r + 1}" for r in office_rows) + ")",
            "values": "=(" + ",".join(f"'{sheet.name}'!${net_col}${r + 1}" for r in office_rows) + ")",
            "fill": {"color": "#1D4ED8"},
        })
        chart.set_title({"name": t(lang, "report.group.chart")})
        chart.set_legend({"none": True})
        sheet.insert_chart(row + 1, 0, chart, {"x_scale": 1.6, "y_scale": 1 + 0.1 * len(office_rows)})
    book.close()


def write_group(out: Path, week: str, offices: list[tuple[str, dict[str, Any]]], lang: str, now: str,
                run_id: str) -> Path:
    """`out/group-<week>/` with the three files, written beside it and renamed into place."""
    doc = group_json(week, offices)
    results = {office: r for office, r in offices}
    out.mkdir(parents=True, exist_ok=True)
    final, tmp = out / f"group-{week}", out / f".group-{week}.tmp-{run_id}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / "group.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_xlsx(doc, results, lang, tmp / "group.xlsx")
    (tmp / "group.html").write_text(render_html(doc, results, lang, now), encoding="utf-8")
    old = out / f".group-{week}.old-{run_id}"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final

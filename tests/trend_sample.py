"""A sample week with seven closed weeks before it, and a statement with a dozen rejected rows:
what the trend, phone and print tests render. Built by hand from `test_reports.sample_report`."""

from __future__ import annotations

from typing import Any

from pipeline.report.model import WeekReport
from tests.test_reports import EVIL, WANG, ZHANG, _manager, _src, sample_report

# Seven weeks before 2026-W48, as their results.json list the managers: (leads, visits, units)
# achieved; 张伟 slips, 王芳 recovers, the third manager was not assessed in W43.
EARLIER_WEEKS = ["2026-W41", "2026-W42", "2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]
PAST: dict[str, list[tuple[int, int, int]]] = {
    ZHANG: [(100, 16, 3), (100, 16, 3), (96, 15, 3), (90, 14, 2), (80, 12, 2), (70, 10, 1), (60, 8, 1)],
    WANG: [(40, 5, 1), (55, 8, 1), (70, 10, 2), (85, 13, 2), (100, 16, 3), (100, 16, 3), (100, 17, 4)],
    EVIL: [(20, 3, 0), (30, 4, 1), (0, 0, 0), (25, 2, 0), (15, 3, 0), (12, 1, 0), (10, 2, 0)],
}
TEAMS = {ZHANG: "一组", WANG: "一组", EVIL: "二组"}
LONG_NAME = "weekly_leads_summary_for_the_sales_office_final_version_2026_11_30_updated_by_admin.xlsx"


def _past_week(i: int) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(PAST):
        if name == EVIL and i == 2:
            continue           # not assessed that week: absent from its results.json
        achieved = PAST[name][i]
        m = _manager(name, TEAMS[name], achieved, ("0.00", "200.00" if i % 2 else "0.00"), 0)
        m["streak"] = 0 if m["met"] else 1
        rows.append(m)
    return rows


def report_with_history(lang: str = "zh", rejected: int = 0) -> WeekReport:
    """`sample_report` with seven closed weeks before it and, with `rejected`, that many more
    rejected rows of 张伟's (long file names, every kind of reason) for the phone layout."""
    report = sample_report(lang)
    report.earlier = [(week, _past_week(i)) for i, week in enumerate(EARLIER_WEEKS)]
    reasons = ["ALREADY_REGISTERED", "DUPLICATE_OWN", "NOT_FIRST_VISIT", "INVALID_PHONE", "INVALID_DATE",
               "SALESPERSON_OTHER_TEAM", "NOT_REGISTERED", "MISSING_VALUE", "REGISTERED_BY_OTHER", "NO_PHOTO",
               "DUPLICATE_UNIT", "INACTIVE_MANAGER"]
    extra = [{"kind": ("leads", "visits", "units")[i % 3],
              "source": _src(f"2026年11月第4周诚意客户号码汇总表（张伟组）第{i}版.xlsx" if i else LONG_NAME, "第48周", 20 + i),
              "reason": reasons[i % len(reasons)], "message": "…", "manager": ZHANG,
              "phone": f"1380013{8000 + i}"} for i in range(rejected)]
    report.results["rejections"] = [*report.results["rejections"], *extra]
    report.results["stats"]["rejected"] = len(report.results["rejections"])
    return report

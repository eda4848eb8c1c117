"""The naive baseline: the script a capable analyst would write for the leads part alone.

pandas ``read_excel`` with its default engine (openpyxl) for the roster, the registration ledger
(every sheet) and the week's leads; ``drop_duplicates`` on the phone against the ledger (a number
counts for the first who registered it, ledger first, then leads in submission order); ``groupby``
counts per manager; the fine for the missing numbers; one ``to_excel`` per manager into a folder.
No visits, units, deals, commissions, history, HTML or mail: the product does all of that too,
so the comparison flatters the baseline.

Usage: python bench/baseline.py INBOX OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

TARGET = 100  # numbers per manager per week
FINE = 1.0    # CNY per missing number


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    inbox, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    roster_file = next(inbox.glob("团队名单*.xlsx"))
    ledger_file = next(inbox.glob("客户登记备案*.xlsx"))
    leads_file = next(inbox.glob("诚意客户号码汇总表*.xlsx"))

    # engine="openpyxl" is pandas' default for .xlsx; named so that a newer pandas keeps measuring it
    roster = pd.read_excel(roster_file, engine="openpyxl")
    managers = roster.loc[roster["岗位"] == "大客户经理", "姓名"]
    ledger = pd.concat(pd.read_excel(ledger_file, sheet_name=None, dtype={"手机号码": str},
                                     engine="openpyxl").values())
    leads = pd.read_excel(leads_file, header=1, dtype={"手机号码": str}, engine="openpyxl")  # a title row above the header

    leads["手机号码"] = leads["手机号码"].str.strip()
    leads = leads.sort_values("提交时间", kind="stable")
    both = pd.concat([ledger[["手机号码"]].assign(来源="登记"), leads.assign(来源="号码")], ignore_index=True)
    accepted = both.drop_duplicates("手机号码", keep="first")
    accepted = accepted[accepted["来源"] == "号码"].drop(columns="来源")

    counts = accepted.groupby("客户经理").size().reindex(managers, fill_value=0)
    summary = pd.DataFrame({"客户经理": counts.index, "有效号码": counts.values})
    summary["缺少"] = (TARGET - summary["有效号码"]).clip(lower=0)
    summary["罚款"] = summary["缺少"] * FINE
    summary.to_excel(out / "汇总.xlsx", index=False)

    by_manager = dict(tuple(accepted.groupby("客户经理")))
    for name in managers:
        mine = by_manager.get(name, accepted.iloc[0:0])
        mine.to_excel(out / f"{name}.xlsx", index=False)
    print(f"{len(leads)} leads, {len(accepted)} accepted, {int(summary['缺少'].sum())} missing, "
          f"{summary['罚款'].sum():.2f} CNY fines, {len(managers)} statements")
    return 0


if __name__ == "__main__":
    sys.exit(main())

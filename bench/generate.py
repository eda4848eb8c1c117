"""Generate the benchmark's "big office" inbox, deterministically from a seed.

Two inboxes are written, one per benchmark week:

- ``week1/`` (2026-W46): the roster, the office's cumulative registration ledger (its dates fall in
  the year before the week) and one week of leads, visits, units and deals;
- ``week2/`` (2026-W47): the cumulative ledger dropped again, grown by 5 % (new rows dated in W46
  and W47), and a new week of leads, visits, units and deals. The roster is not dropped again:
  the stored one applies.

Collisions are those an office really has: about 5 % of the submitted numbers are already in the
ledger, about 2 % are submitted by a second manager, a few by the same manager twice; most visits
are first visits of the owning manager's own numbers to a salesperson of the same team, a few are
repeat visits, visits of numbers owned by someone else or handed to another team's salesperson;
most deals are on visited numbers or managers' numbers, some on channel-registered or unregistered
ones; a few units are canvassed twice or lack their photo.

Every workbook is written with xlsxwriter in constant-memory mode (one row in memory at a time),
two files at a time. Phones are text cells of 11 digits, times are Excel date-time cells.

The result is cached in ``bench/.cache/data-<hash>/`` where the hash covers the parameters and
this file's source, so a rerun reuses it and a change of either regenerates it.
``manifest.json`` there lists every file and sheet (header row, data rows, kind) and the
collision counts.

Usage: python bench/generate.py [--quick] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import xlsxwriter

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"

EPOCH = datetime(1899, 12, 30)  # Excel's 1900 date system, day 0 (serial 1 = 1900-01-01 after the leap bug)
DAY = 86400
HOUR = 3600


@dataclass(frozen=True)
class Params:
    seed: int = 20261109
    teams: int = 25
    managers_per_team: int = 20
    salespeople_per_team: int = 4
    ledger_rows: int = 1_000_000
    leads: int = 100_000
    visits: int = 10_000
    units: int = 2_000
    deals: int = 5_000
    already_registered: float = 0.05  # share of submitted numbers already in the ledger
    double_submitted: float = 0.02    # share of submitted numbers submitted by a second manager
    ledger_growth: float = 0.05       # the ledger dropped with week 2 is this much bigger
    week1: str = "2026-W46"
    week2: str = "2026-W47"


FULL = Params()
QUICK = replace(FULL, teams=5, managers_per_team=10, ledger_rows=100_000, leads=10_000, visits=1_000,
                units=200, deals=500)

# Common surnames and given-name characters: enough for 625 unique staff names and plausible customers.
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯婷雪琳晨欣怡佳瑶梓涵子轩"
         "俊杰博文思远嘉诚雨泽一鸣晓东海燕春梅志刚永红建华丹阳亚楠秋菊冬青立新振宇天佑若曦梦琪紫萱雅静诗涵"
         "昊然浩宇皓轩铭哲晟睿子墨奕辰宸逸")
CHANNELS = ("自然到访", "中介渠道", "老带新", "线上推广", "电话来访", "展会", "案场自拓")
CITY = ("杭州", "宁波", "温州", "绍兴", "嘉兴", "湖州", "金华", "台州", "上海", "苏州", "无锡", "南京")
CORE = "华联信达恒通瑞丰创新盛世锦程泰和鸿运天成宏图金桥永安新科博远中兴卓越东方汇通嘉禾海纳中天万达安泰"
TRADE = ("科技有限公司", "贸易有限公司", "建设集团", "实业有限公司", "医院", "中学", "小学", "物流有限公司",
         "电子有限公司", "机械制造有限公司", "银行支行", "律师事务所", "会计师事务所", "餐饮管理有限公司",
         "汽车销售服务有限公司", "装饰工程有限公司", "生物医药有限公司", "软件有限公司", "街道办事处", "税务分局")
STREETS = ("解放路", "中山路", "人民路", "文一路", "学院路", "建国路", "延安路", "江南大道", "滨江路", "钱江路")
# Mainland mobile prefixes in use (all match ^1[3-9]\d{9}$).
PREFIXES = (130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 147, 150, 151, 152, 153, 155, 156, 157,
            158, 159, 166, 170, 171, 172, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187,
            188, 189, 191, 193, 195, 196, 197, 198, 199)
CN_DIGITS = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """1..99 in Chinese numerals: 1 一, 10 十, 12 十二, 25 二十五."""
    tens, ones = divmod(n, 10)
    return (("" if tens == 1 else CN_DIGITS[tens]) + "十" if tens else "") + (CN_DIGITS[ones] if ones else "")


def week_start(week: str) -> datetime:
    year, w = week.split("-W")
    return datetime.combine(date.fromisocalendar(int(year), int(w), 1), datetime.min.time())


def secs(d: datetime) -> int:
    """Seconds since Excel's epoch: integer, so that times stay exact to the second."""
    return int((d - EPOCH).total_seconds())


def cache_key(p: Params) -> str:
    h = hashlib.sha256(json.dumps(asdict(p), sort_keys=True).encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:12]


def data_dir(p: Params) -> Path:
    return CACHE / f"data-{cache_key(p)}"


# --------------------------------------------------------------------------------------------
# The office and its customers
# --------------------------------------------------------------------------------------------

class Office:
    def __init__(self, p: Params) -> None:
        self.p = p
        self.rng = np.random.default_rng(p.seed)
        rng = self.rng
        self.team_names = [cn_number(i + 1) + "组" for i in range(p.teams)]
        names: set[str] = set()

        def new_name() -> str:
            while True:
                given = "".join(GIVEN[i] for i in rng.integers(0, len(GIVEN), int(rng.integers(1, 3))))
                n = SURNAMES[int(rng.integers(0, len(SURNAMES)))] + given
                if n not in names:
                    names.add(n)
                    return n

        self.managers: list[str] = []
        self.manager_team: list[int] = []
        self.salespeople: list[str] = []
        self.sp_team: list[int] = []
        self.roster: list[tuple[str, str, str, str, int]] = []  # name, role, team, email, hired (day serial)
        hired_lo, hired_hi = secs(datetime(2019, 3, 1)) // DAY, secs(datetime(2025, 10, 1)) // DAY
        for t, team in enumerate(self.team_names):
            people = [("负责人", new_name())]
            people += [("大客户经理", new_name()) for _ in range(p.managers_per_team)]
            people += [("销售员", new_name()) for _ in range(p.salespeople_per_team)]
            for role, name in people:
                if role == "大客户经理":
                    self.managers.append(name)
                    self.manager_team.append(t)
                    email = f"kam{len(self.managers):03d}@example.com"
                elif role == "销售员":
                    self.salespeople.append(name)
                    self.sp_team.append(t)
                    email = f"sales{len(self.salespeople):03d}@example.com"
                else:
                    email = f"lead{t + 1:02d}@example.com"
                self.roster.append((name, role, team, email, int(rng.integers(hired_lo, hired_hi))))
        self.team_sps: list[list[int]] = [[] for _ in self.team_names]
        for i, t in enumerate(self.sp_team):
            self.team_sps[t].append(i)
        m, s = len(self.managers), len(self.salespeople)
        # registrant codes: managers 0..m-1, salespeople m..m+s-1, channels after
        self.registrants = self.managers + self.salespeople + list(CHANNELS)
        self.first_sp, self.first_channel = m, m + s
        # how busy each manager is: some fall short of the targets and are fined
        self.lead_weight = rng.gamma(4.0, 1.0, m)
        self.visit_weight = rng.gamma(4.0, 1.0, m)
        self.unit_weight = rng.gamma(3.0, 1.0, m)
        # one pool of distinct valid mobiles, handed out in order
        need = int(p.ledger_rows * (1 + p.ledger_growth) + 2 * p.leads + 2 * p.visits + 2 * p.deals) + 1000
        draw = rng.choice(np.array(PREFIXES, dtype=np.int64), int(need * 1.05)) * 100_000_000 \
            + rng.integers(0, 100_000_000, int(need * 1.05))
        pool = np.unique(draw)
        self.pool = rng.permutation(pool)[:need]
        self.pool_at = 0

    def phones(self, n: int) -> np.ndarray:
        out = self.pool[self.pool_at:self.pool_at + n]
        if len(out) < n:
            raise RuntimeError("phone pool exhausted")
        self.pool_at += n
        return out

    def customer_names(self, n: int) -> list[str]:
        rng = self.rng
        sur = rng.integers(0, len(SURNAMES), n)
        g1 = rng.integers(0, len(GIVEN), n)
        g2 = rng.integers(-len(GIVEN) // 2, len(GIVEN), n)  # negative: a one-character given name
        style = rng.random(n)
        out = []
        for s, a, b, st in zip(sur.tolist(), g1.tolist(), g2.tolist(), style.tolist(), strict=True):
            if st < 0.08:
                out.append(SURNAMES[s] + ("先生" if a % 2 else "女士"))
            else:
                out.append(SURNAMES[s] + GIVEN[a] + (GIVEN[b] if b >= 0 else ""))
        return out

    def office_times(self, n: int, first_day: int, days: int, lo: float = 8.5, hi: float = 21.0) -> np.ndarray:
        """n times (seconds since the Excel epoch) on days [first_day, first_day + days), office hours."""
        d = self.rng.integers(0, days, n) + first_day
        return d * DAY + self.rng.integers(int(lo * HOUR), int(hi * HOUR), n)


# --------------------------------------------------------------------------------------------
# The registrations ledger
# --------------------------------------------------------------------------------------------

@dataclass
class Ledger:
    phone: np.ndarray
    t: np.ndarray
    reg: np.ndarray       # registrant code
    customer: list[str]


def make_ledger(o: Office, n: int, first_day: int, days: int) -> Ledger:
    rng = o.rng
    m, s = len(o.managers), len(o.salespeople)
    phone = o.phones(n).copy()
    # a few numbers registered again later by someone else: the first registration owns them
    k = n * 3 // 1000
    again = rng.choice(n, k, replace=False)
    phone[again] = phone[rng.choice(n, k)]
    u = rng.random(n)
    reg = np.where(u < 0.55, rng.integers(0, m, n),
                   np.where(u < 0.65, m + rng.integers(0, s, n), m + s + rng.integers(0, len(CHANNELS), n)))
    t = o.office_times(n, first_day, days)
    order = np.argsort(t, kind="stable")
    return Ledger(phone[order], t[order], reg[order], o.customer_names(n))


# --------------------------------------------------------------------------------------------
# One week of submissions
# --------------------------------------------------------------------------------------------

@dataclass
class Week:
    name: str
    first_day: int  # day serial of its Monday
    leads: dict[str, list[Any]]
    visits: dict[str, list[Any]]
    units: dict[str, list[Any]]
    deals: dict[str, list[Any]]
    stats: dict[str, int]


class History:
    """What the generator knows the product will know: owners, visits, units; to make week 2 coherent."""

    def __init__(self, o: Office, ledger: Ledger) -> None:
        self.o = o
        self.owner: dict[int, tuple[int, int]] = {}  # phone -> (registrant code, time)
        self.manager_phones: dict[int, list[int]] = defaultdict(list)  # manager -> owned phones, registration order
        self.other_owned: list[int] = []  # phones owned by a non-manager
        self.visited: dict[int, tuple[int, int, int]] = {}  # phone -> (manager, salesperson, time) first visit
        self.counted_visits: list[int] = []  # phones with a counted first visit, in order
        self.units: list[str] = []
        self.dealt: set[int] = set()
        self.add_ledger(ledger)

    def add_ledger(self, led: Ledger, before: int | None = None) -> None:
        m = len(self.o.managers)
        for ph, r, t in zip(led.phone.tolist(), led.reg.tolist(), led.t.tolist(), strict=True):
            if before is not None and t >= before:
                continue
            if ph in self.owner:
                continue
            self.owner[ph] = (r, t)
            if r < m:
                self.manager_phones[r].append(ph)
            else:
                self.other_owned.append(ph)


def gen_week(o: Office, h: History, name: str, ledger_now: Ledger, prev: Week | None) -> Week:
    p, rng = o.p, o.rng
    m = len(o.managers)
    day0 = secs(week_start(name)) // DAY
    t_start, t_end = day0 * DAY, (day0 + 7) * DAY
    stats: dict[str, int] = defaultdict(int)

    # ---- leads -------------------------------------------------------------------------------
    n = p.leads
    mgr = rng.choice(m, n, p=o.lead_weight / o.lead_weight.sum())
    t = o.office_times(n, day0, 7, 9.0, 21.0)
    phone = o.phones(n).copy()
    cat = np.zeros(n, dtype=np.int8)  # 0 fresh, 1 in ledger, 2 second manager, 3 same manager again, 4 last week's
    perm = rng.permutation(n)
    n_reg, n_dbl, n_self = round(n * p.already_registered), round(n * p.double_submitted), n // 200
    n_prev = n // 100 if prev is not None else 0
    i_reg = perm[:n_reg]
    i_dbl = perm[n_reg:n_reg + n_dbl]
    i_self = perm[n_reg + n_dbl:n_reg + n_dbl + n_self]
    i_prev = perm[n_reg + n_dbl + n_self:n_reg + n_dbl + n_self + n_prev]
    fresh = perm[n_reg + n_dbl + n_self + n_prev:]
    # numbers registered in the ledger before the week (the ledger dropped with this week)
    before = ledger_now.phone[ledger_now.t < t_start]
    phone[i_reg] = before[rng.integers(0, len(before), n_reg)]
    cat[i_reg] = 1
    src = fresh[rng.integers(0, len(fresh), n_dbl)]
    phone[i_dbl] = phone[src]
    mgr[i_dbl] = np.where(mgr[i_dbl] == mgr[src], (mgr[src] + 1 + rng.integers(0, m - 1, n_dbl)) % m, mgr[i_dbl])
    cat[i_dbl] = 2
    src = fresh[rng.integers(0, len(fresh), n_self)]
    phone[i_self] = phone[src]
    mgr[i_self] = mgr[src]
    cat[i_self] = 3
    if prev is not None:
        last = np.array(prev.leads["_accepted"], dtype=np.int64)
        phone[i_prev] = last[rng.integers(0, len(last), n_prev)]
        cat[i_prev] = 4
    order = np.argsort(t, kind="stable")
    mgr, t, phone, cat = mgr[order], t[order], phone[order], cat[order]
    accepted: list[int] = []
    accepted_t: dict[int, int] = {}
    for ph, mm, tt in zip(phone.tolist(), mgr.tolist(), t.tolist(), strict=True):
        own = h.owner.get(ph)
        if own is None:
            h.owner[ph] = (mm, tt)
            h.manager_phones[mm].append(ph)
            accepted.append(ph)
            accepted_t[ph] = tt
            stats["leads_accepted"] += 1
        elif own[0] == mm:
            stats["leads_duplicate_own"] += 1
        else:
            stats["leads_already_registered"] += 1
    stats["leads_in_ledger"] = n_reg
    stats["leads_second_manager"] = n_dbl
    leads = {
        "客户经理": [o.managers[i] for i in mgr.tolist()],
        "手机号码": [str(x) for x in phone.tolist()],
        "提交时间": t.tolist(),
        "客户": o.customer_names(n),
        "_accepted": accepted,
    }

    # ---- visits ------------------------------------------------------------------------------
    n = p.visits
    vm = rng.choice(m, n, p=o.visit_weight / o.visit_weight.sum())
    # the manager's own numbers that have not been visited yet, this week's leads first
    own_new: dict[int, list[int]] = defaultdict(list)
    for ph in accepted:
        own_new[h.owner[ph][0]].append(ph)
    for lst in own_new.values():
        rng.shuffle(lst)
    own_old: dict[int, list[int]] = {}
    vrows: list[tuple[int, int, int, int]] = []  # time, manager, phone, salesperson
    new_visits: dict[int, tuple[int, int, int]] = {}
    u = rng.random(n)

    def pick_old(mm: int) -> int | None:
        lst = own_old.get(mm)
        if lst is None:
            lst = list(h.manager_phones[mm])
            rng.shuffle(lst)
            own_old[mm] = lst
        while lst:
            ph = lst.pop()
            if ph not in h.visited and ph not in new_visits and h.owner[ph][1] < t_start:
                return ph
        return None

    for mm, uu in zip(vm.tolist(), u.tolist(), strict=True):
        team = o.manager_team[mm]
        if rng.random() < 0.03:  # handed to another team's salesperson
            sp = int(rng.integers(0, len(o.salespeople)))
            while o.sp_team[sp] == team:
                sp = int(rng.integers(0, len(o.salespeople)))
        else:
            sps = o.team_sps[team]
            sp = sps[int(rng.integers(0, len(sps)))]
        ph: int | None = None
        tv = 0
        if uu < 0.80:  # this week's own lead, visited after it was submitted
            lst = own_new.get(mm, [])
            while lst and ph is None:
                cand = lst.pop()
                tl = accepted_t[cand]
                d_lo = (tl + HOUR) // DAY
                if d_lo >= day0 + 7:
                    continue
                d = int(rng.integers(d_lo, day0 + 7))
                tv = d * DAY + int(rng.integers(9 * HOUR, 20 * HOUR))
                if tv > tl + HOUR:
                    ph = cand
            stats["visits_own_lead"] += ph is not None
        elif uu < 0.93:
            pass  # an older number of the manager's own, below
        elif uu < 0.96:  # a repeat visit
            earlier = [x for x in new_visits if new_visits[x][0] == mm] or \
                      [x for x in h.counted_visits[-2000:] if h.visited[x][0] == mm]
            if earlier:
                ph = earlier[int(rng.integers(0, len(earlier)))]
                first = new_visits.get(ph) or h.visited[ph]
                tv = max(first[2], t_start) + int(rng.integers(HOUR, 3 * DAY))
                tv = min(tv, t_end - 3 * HOUR)
                vrows.append((tv, mm, ph, sp))
                stats["visits_repeat"] += 1
                continue
        elif uu < 0.98:  # a number owned by another manager
            other = (mm + 1 + int(rng.integers(0, m - 1))) % m
            cands = h.manager_phones[other]
            ph = cands[int(rng.integers(0, len(cands)))] if cands else None
            if ph is not None:
                tv = int(o.office_times(1, day0, 7, 9.0, 20.0)[0])
                vrows.append((tv, mm, ph, sp))
                stats["visits_registered_by_other"] += 1
                continue
        else:  # a number nobody registered
            ph = int(o.phones(1)[0])
            tv = int(o.office_times(1, day0, 7, 9.0, 20.0)[0])
            vrows.append((tv, mm, ph, sp))
            stats["visits_not_registered"] += 1
            continue
        if ph is None:
            ph = pick_old(mm)
            tv = int(o.office_times(1, day0, 7, 9.0, 20.0)[0])
            stats["visits_own_older"] += ph is not None
        if ph is None:
            continue
        vrows.append((tv, mm, ph, sp))
        new_visits[ph] = (mm, sp, tv)
    vrows.sort()
    stats["visits_other_team"] = sum(o.sp_team[sp] != o.manager_team[mm] for _, mm, _, sp in vrows)
    for ph, v in sorted(new_visits.items(), key=lambda kv: kv[1][2]):
        h.visited[ph] = v
        if o.sp_team[v[1]] == o.manager_team[v[0]]:
            h.counted_visits.append(ph)
    nv = len(vrows)
    visits = {
        "客户经理": [o.managers[r[1]] for r in vrows],
        "手机号码": [str(r[2]) for r in vrows],
        "到访时间": [r[0] for r in vrows],
        "销售员": [o.salespeople[r[3]] for r in vrows],
        "客户": o.customer_names(nv),
        "人数": rng.integers(1, 5, nv).tolist(),
    }

    # ---- units -------------------------------------------------------------------------------
    n = p.units
    um = rng.choice(m, n, p=o.unit_weight / o.unit_weight.sum())
    ut = np.sort(o.office_times(n, day0, 7, 9.0, 19.0))
    names: list[str] = []
    seen = set(h.units)
    for i in range(n):
        if i > 10 and rng.random() < 0.02:  # canvassed before, by someone (spelt a little differently)
            old = h.units + names
            nm = old[int(rng.integers(0, len(old)))]
            names.append(nm.replace("有限公司", " 有限公司") if rng.random() < 0.5 else nm)
            stats["units_duplicate"] += 1
            continue
        while True:
            nm = (CITY[int(rng.integers(0, len(CITY)))]
                  + "".join(CORE[j] for j in rng.integers(0, len(CORE), 2))
                  + TRADE[int(rng.integers(0, len(TRADE)))])
            if nm not in seen:
                seen.add(nm)
                break
        names.append(nm)
    h.units.extend(names)
    photo = []
    for tt in ut.tolist():
        if rng.random() < 0.03:
            photo.append(None)
            stats["units_no_photo"] += 1
        else:
            dt = EPOCH + timedelta(seconds=tt)
            photo.append(f"IMG_{dt:%Y%m%d_%H%M%S}.jpg")
    units = {
        "客户经理": [o.managers[i] for i in um.tolist()],
        "单位名称": names,
        "拓展时间": ut.tolist(),
        "照片": photo,
        "地址": [f"{CITY[i % len(CITY)]}市{STREETS[i % len(STREETS)]}{i % 997 + 1}号"
               for i in rng.integers(0, 10**6, n).tolist()],
    }

    # ---- deals -------------------------------------------------------------------------------
    n = p.deals
    drows: list[tuple[int, int, int, Any]] = []  # day, phone, salesperson, commission
    # a deal is dated (day only) after the visit or the registration: the day after at the earliest
    visited_now = [ph for ph in h.counted_visits if ph not in h.dealt and h.visited[ph][2] // DAY + 1 < day0 + 7]
    rng.shuffle(visited_now)
    owned_now = accepted + [ph for ph in (prev.leads["_accepted"] if prev else []) if ph not in h.visited]
    owned_now = [ph for ph in owned_now
                 if ph not in h.dealt and ph not in h.visited and h.owner[ph][1] // DAY + 1 < day0 + 7]
    rng.shuffle(owned_now)
    channel = [ph for ph in h.other_owned[-200_000:] if ph not in h.dealt]
    u = rng.random(n)
    for uu in u.tolist():
        if uu < 0.50 and visited_now:
            ph = visited_now.pop()
            mm, sp, tv = h.visited[ph]
            d_lo = max(tv // DAY + 1, day0)
            stats["deals_visited"] += 1
        elif uu < 0.82 and owned_now:
            ph = owned_now.pop()
            d_lo = max(h.owner[ph][1] // DAY + 1, day0)
            sp = int(rng.integers(0, len(o.salespeople)))
            stats["deals_lead"] += 1
        elif uu < 0.93 and channel:
            ph = channel[int(rng.integers(0, len(channel)))]
            d_lo, sp = day0, int(rng.integers(0, len(o.salespeople)))
            stats["deals_not_manager"] += 1
        else:
            ph = int(o.phones(1)[0])
            d_lo, sp = day0, int(rng.integers(0, len(o.salespeople)))
            stats["deals_not_registered"] += 1
        h.dealt.add(ph)
        c = int(rng.integers(30, 121)) * 100
        r = rng.random()
        com: Any = c if r < 0.9 else (f"{c:,}" if r < 0.95 else f"{c}元")
        drows.append((int(rng.integers(d_lo, day0 + 7)), ph, sp, com))
    drows.sort(key=lambda r: r[0])
    nd = len(drows)
    rooms = [f"{b}-{f}{x:02d}" for b, f, x in zip(rng.integers(1, 13, nd).tolist(), rng.integers(2, 34, nd).tolist(),
                                                   rng.integers(1, 5, nd).tolist(), strict=True)]
    deals = {
        "手机号码": [str(r[1]) for r in drows],
        "成交日期": [r[0] for r in drows],
        "销售员": [o.salespeople[r[2]] for r in drows],
        "佣金": [r[3] for r in drows],
        "房号": rooms,
        "客户": o.customer_names(nd),
    }
    return Week(name, day0, leads, visits, units, deals, dict(stats))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

# column type per header: s text, dt date-time serial seconds, d day serial, n number, x text or number
COLTYPE = {"姓名": "s", "岗位": "s", "团队": "s", "邮箱": "s", "入职日期": "d", "手机号码": "s", "登记时间": "dt",
           "登记人": "s", "客户": "s", "客户经理": "s", "提交时间": "dt", "到访时间": "dt", "销售员": "s",
           "人数": "n", "单位名称": "s", "拓展时间": "dt", "照片": "s", "地址": "s", "成交日期": "d", "佣金": "x",
           "房号": "s"}
WIDTH = {"s": 14, "dt": 19, "d": 12, "n": 8, "x": 10}


@dataclass
class SheetSpec:
    name: str
    kind: str
    title: str | None
    columns: dict[str, list[Any]]
    rows: slice | None = None


def write_workbook(path: Path, sheets: list[SheetSpec]) -> list[dict[str, Any]]:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    fmt_dt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    fmt_d = wb.add_format({"num_format": "yyyy-mm-dd"})
    fmt_head = wb.add_format({"bold": True})
    fmt_title = wb.add_format({"bold": True, "font_size": 14})
    info = []
    for spec in sheets:
        ws = wb.add_worksheet(spec.name)
        headers = list(spec.columns)
        types = [COLTYPE[h] for h in headers]
        for c, ty in enumerate(types):
            ws.set_column(c, c, WIDTH[ty])
        r = 0
        if spec.title:
            ws.write_string(0, 0, spec.title, fmt_title)
            r = 1
        header_row = r
        for c, hd in enumerate(headers):
            ws.write_string(r, c, hd, fmt_head)
        r += 1
        sl = spec.rows or slice(None)
        cols = [spec.columns[hd][sl] for hd in headers]
        ws_str, ws_num, ws_any = ws.write_string, ws.write_number, ws.write
        # one (writer, transform, format) per column, decided once
        plan = []
        for ty in types:
            if ty == "s":
                plan.append((ws_str, None, None))
            elif ty == "dt":
                plan.append((ws_num, DAY, fmt_dt))
            elif ty == "d":
                plan.append((ws_num, None, fmt_d))
            elif ty == "n":
                plan.append((ws_num, None, None))
            else:
                plan.append((ws_any, None, None))
        first = r
        for row in zip(*cols, strict=True):
            for c, v in enumerate(row):
                if v is None:
                    continue
                w, div, f = plan[c]
                if div is not None:
                    w(r, c, v / div, f)
                elif f is None:
                    w(r, c, v)
                else:
                    w(r, c, v, f)
            r += 1
        info.append({"name": spec.name, "kind": spec.kind, "header_row": header_row, "rows": r - first})
    wb.close()
    return info


def week_label(week: str) -> str:
    y, w = week.split("-W")
    return f"{y}年第{int(w)}周"


def plan_files(o: Office, ledgers: list[Ledger], weeks: list[Week]) -> list[tuple[str, str, list[SheetSpec]]]:
    """(folder, file name, sheets) for every file of both inboxes."""
    roster = {
        "姓名": [r[0] for r in o.roster], "岗位": [r[1] for r in o.roster], "团队": [r[2] for r in o.roster],
        "邮箱": [r[3] for r in o.roster], "入职日期": [r[4] for r in o.roster],
    }
    jobs: list[tuple[str, str, list[SheetSpec]]] = []
    for i, (led, wk) in enumerate(zip(ledgers, weeks, strict=True)):
        folder = f"week{i + 1}"
        if i == 0:
            jobs.append((folder, "团队名单.xlsx", [SheetSpec("团队名单", "roster", None, roster)]))
        cols = {"手机号码": [str(x) for x in led.phone.tolist()], "登记时间": led.t.tolist(),
                "登记人": [o.registrants[r] for r in led.reg.tolist()], "客户": led.customer}
        # one sheet per year, as an admin keeps it (and a sheet holds at most 1,048,576 rows)
        years = (led.t // DAY).astype(np.int64)
        new_year = secs(datetime(2026, 1, 1)) // DAY
        cut = int(np.searchsorted(years, new_year))
        sheets = [SheetSpec("2025年", "registrations", None, cols, slice(0, cut)),
                  SheetSpec("2026年", "registrations", None, cols, slice(cut, None))]
        jobs.append((folder, "客户登记备案.xlsx", sheets))
        label = week_label(wk.name)
        leads = {k: v for k, v in wk.leads.items() if not k.startswith("_")}
        jobs.append((folder, f"诚意客户号码汇总表_{wk.name}.xlsx",
                     [SheetSpec(label, "leads", f"诚意客户号码汇总表（{label}）", leads)]))
        jobs.append((folder, f"到访登记_{wk.name}.xlsx", [SheetSpec(label, "visits", f"到访登记（{label}）", wk.visits)]))
        jobs.append((folder, f"拓展单位登记_{wk.name}.xlsx", [SheetSpec(label, "units", None, wk.units)]))
        jobs.append((folder, f"成交记录_{wk.name}.xlsx", [SheetSpec(label, "deals", None, wk.deals)]))
    return jobs


_JOBS: list[tuple[str, str, list[SheetSpec]]] = []
_OUT: Path = Path()


def _write_job(i: int) -> tuple[int, list[dict[str, Any]]]:
    folder, name, sheets = _JOBS[i]
    return i, write_workbook(_OUT / folder / name, sheets)


def generate(p: Params, out: Path) -> dict[str, Any]:
    global _JOBS, _OUT
    t0 = time.perf_counter()
    o = Office(p)
    w1 = secs(week_start(p.week1)) // DAY
    w2 = secs(week_start(p.week2)) // DAY
    ledger1 = make_ledger(o, p.ledger_rows, w1 - 365, 365)
    h = History(o, ledger1)
    week1 = gen_week(o, h, p.week1, ledger1, None)
    # the ledger dropped with week 2: the same rows plus 5 % registered during weeks 1 and 2
    extra = make_ledger(o, round(p.ledger_rows * p.ledger_growth), w1, w2 + 7 - w1)
    ledger2 = Ledger(np.concatenate([ledger1.phone, extra.phone]), np.concatenate([ledger1.t, extra.t]),
                     np.concatenate([ledger1.reg, extra.reg]), ledger1.customer + extra.customer)
    h.add_ledger(extra, before=secs(week_start(p.week2)))
    week2 = gen_week(o, h, p.week2, ledger2, week1)
    t_data = time.perf_counter() - t0

    for folder in ("week1", "week2"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    _JOBS, _OUT = plan_files(o, [ledger1, ledger2], [week1, week2]), out
    # biggest first, so that the two ledgers go to the two workers
    order = sorted(range(len(_JOBS)), key=lambda i: -sum(len(next(iter(s.columns.values()))[s.rows or slice(None)])
                                                          for s in _JOBS[i][2]))
    results: dict[int, list[dict[str, Any]]] = {}
    workers = max(1, min(2, os.cpu_count() or 1))
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for i, info in pool.imap_unordered(_write_job, order):
                results[i] = info
    else:
        for i in order:
            results[i] = _write_job(i)[1]
    t_write = time.perf_counter() - t0 - t_data

    manifest: dict[str, Any] = {"params": asdict(p), "key": cache_key(p), "weeks": {}}
    for wi, (wk, folder) in enumerate(((week1, "week1"), (week2, "week2"))):
        files = [{"name": _JOBS[i][1], "sheets": results[i]} for i in range(len(_JOBS)) if _JOBS[i][0] == folder]
        files.sort(key=lambda f: f["name"])
        rows = sum(s["rows"] for f in files for s in f["sheets"])
        manifest["weeks"][folder] = {"week": wk.name, "files": files, "rows": rows, "stats": wk.stats,
                                     "ledger_rows": len((ledger1, ledger2)[wi].phone)}
    manifest["seconds"] = {"data": round(t_data, 2), "write": round(t_write, 2)}
    return manifest


def cached(d: Path, build: Any, keep: set[str], force: bool = False) -> tuple[dict[str, Any], bool]:
    """A generated folder kept by the key in its name (`<kind>-<key>`): its manifest.json if it is
    there, else `build(tmp)` (which writes the files and returns the manifest) into a temporary
    folder renamed into place, and the folders of the same kind not in `keep` (older parameters
    or an older generator) removed. Returns (manifest, whether it was built now)."""
    mf = d / "manifest.json"
    if mf.exists() and not force:
        return json.loads(mf.read_text(encoding="utf-8")), False
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = d.parent / f".tmp-{d.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    manifest = build(tmp)
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)
    for old in d.parent.glob(d.name.rsplit("-", 1)[0] + "-*"):
        if old.is_dir() and old.name not in keep | {d.name}:
            shutil.rmtree(old, ignore_errors=True)
    return manifest, True


def ensure(p: Params, force: bool = False, log: Any = print) -> tuple[Path, dict[str, Any]]:
    """The cached inboxes for p, generated first if missing. Returns (folder, manifest)."""
    d = data_dir(p)

    def build(tmp: Path) -> dict[str, Any]:
        log(f"generating the inbox ({p.ledger_rows:,} ledger rows, {p.leads:,} leads) into {d.name} ...")
        return generate(p, tmp)

    manifest, made = cached(d, build, {data_dir(FULL).name, data_dir(QUICK).name}, force)
    if made:
        s = manifest["seconds"]
        log(f"generated in {s['data'] + s['write']:.1f} s (data {s['data']:.1f} s, writing {s['write']:.1f} s)")
    return d, manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 10x smaller inbox")
    ap.add_argument("--force", action="store_true", help="regenerate even if cached")
    a = ap.parse_args()
    d, manifest = ensure(QUICK if a.quick else FULL, a.force)
    print(d)
    for folder, w in manifest["weeks"].items():
        print(f"{folder} ({w['week']}): {w['rows']:,} rows")
        for f in w["files"]:
            print(f"  {f['name']}: " + ", ".join(f"{s['name']} {s['kind']} {s['rows']:,}" for s in f["sheets"]))
        print("  " + ", ".join(f"{k} {v:,}" for k, v in sorted(w["stats"].items())))


if __name__ == "__main__":
    main()

"""`pipeline demo`: a realistic sample inbox, so the whole product can be tried in a minute.

An admin (or a developer) evaluating the pipeline has no data they may share. The demo writes
the six workbooks an office would drop for one week, with the mess real workbooks have: a title
row above the header, header aliases instead of the canonical names, phones as number cells, as
`+86 138-0013-8000`, in full-width digits or plainly invalid, some dates typed as text. It tells
a story a reader can check in the reports: one manager meets every target, two clearly fail,
most fall somewhat short, and every rule of SPEC §4 has at least one row that triggers it.

The week is the last complete ISO week before `now` (the one `pipeline run` computes on a
first run); the registration ledger covers the 8 weeks before it, which a first run treats as
history. Everything comes from `random.Random(2026)` and `now`, so the same `now` gives the
same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import xlsxwriter

from .template import FILE_NAMES, column_format, column_formats, column_width

SEED = 2026
LEDGER_WEEKS = 8

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# (name, e-mail local part, team); the local parts are unique on purpose.
MANAGERS = [
    ("张伟", "zhangwei", "一组"), ("王芳", "wangfang", "一组"), ("刘洋", "liuyang", "一组"),
    ("陈静", "chenjing", "一组"), ("杨磊", "yanglei", "二组"), ("赵敏", "zhaomin", "二组"),
    ("黄勇", "huangyong", "二组"), ("周杰", "zhoujie", "二组"), ("吴霞", "wuxia", "三组"),
    ("徐强", "xuqiang", "三组"), ("孙丽", "sunli", "三组"), ("马超", "machao", "三组"),
]
SALESPEOPLE = [
    ("李娜", "lina", "一组"), ("朱婷", "zhuting", "一组"), ("胡斌", "hubin", "一组"),
    ("郭鹏", "guopeng", "二组"), ("何琳", "helin", "二组"),
    ("高翔", "gaoxiang", "三组"), ("林峰", "linfeng", "三组"), ("罗雪", "luoxue", "三组"),
]
LEADERS = [("梁宇", "liangyu", "一组"), ("宋佳", "songjia", "二组"), ("郑凯", "zhengkai", "三组")]

# What each manager achieves in the demo week (counted leads, visits, units). 张伟 meets every
# target, 赵敏 and 徐强 clearly fail, 王芳 and 杨磊 reach 100 numbers but miss other targets,
# 马超 joins on Wednesday so his targets are prorated (SPEC §4.5).
PLAN: dict[str, tuple[int, int, int]] = {
    "张伟": (104, 17, 4), "王芳": (100, 12, 3), "刘洋": (88, 16, 2), "陈静": (76, 10, 3),
    "杨磊": (100, 15, 2), "赵敏": (18, 2, 0), "黄勇": (93, 14, 3), "周杰": (64, 9, 1),
    "吴霞": (82, 11, 2), "徐强": (35, 4, 1), "孙丽": (97, 16, 3), "马超": (58, 8, 2),
}
JOINER = "马超"
JOINER_DAY = 2  # Wednesday of the demo week

CHANNELS = ["自然到访", "中介", "老带新", "线上推广"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
            "155", "156", "157", "158", "159", "166", "176", "177", "180", "181", "182", "183", "185",
            "186", "187", "188", "189", "191", "198", "199"]
LEAD_NOTES = ["意向三房", "改善型", "首套刚需", "已加微信", "关注学区", "预算300万左右", "想看样板间", "周末有空"]
VISIT_NOTES = ["看了样板间", "一家三口", "对比了两个楼盘", "想要高楼层", "已交意向金"]
DISTRICTS = ["西湖", "滨江", "拱墅", "余杭", "萧山", "钱塘", "上城", "临平"]
UNIT_WORDS = ["华信", "恒达", "东方", "新城", "金石", "银泰", "天成", "中瑞", "博远", "明德"]
UNIT_TYPES = ["科技有限公司", "实验小学", "人民医院", "社区居委会", "物业管理有限公司", "建设银行支行",
              "税务所", "中学", "汽车4S店", "商会", "律师事务所", "设计院"]
ROADS = ["文三", "天目山", "莫干山", "江南大道", "学院", "庆春", "解放", "延安", "古墩", "湖墅南"]
INVALID_PHONES = ["1380013800", "138001380001", "0571-8888 1234", "2881234567", "13800l38000", "无"]


def demo_week(now: datetime) -> tuple[datetime, datetime]:
    """Monday 00:00 and Sunday 23:59:59 of the last complete ISO week before `now`."""
    this_monday = datetime(now.year, now.month, now.day) - timedelta(days=now.weekday())
    start = this_monday - timedelta(days=7)
    return start, start + timedelta(days=7) - timedelta(seconds=1)


@dataclass
class _Lead:
    manager: str
    phone: str
    at: datetime
    customer: str


@dataclass
class _Inbox:
    """The rows of each workbook before they are written, as (canonical column -> value) dicts."""

    ledger: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)
    rulings: list[dict[str, Any]] = field(default_factory=list)
    cancellations: list[dict[str, Any]] = field(default_factory=list)
    adjustments: list[dict[str, Any]] = field(default_factory=list)


class _Demo:
    def __init__(self, now: datetime) -> None:
        self.rng = random.Random(SEED)
        self.start, self.end = demo_week(now)
        self.used_phones: set[str] = set()
        self.used_units: set[str] = set()
        self.sales_of = {team: [n for n, _, t in SALESPEOPLE if t == team] for _, _, team in LEADERS}
        self.inbox = _Inbox()
        self.ledger_of: dict[str, list[str]] = {name: [] for name, _, _ in MANAGERS}
        self.channel_phones: list[str] = []
        self.leads_of: dict[str, list[_Lead]] = {name: [] for name, _, _ in MANAGERS}
        self.visited: set[str] = set()
        self.visits_of: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in MANAGERS}

    # -- small random pieces ------------------------------------------------------------------

    def phone(self) -> str:
        while True:
            number = self.rng.choice(PREFIXES) + f"{self.rng.randrange(10 ** 8):08d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number

    def customer(self) -> str:
        surname = self.rng.choice(SURNAMES)
        return surname + self.rng.choice(["先生", "女士", "先生", "女士", "总"])

    def first_day(self, manager: str) -> int:
        return JOINER_DAY if manager == JOINER else 0

    def at(self, day: int, first_hour: int = 9, last_hour: int = 21) -> datetime:
        """A time on day `day` (0 = Monday) of the demo week, to the minute."""
        return self.start + timedelta(days=day, hours=self.rng.randint(first_hour, last_hour),
                                      minutes=self.rng.randrange(60))

    def day_of(self, at: datetime) -> int:
        return (at - self.start).days

    def unit_name(self) -> str:
        while True:
            name = self.rng.choice(DISTRICTS) + self.rng.choice(UNIT_WORDS) + self.rng.choice(UNIT_TYPES)
            if name not in self.used_units:
                self.used_units.add(name)
                return name

    def as_text(self, at: datetime, share: float) -> datetime | str:
        """Most dates are real Excel date-times; some admins type them as text."""
        return f"{at:%Y/%m/%d %H:%M}" if self.rng.random() < share else at

    def messy_phone(self, phone: str) -> str | int:
        """The ways numbers arrive in a leads sheet, all of them still valid."""
        roll = self.rng.random()
        if roll < 0.12:
            return int(phone)  # a number cell
        if roll < 0.19:
            return f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
        if roll < 0.24:
            return phone.translate(FULL_WIDTH)
        if roll < 0.29:
            return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
        return phone

    # -- the workbooks ------------------------------------------------------------------------

    def build(self) -> _Inbox:
        self.build_ledger()
        self.build_leads()
        self.build_visits()
        self.build_units()
        self.build_deals()
        self.build_lead_noise()
        self.build_corrections()
        # Admins keep their sheets in time order; the sort is stable, so ties keep build order.
        for rows in (self.inbox.ledger, self.inbox.leads, self.inbox.visits, self.inbox.units,
                     self.inbox.deals):
            rows.sort(key=lambda r: r["_at"])
        return self.inbox

    def build_ledger(self) -> None:
        """The office's registrations of the 8 weeks before: the managers' own customers (the pool
        of this week's first visits) and the channels' walk-ins, agency and referral customers."""
        first = self.start - timedelta(weeks=LEDGER_WEEKS)
        span = int((self.start - first).total_seconds() // 60)
        rows: list[tuple[str, str]] = []
        for name, _, _ in MANAGERS:
            if name == JOINER:
                continue
            wanted = PLAN[name][1] + self.rng.randint(5, 10)
            rows += [(name, self.phone()) for _ in range(wanted)]
        for _ in range(110):
            channel = self.rng.choices(CHANNELS, weights=[5, 3, 2, 2])[0]
            rows.append((channel, self.phone()))
        for by, phone in rows:
            at = first + timedelta(minutes=self.rng.randrange(span))
            at = at.replace(hour=self.rng.randint(9, 20))
            if by in self.ledger_of:
                self.ledger_of[by].append(phone)
            else:
                self.channel_phones.append(phone)
            self.inbox.ledger.append({"_at": at, "customer": self.customer(), "phone": phone,
                                      "registered_at": at, "registered_by": by,
                                      "note": self.rng.choice(["", "", "", "电话咨询", "看房登记"])})

    def add_lead(self, manager: str, phone: str | int, at: datetime, customer: str, note: str = "") -> None:
        self.inbox.leads.append({"_at": at, "manager": manager, "customer": customer, "phone": phone,
                                 "submitted_at": self.as_text(at, 0.08), "note": note})

    def build_leads(self) -> None:
        """Every manager's new numbers of the week, spread over the days they work."""
        for name, _, _ in MANAGERS:
            for _ in range(PLAN[name][0]):
                lead = _Lead(name, self.phone(), self.at(self.rng.randint(self.first_day(name), 6)),
                             self.customer())
                self.leads_of[name].append(lead)
                note = self.rng.choice(LEAD_NOTES) if self.rng.random() < 0.2 else ""
                self.add_lead(name, self.messy_phone(lead.phone), lead.at, lead.customer, note)

    def add_visit(self, manager: str, phone: str, at: datetime, salesperson: str) -> dict[str, Any]:
        row = {"_at": at, "visited_at": self.as_text(at, 0.1), "manager": manager,
               "customer": self.customer(), "phone": int(phone) if self.rng.random() < 0.1 else phone,
               "party_size": self.rng.choice([1, 2, 2, 3, 3, 4]), "salesperson": salesperson,
               "note": self.rng.choice(VISIT_NOTES) if self.rng.random() < 0.25 else "", "_phone": phone}
        self.inbox.visits.append(row)
        self.visited.add(phone)
        return row

    def build_visits(self) -> None:
        """First visits of numbers the manager owns (from the ledger, or from a lead earlier in the
        week), each handed to a salesperson of the manager's team; then the rule-breaking ones."""
        for name, _, team in MANAGERS:
            wanted = PLAN[name][1]
            from_leads = wanted if name == JOINER else min(wanted, self.rng.randint(1, 3))
            early = [lead for lead in self.leads_of[name] if self.day_of(lead.at) <= 4]
            for lead in self.rng.sample(early, from_leads):
                at = self.at(self.rng.randint(self.day_of(lead.at) + 1, 6), 10, 18)
                row = self.add_visit(name, lead.phone, at, self.rng.choice(self.sales_of[team]))
                self.visits_of[name].append(row)
            for phone in self.rng.sample(self.ledger_of[name], wanted - from_leads):
                at = self.at(self.rng.randint(0, 6), 10, 18)
                row = self.add_visit(name, phone, at, self.rng.choice(self.sales_of[team]))
                self.visits_of[name].append(row)

        # 刘洋 hands his customer to another team's salesperson: SALESPERSON_OTHER_TEAM.
        spare = [p for p in self.ledger_of["刘洋"] if p not in self.visited]
        self.add_visit("刘洋", spare[0], self.at(3, 10, 18), self.sales_of["二组"][0])
        # 陈静 brings a customer back two days later: NOT_FIRST_VISIT.
        first = min(self.visits_of["陈静"], key=lambda r: r["_at"])
        self.add_visit("陈静", first["_phone"], first["_at"] + timedelta(days=2, hours=1),
                       first["salesperson"])
        # 周杰 brings someone nobody registered: NOT_REGISTERED.
        self.add_visit("周杰", self.phone(), self.at(4, 10, 18), self.sales_of["二组"][1])
        # 吴霞 brings a walk-in customer the office registered itself: REGISTERED_BY_OTHER.
        self.add_visit("吴霞", self.channel_phones[0], self.at(5, 10, 18), self.sales_of["三组"][0])

    def add_unit(self, manager: str, name: str, at: datetime, photo: bool) -> None:
        district = next((d for d in DISTRICTS if name.startswith(d)), DISTRICTS[0])
        address = f"{district}区{self.rng.choice(ROADS)}路{self.rng.randint(1, 999)}号"
        photo_name = f"IMG_{at:%Y%m%d_%H%M}{self.rng.randrange(60):02d}.jpg" if photo else ""
        self.inbox.units.append({"_at": at, "manager": manager, "unit_name": name, "address": address,
                                 "expanded_at": self.as_text(at, 0.1), "photo": photo_name,
                                 "note": "下周再跟进" if self.rng.random() < 0.15 else ""})

    def build_units(self) -> None:
        """Units canvassed with a photo; some without one; one unit canvassed twice."""
        firsts: dict[str, tuple[str, datetime]] = {}
        for name, _, _ in MANAGERS:
            for i in range(PLAN[name][2]):
                at = self.at(self.rng.randint(self.first_day(name), 4 if i == 0 else 6), 9, 17)
                unit = self.unit_name()
                firsts.setdefault(name, (unit, at))
                self.add_unit(name, unit, at, photo=True)
        for name in ("赵敏", "周杰", "徐强", "吴霞"):
            self.add_unit(name, self.unit_name(), self.at(self.rng.randint(0, 6), 9, 17), photo=False)
        # 黄勇's unit, canvassed again by 吴霞 and typed with a space: DUPLICATE_UNIT.
        unit, at = firsts["黄勇"]
        spaced = unit[:2] + " " + unit[2:]
        self.add_unit("吴霞", spaced, at + timedelta(days=1, hours=2), photo=True)

    def add_deal(self, phone: str, at: datetime, salesperson: str, commission: str | int | float,
                 note: str = "") -> None:
        room = f"{self.rng.randint(1, 9)}-{self.rng.randint(2, 28)}{self.rng.randint(1, 4):02d}"
        self.inbox.deals.append({"_at": at, "deal_at": at, "room": room, "customer": self.customer(),
                                 "phone": phone, "salesperson": salesperson, "commission": commission,
                                 "note": note})

    def build_deals(self) -> None:
        """A few sales: of visited customers (half the commission to the manager), of lead-only
        customers (flat fee), of a number nobody registered, of a channel's customer."""
        for name, commission in (("张伟", "4,000元"), ("黄勇", 4500)):
            visit = min(self.visits_of[name], key=lambda r: r["_at"])
            at = self.at(min(self.day_of(visit["_at"]) + 1, 6), 10, 19)
            self.add_deal(visit["_phone"], max(at, visit["_at"] + timedelta(hours=1)),
                          visit["salesperson"], commission)
        lead = next(lead for lead in self.leads_of["王芳"]
                    if lead.phone not in self.visited and self.day_of(lead.at) <= 4)
        self.add_deal(lead.phone, self.at(self.day_of(lead.at) + 1, 10, 19), "朱婷", 4001, "电话跟进成交")
        owned = next(p for p in self.ledger_of["杨磊"] if p not in self.visited)
        self.add_deal(owned, self.at(2, 10, 19), "何琳", "3,600")
        self.add_deal(self.phone(), self.at(5, 10, 19), "高翔", "￥3500.50", "未登记客户")
        self.add_deal(self.channel_phones[1], self.at(6, 10, 19), "林峰", "3800元", "自然到访客户")
        self.inbox.deals[-1]["deal_at"] = f"{self.inbox.deals[-1]['_at']:%Y/%m/%d %H:%M}"

    def build_corrections(self) -> None:
        """The corrections of SPEC §7: 黄勇's customer gives the unit back a few hours after
        signing (his 2,250.00 is clawed back); 王芳's appeal is upheld (+150.00) and 周杰 gives back
        a double count (−50.00), each approved by their team's leader; and the leader of 三组
        rules that the walk-in customer who buys on Sunday is 吴霞's (her lead fee, 200.00)."""
        huang = next(d for d in self.inbox.deals if d["commission"] == 4500)
        self.inbox.cancellations.append({"_at": huang["_at"] + timedelta(hours=3), "phone": huang["phone"],
                                         "cancelled_at": huang["_at"] + timedelta(hours=3), "room": huang["room"],
                                         "customer": huang["customer"], "note": "客户资金问题退房"})
        for name, amount, day, leader, reason in (("王芳", "150", 3, "梁宇", "申诉成立：号码登记时间有误"),
                                                  ("周杰", "-¥50", 4, "宋佳", "重复计数扣回")):
            at = self.start + timedelta(days=day, hours=10, minutes=30)  # no draw: the roster's dates stay
            self.inbox.adjustments.append({"_at": at, "manager": name, "amount": amount, "adjusted_at": at,
                                           "approved_by": leader, "reason": reason})
        at = self.start + timedelta(days=5, hours=10)
        self.inbox.rulings.append({"_at": at, "phone": self.channel_phones[1], "owner": "吴霞", "ruled_at": at,
                                   "approved_by": "郑凯", "note": "客户确认由吴霞介绍"})

    def build_lead_noise(self) -> None:
        """What makes a leads sheet real: bad numbers, numbers another manager submitted first,
        numbers already in the ledger, a manager submitting the same number twice."""
        regulars = [name for name, _, _ in MANAGERS if name != JOINER]
        for bad in INVALID_PHONES:
            name = self.rng.choice(regulars)
            self.add_lead(name, bad, self.at(self.rng.randint(0, 6)), self.customer())
        for _ in range(8):  # someone else's number of this week: ALREADY_REGISTERED
            owner, other = self.rng.sample(regulars, 2)
            lead = self.rng.choice([x for x in self.leads_of[owner] if self.day_of(x.at) <= 5])
            self.add_lead(other, self.messy_phone(lead.phone), lead.at + timedelta(hours=self.rng.randint(1, 20)),
                          lead.customer)
        ledger_owned = [(by, p) for by, phones in self.ledger_of.items() for p in phones]
        for _ in range(10):  # registered in the ledger by someone else: ALREADY_REGISTERED
            name = self.rng.choice(regulars)
            if self.rng.random() < 0.5:
                phone = self.rng.choice(self.channel_phones[2:])
            else:
                phone = self.rng.choice([p for by, p in ledger_owned if by != name])
            self.add_lead(name, phone, self.at(self.rng.randint(0, 6)), self.customer())
        for name in ("王芳", "周杰", "孙丽"):  # their own ledger customer again: DUPLICATE_OWN
            self.add_lead(name, self.ledger_of[name][-1], self.at(self.rng.randint(0, 6)), self.customer())
        for name in ("刘洋", "吴霞"):  # their own number of this week again: DUPLICATE_OWN
            lead = self.rng.choice([x for x in self.leads_of[name] if self.day_of(x.at) <= 5])
            self.add_lead(name, lead.phone, lead.at + timedelta(hours=self.rng.randint(2, 20)), lead.customer)


# ---------------------------------------------------------------------------------------------
# writing


def _write_sheet(workbook: Any, formats: dict[str, Any], sheet_name: str,
                 columns: list[tuple[str, str | None]], rows: list[dict[str, Any]],
                 title: str | None = None, number_rows: bool = True) -> None:
    """One sheet: an optional merged title row, a header of (header text, canonical column)
    pairs, then the rows. Strings are always written as strings, so nothing becomes a formula."""
    sheet = workbook.add_worksheet(sheet_name)
    top = 0
    if title:
        sheet.merge_range(0, 0, 0, len(columns) - 1, title, formats["title"])
        sheet.set_row(0, 24)
        top = 1
    for col, (header, column) in enumerate(columns):
        if column is None:
            sheet.set_column(col, col, 6)
        else:
            fmt = formats["phone"] if column == "phone" else column_format(column, formats)
            sheet.set_column(col, col, column_width(column, "zh"), fmt)
        sheet.write_string(top, col, header, formats["header"])
    sheet.freeze_panes(top + 1, 0)
    for i, row in enumerate(rows):
        r = top + 1 + i
        for col, (_header, column) in enumerate(columns):
            if column is None:
                value: Any = i + 1 if number_rows else None  # the 序号 column admins add
            else:
                value = row.get(column)
            if value is None or value == "":
                continue
            if isinstance(value, datetime):
                fmt = formats["date"] if column in ("active_from", "active_to") else formats["datetime"]
                sheet.write_datetime(r, col, value, fmt)
            elif isinstance(value, int | float):
                sheet.write_number(r, col, value, formats["phone"] if column == "phone" else None)
            else:
                sheet.write_string(r, col, str(value))


def _workbook(path: Path, created: datetime) -> tuple[Any, dict[str, Any]]:
    workbook = xlsxwriter.Workbook(str(path))
    workbook.set_properties({"created": created})
    formats = column_formats(workbook)
    formats["phone"] = workbook.add_format({"num_format": "0"})
    formats["title"] = workbook.add_format({"bold": True, "font_size": 14, "align": "center",
                                            "valign": "vcenter"})
    return workbook, formats


def _roster_rows(rng: random.Random, start: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    by_team: dict[str, list[tuple[str, str, str]]] = {team: [] for _, _, team in LEADERS}
    for person, role in ([(p, "负责人") for p in LEADERS] + [(p, "大客户经理") for p in MANAGERS]
                         + [(p, "销售员") for p in SALESPEOPLE]):
        by_team[person[2]].append((person[0], person[1], role))
    for team, people in by_team.items():
        for name, local, role in people:
            joined = start + timedelta(days=JOINER_DAY) if name == JOINER \
                else start - timedelta(days=rng.randint(60, 900))
            rows.append({"name": name, "role": role, "team": team, "email": f"{local}@example.com",
                         "active_from": datetime(joined.year, joined.month, joined.day)})
    return rows


def write_demo(folder: Path, now: datetime) -> list[Path]:
    """Write a sample inbox for the last complete week before `now` into `folder`; return the paths.

    Nine workbooks with the zh file names of the templates: roster, registration ledger (the 8
    weeks before), leads (title row, messy phones), visits, units and deals of the demo week, and
    its corrections: a ruling, a cancellation and two adjustments.
    Deterministic for a given `now`; files of the same names in `folder` are replaced.
    """
    folder.mkdir(parents=True, exist_ok=True)
    demo = _Demo(now)
    inbox = demo.build()
    start = demo.start
    created = start + timedelta(days=7)
    names = FILE_NAMES["zh"]
    iso_year, iso_week, _ = start.isocalendar()
    plans: list[tuple[str, str, list[tuple[str, str | None]], list[dict[str, Any]], str | None, bool]] = [
        ("roster", "名单", [("姓名", "name"), ("岗位", "role"), ("团队", "team"), ("邮箱", "email"),
                            ("入职日期", "active_from"), ("离职日期", "active_to")],
         _roster_rows(demo.rng, start), None, False),
        ("registrations", "登记台账", [("序号", None), ("客户姓名", "customer"), ("手机号码", "phone"),
                                      ("备案时间", "registered_at"), ("来源", "registered_by"), ("备注", "note")],
         inbox.ledger, None, True),
        ("leads", f"第{iso_week}周", [("序号", None), ("客户经理", "manager"), ("客户姓名", "customer"),
                                      ("手机号", "phone"), ("报备时间", "submitted_at"), ("备注", "note")],
         inbox.leads, f"诚意客户号码汇总表（{iso_year}年第{iso_week}周 {start:%m.%d}—{demo.end:%m.%d}）", True),
        ("visits", "到访", [("序号", None), ("到访时间", "visited_at"), ("带访人", "manager"),
                            ("客户姓名", "customer"), ("联系电话", "phone"), ("到访人数", "party_size"),
                            ("接待销售", "salesperson"), ("备注", "note")],
         inbox.visits, None, True),
        ("units", "拓展", [("序号", None), ("拓展人", "manager"), ("单位名称", "unit_name"),
                           ("单位地址", "address"), ("拓展时间", "expanded_at"), ("照片", "photo"),
                           ("备注", "note")],
         inbox.units, None, True),
        ("deals", "成交", [("序号", None), ("成交日期", "deal_at"), ("房号", "room"), ("客户姓名", "customer"),
                           ("客户电话", "phone"), ("置业顾问", "salesperson"), ("销售员佣金", "commission"),
                           ("备注", "note")],
         inbox.deals, None, True),
        ("rulings", "裁定", [("手机号码", "phone"), ("裁定归属", "owner"), ("裁定时间", "ruled_at"),
                             ("批准人", "approved_by"), ("备注", "note")],
         inbox.rulings, None, False),
        ("cancellations", "退房", [("退房日期", "cancelled_at"), ("房号", "room"), ("客户姓名", "customer"),
                                   ("客户电话", "phone"), ("备注", "note")],
         inbox.cancellations, None, False),
        ("adjustments", "申诉处理", [("客户经理", "manager"), ("调整金额", "amount"), ("调整日期", "adjusted_at"),
                                     ("审批人", "approved_by"), ("事由", "reason")],
         inbox.adjustments, None, False),
    ]
    paths: list[Path] = []
    for kind, sheet_name, columns, rows, title, number_rows in plans:
        path = folder / names[kind]
        workbook, formats = _workbook(path, created)
        try:
            _write_sheet(workbook, formats, sheet_name, columns, rows, title, number_rows)
        finally:
            workbook.close()
        paths.append(path)
    return paths

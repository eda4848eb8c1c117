"""The input contract as pure data: canonical columns, their aliases, and the kinds of sheet.

Everything here is SPEC §2.2 transcribed. Reading, templates and validation all look columns up
here, so a new alias is one line in one place.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["text", "phone", "datetime", "money", "signed_money", "role"]

# canonical column -> (zh aliases, en aliases, type)
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...], ColumnType]] = {
    "name": (("姓名",), ("name",), "text"),
    "role": (("岗位", "角色", "职位"), ("role",), "role"),
    "team": (("团队", "小组", "组别"), ("team",), "text"),
    "email": (("邮箱", "电子邮箱", "邮件"), ("email",), "text"),
    "active_from": (("入职日期", "生效日期"), ("active_from",), "datetime"),
    "active_to": (("离职日期", "失效日期"), ("active_to",), "datetime"),
    "phone": (("手机号码", "手机号", "手机", "联系电话", "电话", "客户电话", "号码"), ("phone", "mobile"), "phone"),
    "customer": (("客户姓名", "客户名称", "客户"), ("customer", "customer_name"), "text"),
    "registered_at": (("登记时间", "登记日期", "备案时间", "备案日期"), ("registered_at",), "datetime"),
    "registered_by": (("登记人", "备案人", "来源"), ("registered_by", "source"), "text"),
    "manager": (("客户经理", "大客户经理", "提交人", "拓展人", "带访人"), ("manager",), "text"),
    "submitted_at": (("提交时间", "提交日期", "报备时间", "报备日期"), ("submitted_at",), "datetime"),
    "visited_at": (("到访时间", "到访日期"), ("visited_at",), "datetime"),
    "salesperson": (("销售员", "接待销售", "置业顾问"), ("salesperson",), "text"),
    "party_size": (("人数", "到访人数"), ("party_size",), "text"),
    "expanded_at": (("拓展时间", "拓展日期"), ("expanded_at",), "datetime"),
    "unit_name": (("单位名称", "拓展单位"), ("unit_name", "unit"), "text"),
    "photo": (("照片", "拍照", "照片文件"), ("photo",), "text"),
    "address": (("地址", "单位地址"), ("address",), "text"),
    "deal_at": (("成交时间", "成交日期", "签约日期"), ("deal_at",), "datetime"),
    "room": (("房号", "房源"), ("room",), "text"),
    "commission": (("销售员佣金", "佣金"), ("commission", "salesperson_commission"), "money"),
    "note": (("备注",), ("note",), "text"),
    # SPEC §7.1: the columns of the corrections
    "owner": (("归属人", "裁定归属"), ("owner",), "text"),
    "ruled_at": (("裁定时间", "裁定日期"), ("ruled_at",), "datetime"),
    "approved_by": (("批准人", "审批人"), ("approved_by",), "text"),
    "cancelled_at": (("退房时间", "退房日期", "退订时间", "退订日期"), ("cancelled_at",), "datetime"),
    "amount": (("调整金额", "金额"), ("amount",), "signed_money"),
    "adjusted_at": (("调整时间", "调整日期"), ("adjusted_at",), "datetime"),
    "reason": (("原因", "调整原因", "事由"), ("reason",), "text"),
}


@dataclass(frozen=True)
class Kind:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


# In the order of SPEC §2.2's table of kinds: that order decides which reason a row gets first.
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("roster", ("name", "role", "team"), ("email", "active_from", "active_to")),
        Kind("registrations", ("phone", "registered_at", "registered_by"), ("customer", "note")),
        Kind("leads", ("manager", "phone", "submitted_at"), ("customer", "note")),
        Kind("visits", ("manager", "phone", "visited_at", "salesperson"), ("customer", "party_size", "note")),
        Kind("units", ("manager", "unit_name", "expanded_at", "photo"), ("address", "note")),
        Kind("deals", ("phone", "deal_at", "salesperson", "commission"), ("customer", "room", "note")),
        # SPEC §7.1
        Kind("rulings", ("phone", "owner", "ruled_at", "approved_by"), ("customer", "note")),
        Kind("cancellations", ("phone", "cancelled_at"), ("room", "customer", "note")),
        Kind("adjustments", ("manager", "amount", "adjusted_at", "approved_by"), ("reason", "note")),
    )
}

# The column holding the event time of each history kind.
TIME_COLUMN: dict[str, str] = {
    "registrations": "registered_at",
    "leads": "submitted_at",
    "visits": "visited_at",
    "units": "expanded_at",
    "deals": "deal_at",
    "rulings": "ruled_at",
    "cancellations": "cancelled_at",
    "adjustments": "adjusted_at",
}

# SPEC §2.4: what makes two rows of a kind the same row.
IDENTITY: dict[str, tuple[str, ...]] = {
    "registrations": ("phone", "registered_at", "registered_by"),
    "leads": ("manager", "phone", "submitted_at"),
    "visits": ("manager", "phone", "visited_at", "salesperson"),
    "units": ("manager", "unit_key", "expanded_at"),
    "deals": ("phone", "deal_at", "room", "salesperson", "commission"),
    "rulings": ("phone", "owner", "ruled_at"),
    "cancellations": ("phone", "cancelled_at", "room"),
    "adjustments": ("manager", "adjusted_at", "amount", "reason"),
}

ROLES: dict[str, str] = {
    "大客户经理": "manager",
    "客户经理": "manager",
    "manager": "manager",
    "销售员": "salesperson",
    "置业顾问": "salesperson",
    "salesperson": "salesperson",
    "负责人": "leader",
    "主管": "leader",
    "组长": "leader",
    "leader": "leader",
}


def header_key(text: str) -> str:
    """How a header (or a role) is compared: NFKC, trimmed, case-folded (SPEC §2.1)."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


ALIASES: dict[str, str] = {
    header_key(alias): column
    for column, (zh, en, _type) in COLUMNS.items()
    for alias in zh + en
}

ROLE_KEYS: dict[str, str] = {header_key(k): v for k, v in ROLES.items()}


def column_type(column: str) -> ColumnType:
    return COLUMNS[column][2]


def canonical_header(column: str, lang: str) -> str:
    """The header a template writes for a column: the first alias in that language."""
    zh, en, _type = COLUMNS[column]
    return zh[0] if lang == "zh" else en[0]

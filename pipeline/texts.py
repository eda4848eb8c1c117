"""The one catalogue of words the product shows people, in zh and en.

Code asks for a text by key (`t(lang, key, **fields)`); nothing user-facing is spelled anywhere
else. Reason messages say what went wrong *and what to fix*.
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    # --- reading reasons (SPEC §5.2) ---
    "reason.MISSING_VALUE": {
        "zh": "「{column}」为空：请填写后重新提交",
        "en": "'{column}' is empty: fill it in and submit the row again",
    },
    "reason.INVALID_PHONE": {
        "zh": "「{value}」不是有效的手机号码：需为 11 位大陆手机号（如 13800138000）",
        "en": "'{value}' is not a valid mobile number: use the 11 mainland digits (e.g. 13800138000)",
    },
    "reason.INVALID_DATE": {
        "zh": "「{column}」的值「{value}」无法识别为日期时间：请写成 2026-11-24 14:30 或 2026年11月24日",
        "en": "'{column}' value '{value}' is not a date: write it as 2026-11-24 14:30 or 2026年11月24日",
    },
    "reason.INVALID_AMOUNT": {
        "zh": "「{column}」的值「{value}」不是有效金额：请填写非负数字，如 4000 或 4,000.50",
        "en": "'{column}' value '{value}' is not a valid amount: write a non-negative number such as 4000 or 4,000.50",
    },
    "reason.UNKNOWN_ROLE": {
        "zh": "岗位「{value}」无法识别：请填写 大客户经理、销售员 或 负责人",
        "en": "role '{value}' is unknown: use manager, salesperson or leader",
    },
    "reason.DUPLICATE_NAME": {
        "zh": "姓名「{value}」在名单中重复：只保留第一行，请删除或改名",
        "en": "name '{value}' appears twice in the roster: only the first row is kept; remove or rename this one",
    },
    "reason.LATE": {
        "zh": "日期 {value} 所在的周 {week} 已结算，本行不再计入：如需更正请联系管理员",
        "en": "dated {value}, in week {week} which is already closed; the row is not counted: ask the admin to correct it",
    },
    # --- rule reasons ---
    "reason.UNKNOWN_MANAGER": {
        "zh": "「{manager}」不是名单中的大客户经理：请核对姓名或更新团队名单",
        "en": "'{manager}' is not a manager in the roster: check the name or update the roster",
    },
    "reason.INACTIVE_MANAGER": {
        "zh": "{manager} 在 {day} 不在岗（名单的入职/离职日期）：请核对日期",
        "en": "{manager} was not active on {day} (roster start/end dates): check the date",
    },
    "reason.DUPLICATE_OWN": {
        "zh": "{phone} 已由 {manager} 本人于 {at} 登记，重复提交不计数",
        "en": "{phone} was already registered by {manager} on {at}; a repeat does not count",
    },
    "reason.ALREADY_REGISTERED": {
        "zh": "{phone} 已于 {at} 由 {owner} 登记",
        "en": "{phone} was registered on {at} by {owner}",
    },
    "reason.UNKNOWN_SALESPERSON": {
        "zh": "「{salesperson}」不是名单中的销售员：请核对接待销售姓名",
        "en": "'{salesperson}' is not a salesperson in the roster: check the name",
    },
    "reason.SALESPERSON_OTHER_TEAM": {
        "zh": "销售员 {salesperson}（{sp_team}）不属于 {manager} 的团队（{team}）：客户须交给本团队销售",
        "en": "salesperson {salesperson} ({sp_team}) is not in {manager}'s team ({team}): hand customers to your own team",
    },
    "reason.NOT_REGISTERED": {
        "zh": "{phone} 在 {at} 之前没有登记备案：到访前须先登记",
        "en": "{phone} was not registered before {at}: register a customer before the visit",
    },
    "reason.REGISTERED_BY_OTHER": {
        "zh": "{phone} 已于 {reg_at} 由 {owner} 登记，不属于 {manager}",
        "en": "{phone} was registered on {reg_at} by {owner}, not by {manager}",
    },
    "reason.NOT_FIRST_VISIT": {
        "zh": "{phone} 已于 {first} 到访过，不是首次到访",
        "en": "{phone} already visited on {first}; only a first visit counts",
    },
    "reason.NO_PHOTO": {
        "zh": "拓展单位「{unit}」没有照片：请补充照片后重新提交",
        "en": "unit '{unit}' has no photo: add the photo and submit again",
    },
    "reason.DUPLICATE_UNIT": {
        "zh": "单位「{unit}」已于 {at} 由 {owner} 拓展计数",
        "en": "unit '{unit}' was already counted on {at} for {owner}",
    },
    "reason.OWNER_NOT_MANAGER": {
        "zh": "{phone} 的归属人「{owner}」不是大客户经理，无经理佣金",
        "en": "{phone} belongs to '{owner}', who is not a manager: no manager commission",
    },
    "deal.NOT_REGISTERED": {
        "zh": "{phone} 成交前没有登记备案，无经理佣金",
        "en": "{phone} was not registered before the deal: no manager commission",
    },
    # --- file level ---
    "file.UNREADABLE": {
        "zh": "{file}：无法读取（{detail}）。请用 Excel/WPS 打开后另存为 .xlsx 再放入收件箱",
        "en": "{file}: cannot be read ({detail}). Open it in Excel or WPS, save it as .xlsx and drop it again",
    },
    "file.AMBIGUOUS_SHEET": {
        "zh": "{file} / {sheet}：第 {row} 行的表头同时符合 {kinds}，无法判断表格类型：请删除多余的列或拆成两张表",
        "en": "{file} / {sheet}: the header in row {row} fits {kinds} at once: remove the extra columns or split the sheet",
    },
    "file.MISSING_COLUMN": {
        "zh": "{file} / {sheet}：第 {row} 行像是「{kind}」表头，但缺少列：{missing}。请补上这些列",
        "en": "{file} / {sheet}: row {row} looks like a '{kind}' header but lacks: {missing}. Add these columns",
    },
    "file.NO_ROSTER": {
        "zh": "没有团队名单：收件箱里没有名单表，之前也未保存过。请放入一份团队名单（姓名、岗位、团队）",
        "en": "no roster: none in the inbox and none stored. Drop a roster workbook (name, role, team) into the inbox",
    },
    "warn.skipped_file": {
        "zh": "{file}：已跳过（{why}），文件保留原处",
        "en": "{file}: skipped ({why}); the file is left where it is",
    },
    "warn.unrecognised_sheet": {
        "zh": "{file} / {sheet}：前 10 行中找不到任何表格类型的表头，已忽略",
        "en": "{file} / {sheet}: no header of any kind in the first 10 rows; ignored",
    },
    "why.lock": {"zh": "Office 临时锁文件", "en": "an Office lock file"},
    "why.hidden": {"zh": "隐藏文件", "en": "a hidden file"},
    "why.extension": {"zh": "不支持的文件类型", "en": "not a supported file type"},
    "why.settling": {"zh": "文件刚被修改，可能仍在复制中，留待下次运行", "en": "modified moments ago, may still be copying; left for the next run"},
    # --- reports --- (labels of workbooks and pages)
    # --- end reports ---
    # --- mail --- (subjects and bodies of emails)
    # --- end mail ---
}

KIND_NAMES: dict[str, dict[str, str]] = {
    "roster": {"zh": "团队名单", "en": "roster"},
    "registrations": {"zh": "客户登记备案", "en": "registrations"},
    "leads": {"zh": "诚意客户号码", "en": "leads"},
    "visits": {"zh": "到访登记", "en": "visits"},
    "units": {"zh": "拓展单位", "en": "units"},
    "deals": {"zh": "成交记录", "en": "deals"},
}


def t(lang: str, key: str, **fields: Any) -> str:
    entry = TEXTS[key]
    return entry.get(lang, entry["zh"]).format(**fields)


def kind_name(lang: str, kind: str) -> str:
    return KIND_NAMES[kind].get(lang, kind)


def column_name(lang: str, column: str) -> str:
    from .schema import canonical_header

    return canonical_header(column, lang)

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
    "report.sheet.summary": {"zh": "团队汇总", "en": "Team summary"},
    "report.sheet.commission": {"zh": "佣金明细", "en": "Commission"},
    "report.sheet.fines": {"zh": "罚款明细", "en": "Fines"},
    "report.sheet.leads": {"zh": "诚意客户号码汇总表", "en": "Accepted numbers"},
    "report.sheet.visits": {"zh": "到访批次", "en": "Visits"},
    "report.sheet.units": {"zh": "拓展单位", "en": "Units"},
    "report.sheet.rejections": {"zh": "未通过记录", "en": "Rejected rows"},
    "report.sheet.about": {"zh": "运行信息", "en": "About this run"},
    "report.sheet.overview": {"zh": "本周概览", "en": "Overview"},
    "report.sheet.registrations": {"zh": "本周新增登记", "en": "New registrations"},
    "report.item.units": {"zh": "拓展单位", "en": "Units"},
    "report.item.visits": {"zh": "上门批次", "en": "Visits"},
    "report.item.leads": {"zh": "诚意号码", "en": "Leads"},
    "report.col.target_of": {"zh": "{item}目标", "en": "{item} target"},
    "report.col.achieved_of": {"zh": "{item}完成", "en": "{item} achieved"},
    "report.col.shortfall_of": {"zh": "{item}差额", "en": "{item} shortfall"},
    "report.col.fine_of": {"zh": "{item}罚款", "en": "{item} fine"},
    "report.col.team": {"zh": "团队", "en": "Team"},
    "report.col.manager": {"zh": "客户经理", "en": "Manager"},
    "report.col.active_days": {"zh": "在岗天数", "en": "Active days"},
    "report.col.fines_total": {"zh": "罚款合计", "en": "Fines total"},
    "report.col.commission_visit": {"zh": "带访成交佣金", "en": "Visit commission"},
    "report.col.commission_lead": {"zh": "号码成交佣金", "en": "Lead commission"},
    "report.col.commission_total": {"zh": "佣金合计", "en": "Commission total"},
    "report.col.net": {"zh": "净额", "en": "Net"},
    "report.col.met": {"zh": "达标", "en": "Met"},
    "report.col.streak": {"zh": "连续未达标周数", "en": "Weeks missed in a row"},
    "report.col.dismissal_review": {"zh": "辞退审核", "en": "Dismissal review"},
    "report.col.item": {"zh": "项目", "en": "Item"},
    "report.col.target": {"zh": "目标", "en": "Target"},
    "report.col.achieved": {"zh": "完成", "en": "Achieved"},
    "report.col.shortfall": {"zh": "差额", "en": "Shortfall"},
    "report.col.progress": {"zh": "完成率", "en": "Progress"},
    "report.col.rate": {"zh": "单价（元）", "en": "Rate (CNY)"},
    "report.col.fine": {"zh": "罚款", "en": "Fine"},
    "report.col.amount": {"zh": "金额（元）", "en": "Amount (CNY)"},
    "report.col.deal_at": {"zh": "成交时间", "en": "Deal date"},
    "report.col.phone": {"zh": "手机号码", "en": "Phone"},
    "report.col.customer": {"zh": "客户", "en": "Customer"},
    "report.col.room": {"zh": "房号", "en": "Room"},
    "report.col.salesperson": {"zh": "销售员", "en": "Salesperson"},
    "report.col.salesperson_commission": {"zh": "销售员佣金", "en": "Salesperson commission"},
    "report.col.kind": {"zh": "佣金类型", "en": "Commission kind"},
    "report.col.manager_commission": {"zh": "经理佣金", "en": "Manager commission"},
    "report.col.salesperson_net": {"zh": "销售员实得", "en": "Salesperson keeps"},
    "report.col.reason": {"zh": "原因", "en": "Reason"},
    "report.col.late": {"zh": "补录", "en": "Late"},
    "report.col.file": {"zh": "文件", "en": "File"},
    "report.col.sheet": {"zh": "工作表", "en": "Sheet"},
    "report.col.row": {"zh": "行号", "en": "Row"},
    "report.col.submitted_at": {"zh": "提交时间", "en": "Submitted"},
    "report.col.visited_at": {"zh": "到访时间", "en": "Visited"},
    "report.col.party_size": {"zh": "人数", "en": "Party size"},
    "report.col.unit_name": {"zh": "单位名称", "en": "Unit"},
    "report.col.address": {"zh": "地址", "en": "Address"},
    "report.col.expanded_at": {"zh": "拓展时间", "en": "Canvassed"},
    "report.col.photo": {"zh": "照片", "en": "Photo"},
    "report.col.sheet_kind": {"zh": "表格类型", "en": "Sheet kind"},
    "report.col.reason_code": {"zh": "原因代码", "en": "Reason code"},
    "report.col.message": {"zh": "说明", "en": "Message"},
    "report.col.fix": {"zh": "如何修改", "en": "What to fix"},
    "report.col.owner": {"zh": "归属人", "en": "Owner"},
    "report.col.registered_at": {"zh": "登记时间", "en": "Registered"},
    "report.col.via": {"zh": "登记方式", "en": "Registered via"},
    "report.col.section": {"zh": "类别", "en": "Section"},
    "report.col.value": {"zh": "值", "en": "Value"},
    "report.via.registrations": {"zh": "客户登记备案", "en": "registration record"},
    "report.via.leads": {"zh": "诚意客户号码", "en": "accepted lead"},
    "report.kind.visit": {"zh": "带访成交（销售员佣金 50%）", "en": "visit (share of salesperson's)"},
    "report.kind.lead": {"zh": "号码成交（每套定额）", "en": "lead (flat fee per unit)"},
    "report.yes": {"zh": "是", "en": "yes"},
    "report.no": {"zh": "否", "en": "no"},
    "report.none": {"zh": "无", "en": "none"},
    "report.no_team": {"zh": "（未分组）", "en": "(no team)"},
    "report.subtotal": {"zh": "{team} 小计（负责人：{leaders}）", "en": "{team} subtotal (leader: {leaders})"},
    "report.office_total": {"zh": "全体合计", "en": "Office total"},
    "report.leaders_sep": {"zh": "、", "en": ", "},
    "report.about.run": {"zh": "运行", "en": "Run"},
    "report.about.config": {"zh": "配置", "en": "Configuration"},
    "report.about.file": {"zh": "输入文件（SHA-256）", "en": "Input file (SHA-256)"},
    "report.about.stats": {"zh": "统计", "en": "Statistics"},
    "report.about.week": {"zh": "周", "en": "Week"},
    "report.about.start": {"zh": "开始日期", "en": "Start"},
    "report.about.end": {"zh": "结束日期", "en": "End"},
    "report.about.office": {"zh": "单位", "en": "Office"},
    "report.about.run_id": {"zh": "运行编号", "en": "Run id"},
    "report.about.run_time": {"zh": "运行时间", "en": "Run time"},
    "report.about.rows_read": {"zh": "读取行数", "en": "Rows read"},
    "report.about.rows_stored": {"zh": "保存行数", "en": "Rows stored"},
    "report.about.duplicates_dropped": {"zh": "重复而略过的行数", "en": "Duplicate rows dropped"},
    "report.about.rejected": {"zh": "未通过行数", "en": "Rows rejected"},
    "report.title.summary": {"zh": "{office}大客户经理周报 {week}", "en": "{office}Key-account managers, week {week}"},
    "report.title.manager": {"zh": "{name} 个人周报 {week}", "en": "{name}: statement for week {week}"},
    "report.period": {"zh": "{start} 至 {end}", "en": "{start} to {end}"},
    "report.generated": {"zh": "生成时间 {now}（运行编号 {run_id}）", "en": "Generated {now} (run {run_id})"},
    "report.h.totals": {"zh": "全体完成情况", "en": "Office totals"},
    "report.h.teams": {"zh": "各团队完成情况", "en": "Teams"},
    "report.h.review": {"zh": "辞退审核名单（连续 {weeks} 周未完成任务）", "en": "Dismissal review ({weeks} weeks missed in a row)"},
    "report.h.warning": {"zh": "预警：再有一周未完成将进入辞退审核", "en": "Warning: one more missed week leads to dismissal review"},
    "report.h.reasons": {"zh": "主要未通过原因", "en": "Top rejection reasons"},
    "report.h.targets": {"zh": "任务完成情况", "en": "Targets"},
    "report.h.fines": {"zh": "罚款", "en": "Fines"},
    "report.h.commission": {"zh": "佣金", "en": "Commission"},
    "report.h.deals": {"zh": "本周成交明细", "en": "Deals this week"},
    "report.h.rejections": {"zh": "未通过的记录（请按提示修改后重新提交）", "en": "Rejected rows (fix them as shown and submit again)"},
    "report.h.net": {"zh": "本周净额（佣金 − 罚款）", "en": "Net this week (commission − fines)"},
    "report.count": {"zh": "行数", "en": "Rows"},
    "report.managers_count": {"zh": "客户经理 {n} 人，达标 {met} 人", "en": "{n} managers, {met} met every target"},
    "report.not_assessed": {"zh": "本周未考核", "en": "not assessed this week"},
    "report.see_workbook": {"zh": "完整明细（含每一条未通过记录）见 {file}", "en": "Every detail, including each rejected row, is in {file}"},
    "report.warn.review": {"zh": "已连续 {streak} 周未完成任务：已列入辞退审核", "en": "{streak} weeks in a row with a missed target: you are under dismissal review"},
    "report.warn.streak": {"zh": "已连续 {streak} 周未完成任务：下周仍未完成将列入辞退审核", "en": "{streak} weeks in a row with a missed target: one more and you go to dismissal review"},
    "report.reason.MISSING_VALUE": {"zh": "必填项为空", "en": "required value empty"},
    "report.reason.INVALID_PHONE": {"zh": "手机号码无效", "en": "invalid mobile number"},
    "report.reason.INVALID_DATE": {"zh": "日期无法识别", "en": "date not recognised"},
    "report.reason.INVALID_AMOUNT": {"zh": "金额无效", "en": "invalid amount"},
    "report.reason.UNKNOWN_ROLE": {"zh": "岗位无法识别", "en": "unknown role"},
    "report.reason.DUPLICATE_NAME": {"zh": "名单中姓名重复", "en": "name repeated in the roster"},
    "report.reason.LATE": {"zh": "所在周已结算", "en": "week already closed"},
    "report.reason.UNKNOWN_MANAGER": {"zh": "不是名单中的客户经理", "en": "not a manager in the roster"},
    "report.reason.INACTIVE_MANAGER": {"zh": "当日不在岗", "en": "manager not active that day"},
    "report.reason.DUPLICATE_OWN": {"zh": "本人重复提交", "en": "already yours"},
    "report.reason.ALREADY_REGISTERED": {"zh": "号码已被他人登记", "en": "registered by someone else"},
    "report.reason.UNKNOWN_SALESPERSON": {"zh": "接待销售不在名单中", "en": "salesperson not in the roster"},
    "report.reason.SALESPERSON_OTHER_TEAM": {"zh": "接待销售不属于本团队", "en": "salesperson of another team"},
    "report.reason.NOT_REGISTERED": {"zh": "到访前未登记", "en": "not registered beforehand"},
    "report.reason.REGISTERED_BY_OTHER": {"zh": "客户归属他人", "en": "customer belongs to someone else"},
    "report.reason.NOT_FIRST_VISIT": {"zh": "不是首次到访", "en": "not a first visit"},
    "report.reason.NO_PHOTO": {"zh": "缺少照片", "en": "no photo"},
    "report.reason.DUPLICATE_UNIT": {"zh": "单位已被拓展计数", "en": "unit already counted"},
    "report.reason.OWNER_NOT_MANAGER": {"zh": "归属人不是客户经理", "en": "owner is not a manager"},
    "report.fix.MISSING_VALUE": {"zh": "补全该行的必填项后重新提交", "en": "fill in the empty required cell and submit the row again"},
    "report.fix.INVALID_PHONE": {"zh": "改为 11 位大陆手机号（如 13800138000）后重新提交", "en": "write the 11 mainland digits (e.g. 13800138000) and submit again"},
    "report.fix.INVALID_DATE": {"zh": "日期写成 2026-11-24 14:30 或 2026年11月24日 后重新提交", "en": "write the date as 2026-11-24 14:30 or 2026年11月24日 and submit again"},
    "report.fix.INVALID_AMOUNT": {"zh": "金额填写非负数字（如 4000 或 4,000.50）后重新提交", "en": "write a non-negative number such as 4000 or 4,000.50 and submit again"},
    "report.fix.UNKNOWN_ROLE": {"zh": "岗位填写 大客户经理、销售员 或 负责人", "en": "use manager, salesperson or leader"},
    "report.fix.DUPLICATE_NAME": {"zh": "删除重复行或改用可区分的姓名", "en": "remove the repeated row or use a distinct name"},
    "report.fix.LATE": {"zh": "该周已结算，如需更正请联系管理员", "en": "that week is closed: ask the admin to correct it"},
    "report.fix.UNKNOWN_MANAGER": {"zh": "核对客户经理姓名是否与团队名单一致", "en": "check that the manager's name matches the roster"},
    "report.fix.INACTIVE_MANAGER": {"zh": "核对日期与名单中的入职/离职日期", "en": "check the date against the roster's start and end dates"},
    "report.fix.DUPLICATE_OWN": {"zh": "该号码已归属本人，无需重复提交", "en": "the number is already yours: no need to submit it again"},
    "report.fix.ALREADY_REGISTERED": {"zh": "该号码此前已有登记，不计数也无佣金；如有异议请联系策划部", "en": "the number was registered before: it does not count; ask the planning office if you disagree"},
    "report.fix.UNKNOWN_SALESPERSON": {"zh": "核对接待销售姓名是否与团队名单一致", "en": "check the salesperson's name against the roster"},
    "report.fix.SALESPERSON_OTHER_TEAM": {"zh": "客户须交给本团队的销售员接待", "en": "hand customers to a salesperson of your own team"},
    "report.fix.NOT_REGISTERED": {"zh": "到访前须先提交号码登记", "en": "submit the number before the visit"},
    "report.fix.REGISTERED_BY_OTHER": {"zh": "该客户不归属本人，不计数；如有异议请联系策划部", "en": "the customer is not yours and does not count; ask the planning office if you disagree"},
    "report.fix.NOT_FIRST_VISIT": {"zh": "只有客户首次到访才计数", "en": "only a customer's first visit counts"},
    "report.fix.NO_PHOTO": {"zh": "补充单位照片后重新提交", "en": "add the unit's photo and submit again"},
    "report.fix.DUPLICATE_UNIT": {"zh": "该单位此前已计数，请拓展新的单位", "en": "the unit was counted before: canvass a new one"},
    "report.fix.OWNER_NOT_MANAGER": {"zh": "该客户不归属客户经理，无经理佣金", "en": "the customer belongs to no manager: no manager commission"},
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

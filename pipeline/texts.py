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
    "run.EMPTY_WEEK": {
        "zh": "{week}（{start} 至 {end}）没有任何诚意客户号码、到访或拓展单位记录，却有 {managers} 名客户经理要考核",
        "en": "{week} ({start} to {end}) has no leads, visits or units row, yet {managers} managers are assessed in it",
    },
    "run.EMPTY_WEEK.todo": {
        "zh": "多半是本周的表格还没放进收件箱：请放入后重新运行（本次运行未作任何更改）。"
              "如果本周确实无人工作，用 pipeline run --force 照常结算 {weeks}：每名客户经理都将按全部未完成任务罚款",
        "en": "most likely the week's workbooks are not in the inbox yet: drop them there and run again (this run "
              "changed nothing). If nobody really worked, close {weeks} as it is with pipeline run --force: every "
              "manager is then fined for every missed target",
    },
    "warn.EMPTY_WEEK.dry_run": {
        "zh": "注意（EMPTY_WEEK）：{what}；正式运行将拒绝结算，除非放入本周的表格或加 --force",
        "en": "warning (EMPTY_WEEK): {what}; a real run refuses to close it until its workbooks are dropped, or with --force",
    },
    "warn.EMPTY_WEEK.forced": {
        "zh": "注意（EMPTY_WEEK）：{what}；已按 --force 照常结算",
        "en": "warning (EMPTY_WEEK): {what}; closed as it is (--force)",
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
    "report.col.clawback": {"zh": "扣回金额", "en": "Clawback"},
    "report.col.adjustment": {"zh": "调整金额", "en": "Adjustment"},
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
    "report.kind.visit": {"zh": "带访成交（分销售员佣金）", "en": "visit (share of salesperson's)"},
    "report.kind.lead": {"zh": "号码成交（每套定额）", "en": "lead (flat fee per unit)"},
    "report.yes": {"zh": "是", "en": "yes"},
    "report.no": {"zh": "否", "en": "no"},
    "report.none": {"zh": "无", "en": "none"},
    "report.no_team": {"zh": "（未分组）", "en": "(no team)"},
    "report.subtotal": {"zh": "{team} 小计（负责人：{leaders}）", "en": "{team} subtotal (leader: {leaders})"},
    "report.office_total": {"zh": "全体合计", "en": "Office total"},
    "report.team_heading": {"zh": "负责人：{leaders} · 客户经理 {n} 人", "en": "leader: {leaders} · {n} managers"},
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
    "report.h.net": {"zh": "本周净额（佣金 + 退房扣回 + 调整 − 罚款）",
                     "en": "Net this week (commission + clawback + adjustment − fines)"},
    "report.count": {"zh": "行数", "en": "Rows"},
    "report.col.week": {"zh": "周", "en": "Week"},
    "report.col.trend": {"zh": "近{n}周达成率", "en": "Last {n} weeks"},
    "report.h.history": {"zh": "近{n}周走势", "en": "The last {n} weeks"},
    "report.trend.bar": {"zh": "{week}：达成 {pct}%", "en": "{week}: {pct}% of targets"},
    "report.trend.absent": {"zh": "{week}：未考核", "en": "{week}: not assessed"},
    "report.trend.legend": {"zh": "{heading}（{first} 至 {last}）：{note}", "en": "{heading} ({first} to {last}): {note}"},
    "report.trend.note": {"zh": "柱高：各项任务完成率（每人每项封顶 100%）的平均；绿色为全部达标，空白为未考核。",
                          "en": "Bar height: the mean of the three tasks' attainment (each manager's capped at 100 %); green: every target met; empty: not assessed."},
    "report.history.fines_net": {"zh": "罚款 {fines} · 净额 {net}", "en": "fines {fines} · net {net}"},
    "report.this_week": {"zh": "本周", "en": "this week"},
    "report.absent": {"zh": "未考核", "en": "not assessed"},
    "report.print.footer": {"zh": "第 &P 页，共 &N 页", "en": "Page &P of &N"},
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
    "report.fix.INVALID_PHONE": {"zh": "改为 11 位大陆手机号（1 开头，不加区号和分隔符）后重新提交", "en": "write the 11-digit mainland mobile number (starting with 1, no prefix or separators) and submit again"},
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
    "mail.office_prefix": {"zh": "【{office}】", "en": "[{office}] "},
    "mail.subject.manager": {
        "zh": "{prefix}{week} 周报 {name}：净额 {net} 元",
        "en": "{prefix}{week} weekly statement {name}: net {net} CNY",
    },
    "mail.subject.summary": {"zh": "{prefix}{week} 周报 团队汇总", "en": "{prefix}{week} weekly team summary"},
    "mail.subject.failure": {
        "zh": "{prefix}周报程序运行失败（{at}）",
        "en": "{prefix}the weekly pipeline failed ({at})",
    },
    "mail.attach.manager": {"zh": "{week} 周报 {name}.xlsx", "en": "{week} statement {name}.xlsx"},
    "mail.attach.summary": {"zh": "{week} 团队汇总.xlsx", "en": "{week} team summary.xlsx"},
    "mail.greeting": {"zh": "{name}，您好：", "en": "Dear {name},"},
    "mail.greeting.team": {"zh": "您好：", "en": "Hello,"},
    "mail.manager.intro": {
        "zh": "这是您 {week}（{start} 至 {end}）的周报，明细见附件 Excel。",
        "en": "This is your statement for {week} ({start} to {end}); the details are in the attached workbook.",
    },
    "mail.summary.intro": {
        "zh": "这是 {week}（{start} 至 {end}）的团队汇总，完整报表见附件 Excel。",
        "en": "This is the team summary for {week} ({start} to {end}); the full report is in the attached workbook.",
    },
    "mail.col.task": {"zh": "任务", "en": "task"},
    "mail.col.target": {"zh": "目标", "en": "target"},
    "mail.col.achieved": {"zh": "完成", "en": "achieved"},
    "mail.col.shortfall": {"zh": "差额", "en": "shortfall"},
    "mail.col.fine": {"zh": "罚款（元）", "en": "fine (CNY)"},
    "mail.col.date": {"zh": "成交日期", "en": "deal date"},
    "mail.col.phone": {"zh": "客户电话", "en": "customer phone"},
    "mail.col.room": {"zh": "房号", "en": "room"},
    "mail.col.salesperson": {"zh": "销售员", "en": "salesperson"},
    "mail.col.kind": {"zh": "类型", "en": "kind"},
    "mail.col.sp_commission": {"zh": "销售员佣金（元）", "en": "salesperson commission (CNY)"},
    "mail.col.commission": {"zh": "您的佣金（元）", "en": "your commission (CNY)"},
    "mail.col.where": {"zh": "来源（文件 / 工作表 / 行）", "en": "source (file / sheet / row)"},
    "mail.col.reason": {"zh": "原因", "en": "reason"},
    "mail.where": {"zh": "{kind}｜{file} / {sheet} / 第 {row} 行", "en": "{kind}: {file} / {sheet} / row {row}"},
    "mail.task.units": {"zh": "拓展单位（家）", "en": "units canvassed"},
    "mail.task.visits": {"zh": "诚意客户上门（批）", "en": "prospect visits (batches)"},
    "mail.task.leads": {"zh": "诚意客户号码（个）", "en": "prospect numbers"},
    "mail.task_line": {
        "zh": "{label}：目标 {target}，完成 {achieved}，差额 {shortfall}，罚款 {fine} 元",
        "en": "{label}: target {target}, achieved {achieved}, shortfall {shortfall}, fine {fine} CNY",
    },
    "mail.deal_line": {
        "zh": "{date}　{phone}　{room}　销售员 {salesperson}　{kind}：销售员佣金 {sp_commission} 元，您的佣金 {commission} 元",
        "en": "{date}  {phone}  {room}  salesperson {salesperson}  {kind}: salesperson commission {sp_commission}, yours {commission} CNY",
    },
    "mail.fines_total": {"zh": "罚款合计：{amount} 元", "en": "fines: {amount} CNY"},
    "mail.commission_line": {
        "zh": "佣金合计：{total} 元（带访成交 {visit} 元，号码成交 {lead} 元）",
        "en": "commission: {total} CNY (visits {visit} CNY, numbers {lead} CNY)",
    },
    "mail.clawback_line": {"zh": "退房扣回：{amount} 元", "en": "clawback: {amount} CNY"},
    "mail.adjustment_line": {"zh": "调整：{amount} 元", "en": "adjustment: {amount} CNY"},
    "mail.net": {"zh": "本周净额：{amount} 元（佣金 + 退房扣回 + 调整 − 罚款）",
                 "en": "net this week: {amount} CNY (commission + clawback + adjustment − fines)"},
    "mail.active_days": {
        "zh": "本周在岗 {days} 天，目标按在岗天数折算。",
        "en": "You were active {days} days this week; targets are prorated to that.",
    },
    "mail.not_assessed": {
        "zh": "本周您不在考核期内，没有任务目标和罚款。",
        "en": "You were not assessed this week: no targets and no fines.",
    },
    "mail.met": {"zh": "本周任务全部完成，谢谢！", "en": "All targets met this week. Thank you!"},
    "mail.not_met": {
        "zh": "本周未完成全部任务，已连续 {streak} 周未完成。",
        "en": "Targets not all met this week; {streak} week(s) in a row now.",
    },
    "mail.dismissal": {
        "zh": "您已连续 {streak} 周未完成任务，按规定将进入淘汰审核，请尽快与负责人沟通。",
        "en": "You have missed your targets {streak} weeks in a row and are due for a dismissal review; please talk to your leader.",
    },
    "mail.deals.title": {"zh": "本周成交佣金", "en": "Deals paid this week"},
    "mail.deals.none": {"zh": "本周没有成交佣金。", "en": "No deals paid to you this week."},
    "mail.kind.visit": {"zh": "带访成交", "en": "visit"},
    "mail.kind.lead": {"zh": "号码成交", "en": "number"},
    "mail.late": {"zh": "（补录）", "en": " (late)"},
    "mail.rejections.title": {
        "zh": "未计入的记录（{count} 条），更正方法见附件",
        "en": "Rows not counted ({count}); how to fix them is in the attachment",
    },
    "mail.why.MISSING_VALUE": {"zh": "缺少必填内容", "en": "a required value is missing"},
    "mail.why.INVALID_PHONE": {"zh": "手机号码无效", "en": "not a valid mobile number"},
    "mail.why.INVALID_DATE": {"zh": "日期无法识别", "en": "date not recognised"},
    "mail.why.INVALID_AMOUNT": {"zh": "金额无效", "en": "not a valid amount"},
    "mail.why.UNKNOWN_ROLE": {"zh": "岗位无法识别", "en": "unknown role"},
    "mail.why.DUPLICATE_NAME": {"zh": "名单中姓名重复", "en": "name twice in the roster"},
    "mail.why.LATE": {"zh": "所在周已结算", "en": "its week is already closed"},
    "mail.why.UNKNOWN_MANAGER": {"zh": "不是名单中的大客户经理", "en": "not a manager in the roster"},
    "mail.why.INACTIVE_MANAGER": {"zh": "当天不在岗", "en": "not active that day"},
    "mail.why.DUPLICATE_OWN": {"zh": "本人重复提交", "en": "you registered it already"},
    "mail.why.ALREADY_REGISTERED": {"zh": "号码已被登记", "en": "number already registered"},
    "mail.why.UNKNOWN_SALESPERSON": {"zh": "销售员不在名单中", "en": "salesperson not in the roster"},
    "mail.why.SALESPERSON_OTHER_TEAM": {"zh": "销售员不属于本团队", "en": "salesperson of another team"},
    "mail.why.NOT_REGISTERED": {"zh": "到访前未登记", "en": "not registered before the visit"},
    "mail.why.REGISTERED_BY_OTHER": {"zh": "客户已归属他人", "en": "customer registered by someone else"},
    "mail.why.NOT_FIRST_VISIT": {"zh": "不是首次到访", "en": "not a first visit"},
    "mail.why.NO_PHOTO": {"zh": "缺少照片", "en": "no photo"},
    "mail.why.DUPLICATE_UNIT": {"zh": "单位已被拓展计数", "en": "unit already counted"},
    "mail.summary.line": {
        "zh": "{name}（{team}）：单位 {units}，上门 {visits}，号码 {leads}；佣金 {commission} 元，退房扣回 {clawback} 元，"
              "调整 {adjustment} 元，罚款 {fines} 元，净额 {net} 元{flags}",
        "en": "{name} ({team}): units {units}, visits {visits}, numbers {leads}; commission {commission}, clawback "
              "{clawback}, adjustment {adjustment}, fines {fines}, net {net} CNY{flags}",
    },
    "mail.summary.flag_missed": {"zh": "；连续 {streak} 周未完成", "en": "; missed {streak} week(s) in a row"},
    "mail.summary.flag_dismissal": {"zh": "；进入淘汰审核", "en": "; due for dismissal review"},
    "mail.summary.totals": {
        "zh": "合计：佣金 {commission} 元，退房扣回 {clawback} 元，调整 {adjustment} 元，罚款 {fines} 元，净额 {net} 元；"
              "成交 {deals} 套；未计入记录 {rejected} 条。",
        "en": "Totals: commission {commission}, clawback {clawback}, adjustment {adjustment}, fines {fines}, net {net} CNY; "
              "{deals} unit(s) sold; {rejected} row(s) not counted.",
    },
    "mail.summary.html_hint": {
        "zh": "（邮件正文的网页版含完整汇总表。）",
        "en": "(The HTML version of this email holds the full summary tables.)",
    },
    "mail.failure.intro": {
        "zh": "周报程序在 {at} 运行失败。",
        "en": "The weekly pipeline failed at {at}.",
    },
    "mail.failure.error": {"zh": "出了什么问题：", "en": "What went wrong:"},
    "mail.failure.todo": {"zh": "怎么处理：", "en": "What to do:"},
    "mail.failure.todo_default": {
        "zh": "按上面的提示更正后重新运行即可：失败的运行不会更改任何数据，也不会移动收件箱里的文件。",
        "en": "Fix what the message above says and run again: a failed run changes nothing and moves no inbox file.",
    },
    "mail.footer": {
        "zh": "此邮件由周报程序自动发送，请勿直接回复；如有疑问请联系策划部。",
        "en": "Sent automatically by the weekly pipeline; please do not reply. Questions: ask the planning office.",
    },
    "mail.err.no_host": {
        "zh": "未设置邮件服务器（[smtp] host），邮件只写入 outbox 文件夹",
        "en": "no mail server set ([smtp] host); the email was only written to the outbox folder",
    },
    "mail.err.no_password": {
        "zh": "设置了 [smtp] user 但没有设置环境变量 PIPELINE_SMTP_PASSWORD",
        "en": "[smtp] user is set but the environment variable PIPELINE_SMTP_PASSWORD is not",
    },
    "mail.err.auth": {
        "zh": "邮件服务器登录失败（{detail}）：请检查 [smtp] user 和 PIPELINE_SMTP_PASSWORD",
        "en": "the mail server refused the login ({detail}): check [smtp] user and PIPELINE_SMTP_PASSWORD",
    },
    "mail.err.tls": {
        "zh": "与邮件服务器建立加密连接失败（{detail}）：请检查 [smtp] security 和 port",
        "en": "could not secure the connection to the mail server ({detail}): check [smtp] security and port",
    },
    "mail.err.unreachable": {
        "zh": "无法连接邮件服务器 {host}:{port}（{detail}），共尝试 {attempts} 次",
        "en": "cannot reach the mail server {host}:{port} ({detail}) after {attempts} attempt(s)",
    },
    "mail.err.transient": {
        "zh": "邮件服务器暂时拒绝（{detail}），共尝试 {attempts} 次：下次运行 pipeline send 重发",
        "en": "the mail server deferred it ({detail}) after {attempts} attempt(s): run pipeline send again later",
    },
    "mail.err.refused": {
        "zh": "邮件服务器拒收（{detail}）：请检查收件地址",
        "en": "the mail server refused it ({detail}): check the address",
    },
    "mail.err.address": {
        "zh": "收件地址「{address}」无法使用：请在团队名单或配置中更正",
        "en": "the address '{address}' cannot be used: correct it in the roster or the configuration",
    },
    # --- end mail ---
}

# Details of files that cannot be read (pipeline/io/read.py): key detail.<name>.
_FILE_DETAILS: dict[str, dict[str, str]] = {
    "io": {"zh": "无法打开：{error}", "en": "cannot be opened: {error}"},
    "too_big": {"zh": "文件 {size} MB，超过 {limit} MB 的上限：请拆分后再放入",
                "en": "{size} MB, over the {limit} MB limit: split it into smaller files"},
    "empty": {"zh": "文件是空的（0 字节），可能复制未完成：请重新复制",
              "en": "the file is empty (0 bytes), perhaps an interrupted copy: copy it again"},
    "zip_bomb": {"zh": "解压后 {size} MB，超过 {limit} MB 的上限，疑似压缩炸弹，已拒绝",
                 "en": "unpacks to {size} MB, over the {limit} MB limit (a zip bomb?); refused unread"},
    "zip_parts": {"zh": "压缩包内部件过多（目录 {size} KB），不像工作簿，已拒绝",
                  "en": "holds too many parts (a {size} KB directory) for a workbook; refused unread"},
    "zip_damaged": {"zh": "文件已损坏或不完整（{error}）", "en": "damaged or truncated ({error})"},
    "zip_encrypted": {"zh": "压缩包设有密码", "en": "the zip archive is password-protected"},
    "zip_method": {"zh": "使用了不支持的压缩方式", "en": "uses an unsupported compression method"},
    "not_workbook_zip": {"zh": "是压缩包但不是工作簿（可能是改了扩展名的其他文件）",
                         "en": "a zip archive but not a workbook (another file renamed?)"},
    "entities": {"zh": "{part} 声明了 XML 实体（DOCTYPE），可能是恶意文件，已拒绝",
                 "en": "{part} declares XML entities (a DOCTYPE), which workbooks never do; refused as unsafe"},
    "prolog": {"zh": "{part} 的 XML 开头异常，已拒绝", "en": "{part} starts with unusual XML; refused as unsafe"},
    "password": {"zh": "文件设有打开密码：请用 Excel/WPS 打开，取消密码（文件 > 信息 > 保护工作簿）",
                 "en": "password-protected: open it in Excel or WPS and remove the password (File > Info > Protect Workbook)"},
    "too_many_cells": {
        "zh": "工作表「{sheet}」的范围是 {rows} 行 × {cols} 列（{cells} 个单元格），超过 {limit} 个的上限。"
              "通常是表格远处有误填的单元格：按 Ctrl+End 找到最后一个单元格，删除表格以外的行和列",
        "en": "sheet '{sheet}' spans {rows} rows x {cols} columns ({cells} cells), over the {limit} limit. "
              "Usually a stray cell far from the table: press Ctrl+End to find the last cell and delete the rows "
              "and columns beyond the table"},
    "probe_died": {
        "zh": "读取它需要的内存超过上限，或文件已损坏。通常是表格远处有误填的单元格：按 Ctrl+End 找到最后一个单元格，"
              "删除表格以外的行和列",
        "en": "reading it needs more memory than allowed, or the file is damaged. Usually a stray cell far from "
              "the table: press Ctrl+End to find the last cell and delete the rows and columns beyond the table"},
    "probe_failed": {"zh": "读取前的检查无法进行（系统拒绝启动辅助进程：{error}）：请稍后重新运行",
                     "en": "could not be checked before reading (the system refused a helper process: {error}); run again later"},
    "changed": {"zh": "读取过程中文件被修改了（可能仍在复制中）：请等复制完成后重新运行",
                "en": "changed while being read (still being copied?): run again once the copy is done"},
    "probe_slow": {"zh": "读取超过 {seconds} 秒仍未完成", "en": "reading it took over {seconds} seconds"},
    "calamine": {"zh": "文件已损坏或格式不对（{error}）", "en": "damaged or not in the format its name says ({error})"},
    "binary": {"zh": "不是工作簿，也不是文本文件（可能已损坏、不完整或改了扩展名）",
               "en": "neither a workbook nor text (damaged, truncated or renamed)"},
    "encoding": {"zh": "文字编码无法识别（{error}）：请另存为 UTF-8 CSV 或 .xlsx",
                 "en": "unknown text encoding ({error}): save it as UTF-8 CSV or .xlsx"},
    "csv": {"zh": "CSV 格式错误（{error}）", "en": "not valid CSV ({error})"},
    "html_no_table": {"zh": "是网页/XML 文件，但其中没有表格", "en": "a web page or XML file without a table"},
    "xml_2003": {"zh": "是旧的“XML 电子表格 2003”格式", "en": "in the old 'XML Spreadsheet 2003' format"},
    "text_too_big": {"zh": "超过 {limit} 个单元格的上限：请拆分后再放入",
                     "en": "over the {limit} cells limit: split it into smaller files"},
}

# What each column means, for the instructions sheet of a blank template: key column.help.<column>.
_COLUMN_HELP: dict[str, dict[str, str]] = {
    "name": {"zh": "填写全名，与其他表中经理、销售员的写法完全一致；名单内不能重名",
             "en": "the full name, spelled exactly as in the other sheets; names must be unique"},
    "role": {"zh": "从下拉列表选择 大客户经理、销售员 或 负责人（也可写 客户经理、置业顾问、主管、组长）",
             "en": "pick manager, salesperson or leader from the dropdown"},
    "team": {"zh": "如 一组、二组；客户须交给本团队的销售员",
             "en": "e.g. Team 1; managers hand customers to salespeople of their own team"},
    "email": {"zh": "用于发送每周个人对账单和团队汇总",
              "en": "where the weekly statement and the team summary are sent"},
    "active_from": {"zh": "从这一天起参加考核，留空表示一直在岗",
                    "en": "assessed from this day on; leave it empty if always active"},
    "active_to": {"zh": "这一天之后不再考核，留空表示仍在岗",
                  "en": "not assessed after this day; leave it empty while the person stays"},
    "phone": {"zh": "11 位大陆手机号，可带 +86、空格或短横线，系统会自动整理；本列已设为文本格式，请勿改成数字",
              "en": "the 11-digit mainland mobile number; +86, spaces and dashes are cleaned up; the column is text on purpose"},
    "customer": {"zh": "如 王先生", "en": "e.g. Mr Wang"},
    "registered_at": {"zh": "客户登记备案的日期时间", "en": "when the customer was registered"},
    "registered_by": {"zh": "登记的大客户经理姓名，或渠道名称（如 自然到访、中介）",
                      "en": "the manager who registered the customer, or a channel (walk-in, agency, ...)"},
    "manager": {"zh": "大客户经理姓名，须与团队名单一致", "en": "the manager's name, exactly as in the roster"},
    "submitted_at": {"zh": "提交号码的日期时间", "en": "when the number was submitted"},
    "visited_at": {"zh": "客户到售楼处的日期时间，每批客户一行",
                   "en": "when the customer came to the sales office; one row per visiting batch"},
    "salesperson": {"zh": "接待或成交的销售员姓名，须与团队名单一致",
                    "en": "the salesperson who received or sold, exactly as in the roster"},
    "party_size": {"zh": "本批到访的人数", "en": "how many people came in this batch"},
    "expanded_at": {"zh": "拜访该单位的日期时间", "en": "when the unit was canvassed"},
    "unit_name": {"zh": "单位全称，同一单位只计一次", "en": "the organisation's full name; each unit counts once"},
    "photo": {"zh": "照片文件名或链接，没有照片的单位不计数",
              "en": "the photo's file name or link; a unit without a photo does not count"},
    "address": {"zh": "单位地址", "en": "the unit's address"},
    "deal_at": {"zh": "签约的日期时间，每套房一行", "en": "when the contract was signed; one row per unit sold"},
    "room": {"zh": "如 3-1201", "en": "e.g. 3-1201"},
    "commission": {"zh": "该套房销售员的佣金，如 4000 或 4,000.50（元）",
                   "en": "the salesperson's commission on this sale, e.g. 4000 or 4,000.50 (CNY)"},
    "note": {"zh": "任意补充说明", "en": "anything worth adding"},
}

# The instructions sheet of a blank template (pipeline/template.py): key template.<name>.
_TEMPLATE: dict[str, dict[str, str]] = {
    "title": {"zh": "{title}：填写说明", "en": "{title}: how to fill in this workbook"},
    "where": {"zh": "请在工作表「{sheet}」第 1 行的表头下方逐行填写，每行一条记录。",
              "en": "Fill in the sheet '{sheet}' below the header in row 1, one record per row."},
    "headers": {"zh": "请勿修改表头文字；列的顺序可以调整，也可以在右侧增加自己的列，系统会忽略不认识的列。",
                "en": "Keep the header texts as they are; columns may be reordered, and extra columns of your own are ignored."},
    "required": {"zh": "「{header}」（必填）：{text}。", "en": "'{header}' (required): {text}."},
    "optional": {"zh": "「{header}」（选填）：{text}。", "en": "'{header}' (optional): {text}."},
    "dates": {"zh": "日期时间可写成 2026-11-24 14:30、2026/11/24 14:30 或 2026年11月24日 14:30；只写日期表示当天 00:00。",
              "en": "Dates may be written as 2026-11-24 14:30, 2026/11/24 14:30 or 2026年11月24日 14:30; a date alone means 00:00."},
    "check": {"zh": "放入收件箱前，可运行 pipeline validate 检查每一行是否有问题。",
              "en": "Before dropping the file into the inbox, pipeline validate lists any row it would reject."},
    "inbox": {"zh": "填好后把文件放入收件箱文件夹，每周自动统计；本说明页不会被读取，可以保留。",
              "en": "Drop the filled-in file into the inbox folder; it is read every week. This sheet is never read as data."},
}

TEXTS.update({f"detail.{k}": v for k, v in _FILE_DETAILS.items()})
TEXTS.update({f"column.help.{k}": v for k, v in _COLUMN_HELP.items()})
TEXTS.update({f"template.{k}": v for k, v in _TEMPLATE.items()})


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

package api

// The pages' words: one message catalogue (golang.org/x/text/message) in
// Simplified Chinese, the default, and English. A page speaks the language
// of ?lang= (remembered in the cookie hotlined_lang), else the best match
// of the browser's Accept-Language, else Chinese (DESIGN, "Pages").
//
// Identifiers (classes, statuses, stages, ladder levels, severities, flags,
// reason rules, tiers, provinces, ...) are keys "kind.id"; an id the
// catalogue does not know (a stage or level added in configs/ only) is
// shown with its underscores as spaces, never as a raw key. Sentences are
// keyed by their English text.

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/workorder"
)

const langCookie = "hotlined_lang"

var (
	langZH = language.MustParse("zh-CN")
	// uiLangs: the first is the default when nothing matches.
	uiLangs     = []language.Tag{langZH, language.English}
	langMatcher = language.NewMatcher(uiLangs)
)

// uiMessage is one entry of the catalogue; en "" means the key itself.
type uiMessage struct{ key, zh, en string }

// uiMessages is the catalogue. Kinds: class, category, sub (subcategory),
// status, tier, stage, level (ladder rung), severity, flag, rule (reason),
// province, channel, ground (invalid), followup, exposure, action
// (history), role, incident_state, note (kind), transfer_reason. Problem
// codes are named by
// the table's own labels (configs/problem_codes.yaml, locale.Problem).
var uiMessages = []uiMessage{
	// Classes (DOMAIN.md) and the IVR categories.
	{"class.query", "查询", "Query"},
	{"class.consultation", "咨询", "Consultation"},
	{"class.fault_report", "障碍申告", "Fault report"},
	{"class.complaint", "投诉", "Complaint"},
	{"class.repeat_complaint", "重复投诉", "Repeat complaint"},
	{"class.major_complaint", "重大投诉", "Major complaint"},
	{"class.group_complaint", "群体投诉", "Group complaint"},
	{"category.query", "查询", "Query"},
	{"category.consultation", "咨询", "Consultation"},
	{"category.fault_report", "障碍申告", "Fault report"},
	{"category.complaint", "投诉", "Complaint"},
	{"sub.billing", "计费账单", "Billing"},
	{"sub.product", "产品资费", "Products and tariffs"},
	{"sub.broadband", "宽带", "Broadband"},
	{"sub.mobile", "移动电话", "Mobile"},
	{"sub.fixed_line", "固定电话", "Fixed line"},
	{"sub.network", "网络质量", "Network quality"},
	{"sub.service", "服务质量", "Service quality"},
	{"sub.agent", "人工服务", "Agent"},
	// Statuses (configs.Statuses).
	{"status.new", "新建待受理", "New"},
	{"status.accepted", "已受理", "Accepted"},
	{"status.in_progress", "处理中", "In progress"},
	{"status.pending_customer", "待客户反馈", "Waiting for the customer"},
	{"status.resolved", "已解决", "Resolved"},
	{"status.archived", "已归档", "Archived"},
	{"status.reopened", "已重开", "Reopened"},
	// Tiers.
	{"tier.province", "省内", "Province"},
	{"tier.group", "集团", "Group"},
	{"tier.appeal", "申诉", "Appeal"},
	// Stages (configs/policies.yaml and escalation.deadlines).
	{"stage.register", "登记", "Register"},
	{"stage.investigate", "调查", "Investigate"},
	{"stage.plan", "处理方案", "Plan"},
	{"stage.resolve", "解决", "Resolve"},
	{"stage.reply", "答复客户", "Reply to the customer"},
	{"stage.follow_up", "回访", "Follow-up call"},
	{"stage.answer", "答复", "Answer"},
	{"stage.report_upward", "逐级上报", "Report upward"},
	{"stage.outbox", "消息积压", "Outbox backlog"},
	{"stage.transfer_failed", "转接失败，需回呼", "Transfer failed: call back"},
	{"stage.group_suspected", "疑似群体投诉待确认", "Suspected group complaint to decide"},
	{"stage.report_escalation_risk", "越级倾向上报", "Report the escalation risk"},
	{"stage.set_province", "补录省份", "Set the province"},
	// Ladder levels (DOMAIN.md, escalation ladder).
	{"level.handling_agent", "处理坐席", "Handling agent"},
	{"level.team_lead", "班组长", "Team lead"},
	{"level.provincial_complaint_centre", "省投诉中心", "Provincial complaint centre"},
	{"level.group_customer_service", "集团客服部", "Group customer service"},
	// Alert severities.
	{"severity.warning", "预警", "Warning"},
	{"severity.breach", "超时", "Breach"},
	{"severity.major", "重大投诉上报", "Major complaint"},
	{"severity.group", "群体投诉上报", "Group complaint"},
	{"severity.escalation_risk", "越级倾向上报", "Escalation risk"},
	// Flags (DESIGN, additions of 2026-11-30).
	{"flag.escalation_risk", "越级倾向", "Escalation risk"},
	{"flag.escalation_record", "越级投诉记录", "Went over our head before"},
	{"flag.escalated", "已越级", "Escalated"},
	{"flag.suspected_group", "疑似群体投诉", "Suspected group complaint"},
	{"flag.batch", "批量投诉", "Batch complaint"},
	{"flag.province_unknown", "省份未知", "Province unknown"},
	{"flag.transfer_failed", "转接失败", "Transfer failed"},
	{"flag.first_contact", "首诉（未先向企业投诉）", "First contact (went to the regulator first)"},
	// Reason rules (classifier and configs/rules.yaml).
	{"rule.base_category", "按语音菜单或渠道所选业务分类", "Class from the IVR menu or the channel's category"},
	{"rule.invalid_anonymous", "匿名来电，无效投诉", "Anonymous caller: invalid complaint"},
	{"rule.escalation_tendency_ivr", "来电者在菜单中表示将越级投诉", "Caller chose the will-escalate menu option"},
	{"rule.open_complaint_urged", "催办：同一问题的投诉仍在处理", "Urge: the same complaint is still open"},
	{"rule.unsatisfied_with_result", "对处理结果不满意", "Unhappy with the result"},
	{"rule.repeat_after_archive", "归档后30天内再次投诉", "Again within 30 days after archiving"},
	{"rule.repeat_within_30d_of_archive", "归档后30天内再次投诉", "Again within 30 days after archiving"},
	{"rule.group_same_day_escalated", "同日3件以上越级至集团或申诉渠道", "3 or more escalated to group or appeal in one day"},
	{"rule.group_same_month", "一个月内20件以上同类问题", "20 or more of one problem within a month"},
	{"rule.reclassified", "人工改类", "Reclassified by hand"},
	{"rule.public_opinion_risk", "舆情风险（媒体、网络曝光）", "Public-opinion risk (media, internet)"},
	{"rule.escalation_tendency", "越级倾向（监管、消协、诉讼）", "Escalation tendency (regulator, consumer body, court)"},
	{"rule.public_opinion_ivr", "来电者在菜单中表示媒体已介入或将介入", "Caller chose the media menu option"},
	{"rule.public_opinion_exposed", "已被媒体或网络曝光", "Already exposed by media or online"},
	{"rule.escalated_from_lower_tier", "同一问题越级至更高层级，新建工单", "Same problem taken to a higher tier: a new order"},
	{"rule.escalation_record", "近期有越级投诉记录", "Went over the operator's head recently"},
	{"rule.keywords_cancelled", "关键词被否定，不计入", "Keywords negated: not counted"},
	{"rule.appeal_of_earlier_complaint", "申诉：此前已向企业投诉", "Appeal of an earlier complaint"},
	{"rule.appeal_first_contact", "申诉：未先向企业投诉（首诉）", "Appeal with no earlier complaint (first contact)"},
	{"rule.batch_complaint", "短时间内同一问题批量投诉", "Batch: many complaints of one problem within hours"},
	// Incident states (workorder.Incident.State; batch incidents are open).
	{"incident_state.open", "进行中", "Open"},
	{"incident_state.suspected", "疑似", "Suspected"},
	{"incident_state.confirmed", "已确认属实", "Confirmed"},
	{"incident_state.rejected", "已驳回", "Rejected"},
	// Note kinds (workorder.NoteKinds).
	{"note.customer_statement", "客户陈述", "Customer statement"},
	{"note.holding_statement", "临时答复口径", "Holding statement"},
	{"note.plan", "处理方案", "Handling plan"},
	// Invalid grounds, follow-up results, exposure.
	{"ground.anonymous", "匿名或非本网用户", "Anonymous or not a customer"},
	{"ground.not_concrete", "无具体可核实内容", "Nothing concrete to verify"},
	{"ground.unreachable", "无法联系客户", "Customer unreachable"},
	{"ground.outside_operator", "非本企业责任范围", "Outside the operator's scope"},
	{"ground.outside_telecom", "非电信业务", "Outside telecom services"},
	{"followup.satisfied", "满意", "Satisfied"},
	{"followup.basically_satisfied", "基本满意", "Basically satisfied"},
	{"followup.unsatisfied", "不满意", "Unsatisfied"},
	{"exposure.threatened", "扬言曝光", "Exposure threatened"},
	{"exposure.exposed", "已曝光", "Already exposed"},
	// History actions, roles, channels.
	{"action.status", "状态变更", "Status change"},
	{"action.urge", "催办", "Urge"},
	{"action.class", "改类", "Reclassified"},
	{"action.escalated", "客户越级", "Escalated by the customer"},
	{"action.flag", "标记", "Flagged"},
	{"action.note", "记录", "Note"},
	{"action.problem", "问题编码", "Problem code"},
	{"action.province", "省份", "Province"},
	{"action.transfer", "转接坐席", "Transferred to an agent"},
	{"action.transfer_abandoned", "转接中客户挂机", "Caller hung up during the transfer"},
	{"action.group", "群体投诉", "Group complaint"},
	{"action.invalid", "无效投诉认定", "Invalid complaint"},
	{"action.fcr_taken_back", "撤销一次解决", "First-contact resolution taken back"},
	{"role.agent", "坐席", "Agent"},
	{"role.supervisor", "主管", "Supervisor"},
	{"role.system", "系统", "System"},
	{"role.classifier", "自动分类", "Classifier"},
	{"role.caller", "客户", "Caller"},
	{"channel.phone", "电话", "Phone"},
	{"channel.hotline", "热线电话", "Hotline call"},
	{"channel.web", "网厅", "Web"},
	{"channel.app", "客户端", "App"},
	{"channel.letter", "信函", "Letter"},
	{"channel.wechat", "微信", "WeChat"},
	{"channel.email", "电子邮件", "E-mail"},
	{"channel.regulator_transfer", "监管转办", "Regulator transfer"},
	// Why a transfer to an agent failed (workorder.Transfer*; the SIP
	// edge's refused_NNN reads as refused with its code).
	{"transfer_reason.busy", "坐席忙", "Agent busy"},
	{"transfer_reason.no_answer", "无人接听", "No answer"},
	{"transfer_reason.refused", "被拒绝", "Refused"},
	{"transfer_reason.error", "无法接通", "Could not connect"},
	{"transfer_reason.call_lost", "通话中断，结果未知", "Call lost, outcome unknown"},
	{"transfer_reason.caller_hung_up", "客户挂机", "Caller hung up"},
	// Provinces (the company complained about).
	{"province.BJ", "北京", "Beijing"}, {"province.TJ", "天津", "Tianjin"}, {"province.HE", "河北", "Hebei"},
	{"province.SX", "山西", "Shanxi"}, {"province.NM", "内蒙古", "Inner Mongolia"}, {"province.LN", "辽宁", "Liaoning"},
	{"province.JL", "吉林", "Jilin"}, {"province.HL", "黑龙江", "Heilongjiang"}, {"province.SH", "上海", "Shanghai"},
	{"province.JS", "江苏", "Jiangsu"}, {"province.ZJ", "浙江", "Zhejiang"}, {"province.AH", "安徽", "Anhui"},
	{"province.FJ", "福建", "Fujian"}, {"province.JX", "江西", "Jiangxi"}, {"province.SD", "山东", "Shandong"},
	{"province.HA", "河南", "Henan"}, {"province.HB", "湖北", "Hubei"}, {"province.HN", "湖南", "Hunan"},
	{"province.GD", "广东", "Guangdong"}, {"province.GX", "广西", "Guangxi"}, {"province.HI", "海南", "Hainan"},
	{"province.CQ", "重庆", "Chongqing"}, {"province.SC", "四川", "Sichuan"}, {"province.GZ", "贵州", "Guizhou"},
	{"province.YN", "云南", "Yunnan"}, {"province.XZ", "西藏", "Tibet"}, {"province.SN", "陕西", "Shaanxi"},
	{"province.GS", "甘肃", "Gansu"}, {"province.QH", "青海", "Qinghai"}, {"province.NX", "宁夏", "Ningxia"},
	{"province.XJ", "新疆", "Xinjiang"}, {"province.XX", "未知省份", "Unknown province"},

	// Layout, login, search, errors.
	{"hotline complaints", "热线工单", ""},
	{"Search", "查找", ""},
	{"Board", "运营看板", ""},
	{"Log out", "退出", ""},
	{"Log in", "登录", ""},
	{"API token", "API 令牌", ""},
	{"Your agent or supervisor token. The page keeps a signed session cookie for 12 hours, never the token.", "坐席或主管令牌。页面只保存12小时有效的签名会话，不保存令牌本身。", ""},
	{"Unknown token.", "令牌无效。", ""},
	{"The role %s has no pages; use the API.", "角色“%s”没有页面，请使用 API。", ""},
	{"The form could not be read.", "无法读取表单。", ""},
	{"Refused", "已拒绝", ""},
	{"Cross-origin request refused.", "拒绝跨站请求。", ""},
	{"Not allowed", "无权限", ""},
	{"The role %s may not open this page.", "角色“%s”无权打开此页面。", ""},
	{"Find a work order", "查找工单", ""},
	{"Work-order id or service number", "工单号或业务号码", ""},
	{"Open", "打开", ""},
	{"Numbers are sent in the form body, never in a URL.", "号码只在表单中提交，不会出现在网址里。", ""},
	{"Your work-order ids come with the screen pop (the softphone opens the order) or from this search by the customer's number.", "工单号随来电弹屏出现（软电话自动打开工单），也可按客户号码在此查找。", ""},
	{"Enter a work-order id or a service number.", "请输入工单号或业务号码。", ""},
	{"Not a work-order id like WO-20261123-GD-000123.", "不是有效的工单号（格式如 WO-20261123-GD-000123）。", ""},
	{"Enter a work-order id like WO-20261123-GD-000123 or a service number (digits).", "请输入工单号（如 WO-20261123-GD-000123）或业务号码（数字）。", ""},
	{"The search failed; try again.", "查询失败，请重试。", ""},
	{"No work orders for that number.", "该号码没有工单。", ""},
	{"Back to search", "返回查找", ""},
	{"Bad id", "工单号有误", ""},
	{"Not found", "未找到", ""},
	{"No work order %s.", "没有工单 %s。", ""},
	{"Error", "错误", ""},
	{"Could not read the work order.", "无法读取工单。", ""},
	{"Times in %s", "时间均为 %s", ""},
	{"Language", "语言", ""},

	// Shared column names.
	{"Work order", "工单", ""},
	{"Class", "类别", ""},
	{"Status", "状态", ""},
	{"Created", "创建时间", ""},
	{"Caller", "来电号码", ""},
	{"Service number", "业务号码", ""},
	{"Province", "省份", ""},
	{"Stage", "环节", ""},
	{"Deadline", "截止时间", ""},
	{"Time left", "剩余时间", ""},
	{"Raised", "告警时间", ""},
	{"Priority %d", "优先级 %d", ""},

	// The work-order page.
	{"Hotline", "热线", ""},
	{"Channel", "渠道", ""},
	{"Category", "业务类别", ""},
	{"IVR path", "语音菜单路径", ""},
	{"Urges", "催办次数", ""},
	{"Related", "关联工单", ""},
	{"Incidents", "群体事件", ""},
	{"Description", "客户陈述", ""},
	{"Flags", "标记", ""},
	{"Problem code", "问题编码", ""},
	{"Invalid complaint", "无效投诉", ""},
	{"Follow-up", "回访结果", ""},
	{"Public opinion", "舆情", ""},
	{"Appeal case", "申诉案件", ""},
	{"Transfer", "转接", ""},
	{"Transferred to %s", "已转接至 %s", ""},
	{"The transfer failed: call the customer back.", "转接失败：请回拨客户。", ""},
	{"Why this class", "分类依据", ""},
	{"No reasons recorded.", "没有分类记录。", ""},
	{"Reclassify", "改类", ""},
	{"New class", "新类别", ""},
	{"Reason (required)", "原因（必填）", ""},
	{"supervisor only", "仅主管", ""},
	{"Agents may raise the class towards major complaint; only a supervisor may lower it.", "坐席可将类别向重大投诉方向调高；调低只能由主管操作。", ""},
	{"Deadlines", "时限", ""},
	{"No open deadlines.", "没有未到期的时限。", ""},
	{"Alerts", "告警", ""},
	{"No open alerts for this order.", "本工单没有未处理告警。", ""},
	{"Only a supervisor acknowledges alerts.", "告警只能由主管确认。", ""},
	{"Acknowledge", "确认告警", ""},
	{"Change status", "变更状态", ""},
	{"Note (what the customer said, what you did)", "备注（客户诉求、处理情况）", ""},
	{"No status change is possible from %s.", "当前状态“%s”不能再变更。", ""},
	{"History", "处理记录", ""},
	{"At", "时间", ""},
	{"Who", "操作人", ""},
	{"What", "操作", ""},
	{"Note", "备注", ""},
	{"No changes yet.", "暂无处理记录。", ""},
	{"The customer's recent orders", "该客户近期工单", ""},
	{"No other orders of this customer.", "该客户没有其他工单。", ""},
	{"Notes", "备注记录", ""},
	{"Add note", "添加备注", ""},
	{"Kind", "类型", ""},
	{"Received", "受理时间", ""},
	{"Authority", "转办机构", ""},
	{"Case number", "案件编号", ""},
	{"Appeal deadline", "申诉办结时限", ""},
	{"Unsatisfied with", "不满意原因", ""},
	{"Set the problem code", "设置问题编码", ""},
	{"Set", "设置", ""},
	{"No problem code yet.", "尚未设置问题编码。", ""},
	{"Set the province", "设置省份", ""},
	{"The caller's province is unknown: ask the customer and set it.", "来电省份未知：请询问客户后设置。", ""},
	{"Follow-up result", "回访结果", ""},
	{"Record the follow-up", "记录回访结果", ""},
	{"Why not satisfied", "不满意原因", ""},
	{"Mark invalid", "认定为无效投诉", ""},
	{"Ground", "认定依据", ""},
	{"Undo: valid again", "撤销无效认定", ""},
	{"Only a supervisor undoes an invalid mark.", "撤销无效认定只能由主管操作。", ""},
	{"No notes yet.", "暂无备注。", ""},

	// The history notes the daemon writes (HistoryNote).
	{"Urge %s: the customer contacted us again by %s while the order was %s", "第%s次催办：客户经%s再次联系（当时状态：%s）", ""},
	{"%s, call %s", "%s，通话 %s", ""},
	{"%s: %s", "%s：%s", ""},
	{"%s (%s)", "%s（%s）", ""},
	{"The customer took the problem to the %s tier (%s), new order %s", "客户就此问题越级至%s渠道（%s），新工单 %s", ""},
	{"The customer took the problem to the %s tier, new order %s", "客户就此问题越级至%s渠道，新工单 %s", ""},
	{"The urging contact gives a public-opinion reason: %s", "本次催办给出舆情依据：%s", ""},
	{"The customer's statement recorded by %s gives a public-opinion reason: %s", "%s 记录的客户陈述给出舆情依据：%s", ""},
	{"The urging contact gives an escalation-risk reason: %s", "本次催办给出越级倾向依据：%s", ""},
	{"The customer's statement recorded by %s gives an escalation-risk reason: %s", "%s 记录的客户陈述给出越级倾向依据：%s", ""},
	{"Member of group complaint %s (%s)", "群体投诉事件 %s 的成员（%s）", ""},
	{"Member of group complaint %s", "群体投诉事件 %s 的成员", ""},
	{"Transfer to an agent failed: %s", "转接坐席失败：%s", ""},
	{"Archived automatically: the follow-up period ended without a reopen", "回访期已过且未重开，系统自动归档", ""},
	{"Follow-up: %s", "回访结果：%s", ""},
	{"No longer resolved at the first contact: repeat complaint %s", "重复投诉 %s 到达，不再计为一次解决", ""},

	// The board.
	{"Operations board", "运营看板", ""},
	{"Open alerts", "未处理告警", ""},
	{"Orders today", "今日工单", ""},
	{"Waiting to be accepted", "待受理工单", ""},
	{"Suspected group complaints", "疑似群体投诉", ""},
	{"Today by class", "今日按类别", ""},
	{"Today by province", "今日按省份", ""},
	{"Orders per hour today, by class", "今日每小时工单量（按类别）", ""},
	{"Waiting", "等待时长", ""},
	{"Members", "涉及工单", ""},
	{"Rule", "规则", ""},
	{"Problem", "问题", ""},
	{"Confirm", "确认属实", ""},
	{"Reject", "驳回", ""},
	{"Why is it not one problem?", "请填写驳回原因（为何不属同一问题）：", ""},
	{"Count", "数量", ""},
	{"Loading…", "加载中…", ""},
	{"Hour", "时", ""},
	{"Orders", "工单数", ""},
	{"The counts and the chart cover at most %d orders per status.", "统计与图表每个状态最多计入 %d 张工单。", ""},
	{"Open batch complaints", "进行中的批量投诉", ""},
	{"Window", "统计周期", ""},
	{"Today's indicators", "今日指标", ""},
	{"Timeliness: %s", "%s及时率", ""},
	{"Timeliness", "及时率", ""},
	{"First-contact resolution", "一次解决率", ""},
	{"Satisfaction", "满意度", ""},
	{"no data yet", "暂无数据", ""},
	{"Rates of today in every province, from the service's counters.", "今日全部省份的比率，来自服务的指标计数。", ""},

	// Strings of the pages' JavaScript (uiJSStrings).
	{"js.live", "实时", "live"},
	{"js.connecting", "连接中…", "connecting…"},
	{"js.reconnecting", "重新连接中…", "reconnecting…"},
	{"js.disconnected", "已断开", "disconnected"},
	{"js.nofeed", "无实时推送", "no live feed"},
	{"js.left", "剩余 {t}", "{t} left"},
	{"js.overdue", "已超时 {t}", "overdue by {t}"},
	{"js.waiting", "已等待 {t}", "waiting {t}"},
	{"js.d", "天", "d "},
	{"js.h", "小时", "h "},
	{"js.m", "分", "m "},
	{"js.s", "秒", "s"},
	{"js.open", "{n} 条未处理", "{n} open"},
	{"js.noalerts", "没有未处理告警。", "No open alerts."},
	{"js.noqueue", "没有待受理工单。", "No orders waiting."},
	{"js.noincidents", "没有疑似群体投诉。", "No suspected group complaints."},
	{"js.nodata", "今日暂无工单。", "No orders today."},
	{"js.level", "第{n}级", "level {n}"},
	{"js.levelwarn", "预警", "warning"},
	{"js.ackfailed", "确认告警 {id} 失败：{err}", "Could not acknowledge {id}: {err}"},
	{"js.loadfailed", "加载失败：{err}", "Could not load: {err}"},
	{"js.confirmfailed", "操作 {id} 失败：{err}", "Could not change {id}: {err}"},
	{"js.statusfailed", "状态变更失败：{err}", "Could not change the status: {err}"},
	{"js.classfailed", "改类失败：{err}", "Could not reclassify: {err}"},
	{"js.members", "{n} 张", "{n} orders"},
	{"js.nobatches", "没有进行中的批量投诉。", "No open batch complaints."},
	{"js.actionfailed", "操作失败：{err}", "Could not save: {err}"},
	{"js.priority", "优先级 {n}", "P{n}"},
}

// uiCatalog holds uiMessages; uiKnown says which keys it has.
var uiCatalog, uiKnown = func() (catalog.Catalog, map[string]bool) {
	b := catalog.NewBuilder(catalog.Fallback(langZH))
	known := make(map[string]bool, len(uiMessages))
	for _, m := range uiMessages {
		en := m.en
		if en == "" {
			en = m.key
		}
		// SetString fails only for an unknown language; both are fixed.
		_ = b.SetString(langZH, m.key, m.zh)
		_ = b.SetString(language.English, m.key, en)
		known[m.key] = true
	}
	return b, known
}()

// locale renders words and times for one page: its language and the
// configured time zone.
type locale struct {
	// Lang is the page's language as an HTML lang value: zh-CN or en.
	Lang  string
	p     *message.Printer
	loc   *time.Location
	codes *configs.ProblemCodes // nil: problem codes shown as they are
}

// pickLang chooses the page's language: ?lang= first, then the
// hotlined_lang cookie, then Accept-Language; Chinese when none matches.
func pickLang(r *http.Request) language.Tag {
	var prefs []string
	if v := r.URL.Query().Get("lang"); v != "" {
		prefs = append(prefs, v)
	}
	if c, err := r.Cookie(langCookie); err == nil && c.Value != "" {
		prefs = append(prefs, c.Value)
	}
	prefs = append(prefs, r.Header.Get("Accept-Language"))
	for _, p := range prefs {
		tags, _, err := language.ParseAcceptLanguage(p)
		if err != nil || len(tags) == 0 {
			continue
		}
		_, i, conf := langMatcher.Match(tags...)
		if conf != language.No {
			return uiLangs[i]
		}
	}
	return langZH
}

// newLocale returns the words of tag with times in loc (UTC when nil).
func newLocale(tag language.Tag, loc *time.Location) *locale {
	if loc == nil {
		loc = time.UTC
	}
	lang := "zh-CN"
	if tag == language.English {
		lang = "en"
	}
	return &locale{Lang: lang, p: message.NewPrinter(tag, message.Catalog(uiCatalog)), loc: loc}
}

// withCodes names problem codes with the labels of codes (may be nil).
func (l *locale) withCodes(codes *configs.ProblemCodes) *locale {
	l.codes = codes
	return l
}

// label picks the page's language of a table label.
func (l *locale) label(lb configs.Label) string {
	if l.Lang == "en" {
		return lb.EN
	}
	return lb.ZH
}

// Problem names a problem code ("billing.overcharge") by the table's
// label in the page's language; a code the table lacks is shown as it is
// (data, like an order id). "" for "".
func (l *locale) Problem(code string) string {
	if pc, ok := l.codes.Lookup(code); ok {
		return l.label(pc.Label)
	}
	return code
}

// uiOption is one choice of a select: an identifier and its words.
type uiOption struct{ ID, Label string }

// Options lists the identifiers of a kind the catalogue names, in the
// catalogue's order, with their words: the choices of a select.
func (l *locale) Options(kind string) []uiOption {
	var out []uiOption
	for _, m := range uiMessages {
		if k, id, ok := strings.Cut(m.key, "."); ok && k == kind {
			out = append(out, uiOption{id, l.p.Sprintf(m.key)})
		}
	}
	return out
}

// uiProblemGroup is one optgroup of the problem-code select.
type uiProblemGroup struct {
	Label string
	Codes []uiProblemOption
}

type uiProblemOption struct{ Code, Label string }

// ProblemGroups is the code table in the page's language, in file order;
// nil without a table.
func (l *locale) ProblemGroups() []uiProblemGroup {
	if l.codes == nil {
		return nil
	}
	out := make([]uiProblemGroup, 0, len(l.codes.Groups))
	for _, g := range l.codes.Groups {
		pg := uiProblemGroup{Label: l.label(g.Label)}
		for _, c := range g.Codes {
			pg.Codes = append(pg.Codes, uiProblemOption{c.Code, l.label(c.Label)})
		}
		out = append(out, pg)
	}
	return out
}

// T translates a sentence (its English text is the key), formatting args
// as fmt does.
func (l *locale) T(key string, args ...any) string { return l.p.Sprintf(key, args...) }

// word names the identifier id of a kind in the page's language.
func (l *locale) word(kind, id string) string {
	if id == "" {
		return ""
	}
	if k := kind + "." + id; uiKnown[k] {
		return l.p.Sprintf(k)
	}
	return strings.ReplaceAll(id, "_", " ")
}

// Class, Category, Sub, Status, Tier, Stage, Level, Severity, Flag, Rule,
// Province, Channel, Ground, Followup, Exposure, Action, IncidentState,
// NoteKind and Role name an identifier of their kind in words.
func (l *locale) Class(id string) string    { return l.word("class", id) }
func (l *locale) Category(id string) string { return l.word("category", id) }
func (l *locale) Sub(id string) string      { return l.word("sub", id) }
func (l *locale) Status(id string) string   { return l.word("status", id) }
func (l *locale) Tier(id string) string     { return l.word("tier", id) }
func (l *locale) Stage(id string) string    { return l.word("stage", id) }
func (l *locale) Level(id string) string    { return l.word("level", id) }
func (l *locale) Severity(id string) string { return l.word("severity", id) }
func (l *locale) Flag(id string) string     { return l.word("flag", id) }
func (l *locale) Rule(id string) string     { return l.word("rule", id) }
func (l *locale) Province(id string) string { return l.word("province", id) }
func (l *locale) Channel(id string) string  { return l.word("channel", id) }
func (l *locale) Ground(id string) string   { return l.word("ground", id) }
func (l *locale) Followup(id string) string { return l.word("followup", id) }
func (l *locale) Exposure(id string) string { return l.word("exposure", id) }
func (l *locale) Action(id string) string   { return l.word("action", id) }
func (l *locale) IncidentState(id string) string {
	return l.word("incident_state", id)
}
func (l *locale) NoteKind(id string) string { return l.word("note", id) }

// TransferReason names why a transfer failed; the SIP edge's refused_NNN
// reads as refused with its status code.
func (l *locale) TransferReason(id string) string {
	if code, ok := strings.CutPrefix(id, "refused_"); ok {
		return l.T("%s (%s)", l.word("transfer_reason", "refused"), code)
	}
	return l.word("transfer_reason", id)
}

// Role names the role part of an actor ("supervisor:1a2b3c4d"), keeping
// the token hash that tells two people apart.
func (l *locale) Role(actor string) string {
	role, rest, ok := strings.Cut(actor, ":")
	if !ok {
		return l.word("role", actor)
	}
	return l.word("role", role) + " " + rest
}

// timeLayout shows the offset with every time, so no reader takes it for
// their browser's zone.
const timeLayout = "2006-01-02 15:04:05 -07:00"

// Time formats t in the configured zone with its offset
// ("2026-11-30 14:05:09 +08:00"); "" for the zero time.
func (l *locale) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(l.loc).Format(timeLayout)
}

// Zone names the configured zone and its offset now: "Asia/Shanghai (UTC+08:00)".
func (l *locale) Zone() string {
	return l.loc.String() + " (UTC" + time.Now().In(l.loc).Format("-07:00") + ")"
}

// TZ is the configured zone's IANA name, for the pages' JavaScript.
func (l *locale) TZ() string { return l.loc.String() }

// JSStrings is what the pages' JavaScript needs, as one JSON-able value:
// its sentences (the js.* keys without the prefix) and the words of every
// identifier kind an alert or order carries.
func (l *locale) JSStrings() map[string]any {
	out := map[string]any{}
	words := map[string]map[string]string{}
	for _, m := range uiMessages {
		kind, id, ok := strings.Cut(m.key, ".")
		if !ok || strings.Contains(kind, " ") {
			continue
		}
		if kind == "js" {
			out[id] = l.p.Sprintf(m.key)
			continue
		}
		if words[kind] == nil {
			words[kind] = map[string]string{}
		}
		words[kind][id] = l.p.Sprintf(m.key)
	}
	if l.codes != nil {
		words["problem"] = map[string]string{}
		for _, g := range l.codes.Groups {
			for _, c := range g.Codes {
				words["problem"][c.Code] = l.label(c.Label)
			}
		}
	}
	out["words"] = words
	out["tz"] = l.loc.String()
	out["lang"] = l.Lang
	return out
}

// refRe finds the order and incident ids in a reason's detail.
var refRe = regexp.MustCompile(`\b(WO-[0-9]{8}-[A-Z]{2,3}-[0-9]+|GC-[0-9]{6,8}-[A-Z]{2,3}-[a-z0-9_]+)\b`)

// ReasonDetail renders what a reason's detail holds for a reader: the
// classifier writes it in English for the log and the event, so the page
// keeps only its data in the page's words: the orders and incidents it
// names, the keywords found, and for a reclassification the two classes,
// who and why. "" when nothing is left (the rule's words say it all).
func (l *locale) ReasonDetail(rule, detail string) string {
	switch rule {
	case "reclassified": // "from -> to by actor: reason"
		from, rest, ok1 := strings.Cut(detail, " -> ")
		to, rest, ok2 := strings.Cut(rest, " by ")
		actor, reason, _ := strings.Cut(rest, ": ")
		if ok1 && ok2 {
			out := l.Class(from) + " → " + l.Class(to) + " · " + l.Role(actor)
			if reason != "" {
				out += " · " + reason
			}
			return out
		}
	case "keywords_cancelled":
		if _, words, ok := strings.Cut(detail, "not counted: "); ok {
			return words
		}
	default:
		if _, words, ok := strings.Cut(detail, "keywords in the customer's words: "); ok {
			return words
		}
	}
	return strings.Join(refRe.FindAllString(detail, -1), " ")
}

// HistoryNote renders a history entry's note for a reader. A note the
// daemon wrote (c.NoteKey, workorder/systemnote.go) is said in the page's
// language from its arguments: identifiers in words, ids and numbers as
// they are, the text people or the customer typed as typed. A note people
// wrote, or one whose key or needed arguments this page does not know
// (written by a newer daemon), is shown as stored.
func (l *locale) HistoryNote(c workorder.Change) string {
	a := c.NoteArgs
	has := func(names ...string) bool {
		for _, n := range names {
			if a[n] == "" {
				return false
			}
		}
		return true
	}
	// withText appends free text typed by people, as typed.
	withText := func(s, text string) string {
		if text == "" {
			return s
		}
		return l.T("%s: %s", s, text)
	}
	switch c.NoteKey {
	case workorder.NoteKeyUrge:
		via := l.Channel(a["channel"])
		switch {
		case via == "":
			via = a["hotline"]
		case a["hotline"] != "":
			via = l.T("%s (%s)", via, a["hotline"])
		}
		if !has("urges", "status") || via == "" {
			break
		}
		s := l.T("Urge %s: the customer contacted us again by %s while the order was %s", a["urges"], via, l.Status(a["status"]))
		if a["call"] != "" {
			s = l.T("%s, call %s", s, a["call"])
		}
		return withText(s, a["description"])
	case workorder.NoteKeyEscalated:
		switch {
		case has("tier", "order", "hotline"):
			return l.T("The customer took the problem to the %s tier (%s), new order %s", l.Tier(a["tier"]), a["hotline"], a["order"])
		case has("tier", "order"):
			return l.T("The customer took the problem to the %s tier, new order %s", l.Tier(a["tier"]), a["order"])
		}
	case workorder.NoteKeyPublicOpinion, workorder.NoteKeyEscalationRisk:
		fromUrge, fromStatement := "The urging contact gives a public-opinion reason: %s",
			"The customer's statement recorded by %s gives a public-opinion reason: %s"
		if c.NoteKey == workorder.NoteKeyEscalationRisk {
			fromUrge, fromStatement = "The urging contact gives an escalation-risk reason: %s",
				"The customer's statement recorded by %s gives an escalation-risk reason: %s"
		}
		switch {
		case !has("rule"):
		case a["source"] == workorder.NoteSourceUrge:
			return l.T(fromUrge, l.Rule(a["rule"]))
		case a["source"] == workorder.NoteSourceStatement && has("actor"):
			return l.T(fromStatement, l.Role(a["actor"]), l.Rule(a["rule"]))
		}
	case workorder.NoteKeyGroupMember:
		switch {
		case has("incident", "state"):
			return l.T("Member of group complaint %s (%s)", a["incident"], l.IncidentState(a["state"]))
		case has("incident"):
			return l.T("Member of group complaint %s", a["incident"])
		}
	case workorder.NoteKeyTransferFailed:
		if has("reason") {
			return l.T("Transfer to an agent failed: %s", l.TransferReason(a["reason"]))
		}
	case workorder.NoteKeyAutoArchived:
		return l.T("Archived automatically: the follow-up period ended without a reopen")
	case workorder.NoteKeyFollowup:
		if has("result") {
			return withText(l.T("Follow-up: %s", l.Followup(a["result"])), a["reason"])
		}
	case workorder.NoteKeyFCRTakenBack:
		if has("repeat") {
			return l.T("No longer resolved at the first contact: repeat complaint %s", a["repeat"])
		}
	}
	return c.Note
}

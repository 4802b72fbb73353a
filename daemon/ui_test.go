package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// browser is a headless Chromium driven over the DevTools protocol.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	shot int
}

// newBrowser starts Chromium preferring lang (Accept-Language), as a
// browser set up for that language would.
func newBrowser(t *testing.T, lang string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing (%v): run `make test` (scripts/deps.sh installs the Debian package chromium)", chromiumPath, err)
	}
	// Not t.TempDir: Chromium's helpers may still write to the profile
	// for a moment after the browser exits, failing its strict cleanup.
	profile, err := os.MkdirTemp("", "hotlined-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// HOTLINED_UI_SCREENSHOTS keeps the screenshots somewhere that outlives the test.
	dir := os.Getenv("HOTLINED_UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The first Run starts the browser and ties it to its context: this
	// one, not a per-step timeout.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return &browser{t: t, ctx: ctx, dir: dir}
}

// run performs actions within 20s; on failure it saves a screenshot and
// fails the test with its path.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		path := b.screenshot("failure")
		var loc string
		_ = chromedp.Run(b.ctx, chromedp.Location(&loc))
		b.t.Fatalf("%s: %v (page %s, screenshot %s)", what, err, loc, path)
	}
}

// screenshot saves the page as NN-name.png and returns its path.
func (b *browser) screenshot(name string) string {
	b.shot++
	var buf []byte
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&buf, 100)); err != nil { // quality 100: PNG
		return "(no screenshot: " + err.Error() + ")"
	}
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shot, name))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return "(no screenshot: " + err.Error() + ")"
	}
	b.t.Logf("screenshot %s", path)
	return path
}

// until waits for a JavaScript expression to become truthy, riding out
// navigations (a form post, a reload) in between.
func until(expr string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var last error
		for {
			var ok bool
			err := chromedp.Evaluate("!!("+expr+")", &ok).Do(ctx)
			if err == nil && ok {
				return nil
			}
			if err != nil {
				last = err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w (last error: %v)", expr, ctx.Err(), last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// glyphProbe draws text in the given CSS font on a white overlay, next to
// as many copies of U+10FFFD (a code point no font has: the missing-glyph
// box), screenshots the viewport and compares the two. Tofu draws every
// character as the same box, so the two come out alike; real glyphs come
// out different in width or in pixels. It returns the share of differing
// pixels and the two widths.
func (b *browser) glyphProbe(text, font string) (diff float64, wText, wBox int) {
	b.t.Helper()
	var rects []float64
	b.run("glyph probe", chromedp.Evaluate(fmt.Sprintf(`(function (text, font) {
		var o = document.createElement("div");
		o.id = "glyph-probe";
		o.style.cssText = "position:fixed;left:0;top:0;z-index:99999;background:#fff;color:#000;padding:10px;font:" + font;
		var a = document.createElement("span"), b = document.createElement("span");
		a.textContent = text;
		b.textContent = Array.from(text).map(function () { return "\u{10FFFD}"; }).join("");
		a.style.cssText = b.style.cssText = "display:inline-block;white-space:pre;margin-right:30px";
		o.append(a, b);
		document.body.append(o);
		var ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
		return [ra.x, ra.y, ra.width, ra.height, rb.x, rb.y, rb.width, rb.height];
	})(%q, %q)`, text, font), &rects))
	var buf []byte
	b.run("probe screenshot", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		buf, err = page.CaptureScreenshot().WithFormat(page.CaptureScreenshotFormatPng).Do(ctx)
		return err
	}), chromedp.Evaluate(`document.getElementById("glyph-probe").remove()`, nil))
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("decode screenshot: %v", err)
	}
	ra := image.Rect(int(rects[0]), int(rects[1]), int(rects[0]+rects[2]), int(rects[1]+rects[3]))
	rb := image.Rect(int(rects[4]), int(rects[5]), int(rects[4]+rects[6]), int(rects[5]+rects[7]))
	w, h := min(ra.Dx(), rb.Dx()), min(ra.Dy(), rb.Dy())
	differ := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r1, g1, b1, _ := img.At(ra.Min.X+x, ra.Min.Y+y).RGBA()
			r2, g2, b2, _ := img.At(rb.Min.X+x, rb.Min.Y+y).RGBA()
			if absDiff(r1, r2)+absDiff(g1, g2)+absDiff(b1, b2) > 3*0x2000 {
				differ++
			}
		}
	}
	return float64(differ) / float64(max(w*h, 1)), ra.Dx(), rb.Dx()
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// checkCJK fails the test unless the text of selector is drawn with real
// CJK glyphs (not tofu), in the element's own font.
func (b *browser) checkCJK(selector string) {
	b.t.Helper()
	var text, font string
	b.run("label text", chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).textContent.trim()`, selector), &text),
		chromedp.Evaluate(fmt.Sprintf(`getComputedStyle(document.querySelector(%q)).font`, selector), &font))
	diff, wText, wBox := b.glyphProbe(text, font)
	b.t.Logf("glyphs of %s %q: width %dpx against %dpx of missing-glyph boxes, %.0f%% of pixels differ", selector, text, wText, wBox, 100*diff)
	if diff < 0.05 && absDiff(uint32(wText), uint32(wBox)) <= 2 {
		b.t.Errorf("%s %q is drawn as missing-glyph boxes (tofu): is fonts-noto-cjk installed (make deps)?", selector, text)
	}
}

// text returns the trimmed text content of the first match of selector.
func (b *browser) text(selector string) string {
	b.t.Helper()
	var s string
	b.run("text of "+selector, chromedp.Evaluate(fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent.trim()`, selector), &s))
	return s
}

// seedIncidentAndOrder creates, through the API at base, 20 billing
// complaints in GD this month (a suspected group complaint: rules.yaml
// same_month, a supervisor confirms it) and one network complaint of
// 13900000099, whose id it returns.
func seedIncidentAndOrder(t *testing.T, base string) (single struct{ ID string }) {
	t.Helper()
	for i := range 20 {
		resp := postJSON(t, base+"/v1/workorders", agentToken, fmt.Sprintf(`{"channel":"web","tier":"province","province":"GD",
			"service_number":"139000000%02d","category":"complaint","subcategory":"billing","description":"多收了流量费"}`, i))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create order %d: %d", i, resp.StatusCode)
		}
	}
	resp := postJSON(t, base+"/v1/workorders", agentToken, `{"channel":"web","tier":"province","province":"GD",
		"service_number":"13900000099","category":"complaint","subcategory":"network"}`)
	if err := json.NewDecoder(resp.Body).Decode(&single); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create order: %d %v", resp.StatusCode, err)
	}
	return single
}

func postJSON(t *testing.T, url, token, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Policies for the browser tests: a complaint's registration breaches a
// second after the call (an overdue alert at once); its resolution is
// due in two hours (a countdown with time left).
const browserPolicies = `
defaults:
  warnings: []
  ladder:
    - {level: team_lead, after: 0s}
policies:
  - name: complaint_fast
    match: {classes: [complaint, major_complaint, repeat_complaint, group_complaint]}
    stages:
      - {name: register, within: 1s, ends_on: [accepted, in_progress, resolved]}
      - {name: resolve, within: 2h, ends_on: [resolved]}
  - name: everything_else
    stages:
      - {name: answer, within: 24h, ends_on: [resolved]}
`

func TestBrowserWorkOrderPageAndBoard(t *testing.T) {
	policies := filepath.Join(t.TempDir(), "policies.yaml")
	if err := os.WriteFile(policies, []byte(browserPolicies), 0o644); err != nil {
		t.Fatal(err)
	}
	h := boot(t, func(cfg *configs.Config) { cfg.Escalation.PoliciesFile = policies })
	base := "http://" + h.d.HTTPAddr()
	b := newBrowser(t, "zh-CN") // a Chinese browser gets Chinese pages

	// The board, unauthenticated, sends the browser to the login page, in Chinese.
	b.run("open the board", chromedp.Navigate(base+"/ui/board"), chromedp.WaitVisible("#token", chromedp.ByID))
	var loc string
	b.run("location", chromedp.Location(&loc))
	if !strings.Contains(loc, "/ui/login?next=%2Fui%2Fboard") {
		t.Errorf("unauthenticated board went to %s", loc)
	}
	if got := b.text("h1"); got != "登录" {
		t.Errorf("login page h1 %q, want 登录 (Chinese by default)", got)
	}
	b.screenshot("login-zh")
	b.run("log in",
		chromedp.SendKeys("#token", testToken, chromedp.ByID),
		chromedp.Submit("#token", chromedp.ByID))
	b.run("board after login",
		chromedp.WaitVisible("#board", chromedp.ByID),
		until(`document.getElementById("live").textContent === "实时"`),
		until(`document.querySelector("#groups .empty") !== null`))
	var cookies string
	b.run("document.cookie", chromedp.Evaluate(`document.cookie`, &cookies))
	if strings.Contains(cookies, "hotlined_session") {
		t.Error("the session cookie is readable from JavaScript")
	}

	// A complaint call; its register deadline breaches a second later and
	// the alert appears on the open board without a reload, with the
	// caller masked and the service number.
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678",
		sipmsg.NewHeader("X-IVR-Path", "41"),
		sipmsg.NewHeader("X-Service-Number", "02012345678"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	defer testenv.Hangup(t, sess)
	m := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(kafka.Message) bool { return true })
	var order struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(m.Value, &order); err != nil || order.ID == "" {
		t.Fatalf("work-order event %s: %v", m.Value, err)
	}
	id := order.ID
	row := fmt.Sprintf(`tr.alert a[href="/ui/workorders/%s"]`, id)
	b.run("alert appears live", until(fmt.Sprintf(`document.querySelector(%q) !== null`, row)))
	var alertID string
	b.run("alert id", chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).closest("tr").dataset.alertId`, row), &alertID))
	tr := fmt.Sprintf(`tr[data-alert-id=%q]`, alertID)
	b.run("numbers filled in", until(fmt.Sprintf(`document.querySelector('%s td.caller').textContent === "189****5678"`, tr)))
	if got := b.text(tr + " td.service-number"); got != "02012345678" {
		t.Errorf("alert row service number %q", got)
	}
	if got := b.text(tr); strings.Contains(got, "18912345678") {
		t.Errorf("the board shows the caller unmasked: %q", got)
	}
	// Grouped by level, in words; the deadline in +08:00; overdue, counting live.
	if got := b.text("section.group h3"); got != "超时 · 第1级 · 班组长" {
		t.Errorf("alert group title %q", got)
	}
	if got := b.text(tr + " td.time"); !strings.HasSuffix(got, " +08:00") {
		t.Errorf("alert deadline %q, want a time in +08:00", got)
	}
	cd := tr + " td.countdown"
	first := b.text(cd)
	if !strings.HasPrefix(first, "已超时 ") {
		t.Errorf("countdown %q, want overdue", first)
	}
	b.run("countdown counts", until(fmt.Sprintf(`document.querySelector('%s').classList.contains("overdue") && document.querySelector('%s').textContent.trim() !== %q`, cd, cd, first)))
	// The queue of orders nobody accepted, waiting time counting.
	b.run("queued", until(fmt.Sprintf(`document.querySelector('tr.queued[data-id=%q] td.waiting') !== null && document.querySelector('tr.queued[data-id=%q] td.waiting').textContent.startsWith("已等待")`, id, id)))
	b.run("today's counts", until(`document.querySelector('#by-class tr[data-id="complaint"]') !== null && document.getElementById("kpi-today").textContent !== "0"`))
	if got := b.text(`#by-class tr[data-id="complaint"]`); !strings.HasPrefix(got, "投诉1") {
		t.Errorf("today by class: %q", got)
	}
	if got := b.text(`#by-province tr[data-id="GD"]`); !strings.HasPrefix(got, "广东1") {
		t.Errorf("today by province: %q", got)
	}
	var chartOK bool
	b.run("chart", until(`document.getElementById("hourly").complete && document.getElementById("hourly").naturalWidth > 0`))
	b.run("chart", chromedp.Evaluate(`document.getElementById("hourly").naturalWidth === 760`, &chartOK))
	if !chartOK {
		t.Error("the hourly chart did not load as a 760px SVG")
	}
	resp := get(t, base+"/ui/board/data", testToken)
	var data struct {
		Alerts []struct {
			ID           string `json:"id"`
			CallerMasked string `json:"caller_masked"`
		} `json:"alerts"`
		Queue []struct{ ID string } `json:"queue"`
		Total int                   `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil || data.Total != 1 || len(data.Queue) != 1 || len(data.Alerts) != 1 {
		t.Errorf("board data %+v %v", data, err)
	}
	b.screenshot("board-zh")
	b.checkCJK("#board-title")
	b.checkCJK("section.group h3")
	// The detector itself: Tangut, which no installed font covers, must
	// come out as boxes, or the checks above prove nothing.
	if diff, wText, wBox := b.glyphProbe("𗀀𗀁𗀂𗀃", "20px sans-serif"); diff >= 0.05 || absDiff(uint32(wText), uint32(wBox)) > 2 {
		t.Errorf("the tofu detector takes Tangut (no font) for real glyphs: %.0f%% differ, widths %d/%d", 100*diff, wText, wBox)
	}

	// The board in English.
	b.run("board in English", chromedp.Navigate(base+"/ui/board?lang=en"),
		until(`document.getElementById("live").textContent === "live"`),
		until(fmt.Sprintf(`document.querySelector('%s td.countdown') !== null && document.querySelector('%s td.countdown').textContent.startsWith("overdue by ")`, tr, tr)))
	if got := b.text("#board-title"); got != "Operations board" {
		t.Errorf("English board title %q", got)
	}
	if got := b.text("section.group h3"); got != "Breach · level 1 · Team lead" {
		t.Errorf("English alert group title %q", got)
	}
	var lang string
	b.run("html lang", chromedp.Evaluate(`document.documentElement.lang`, &lang))
	if lang != "en" {
		t.Errorf("html lang %q", lang)
	}
	b.screenshot("board-en")

	// The order page in English (the language is remembered).
	b.run("order page in English", chromedp.Navigate(base+"/ui/workorders/"+id),
		until(`document.getElementById("status").textContent === "New"`),
		until(`document.querySelector("td.countdown.overdue") !== null && document.querySelector("td.countdown.overdue").textContent.startsWith("overdue by ")`))
	text := b.text("main")
	for _, want := range []string{id, "18912345678", "02012345678", "4 → 1", "Complaint", "Register", "Resolve", "Billing", "Guangdong", " left", "+08:00"} {
		if !strings.Contains(text, want) {
			t.Errorf("English work-order page lacks %q:\n%s", want, text)
		}
	}
	b.screenshot("workorder-en")

	// The order page in Chinese: words, not identifiers; a countdown with
	// time left and one overdue, both ticking.
	b.run("order page in Chinese", chromedp.Navigate(base+"/ui/workorders/"+id+"?lang=zh-CN"),
		until(`document.getElementById("status").textContent === "新建待受理"`),
		until(`document.querySelector("td.countdown:not(.overdue)") !== null && document.querySelector("td.countdown:not(.overdue)").textContent.startsWith("剩余 ")`))
	text = b.text("main")
	for _, want := range []string{id, "投诉", "登记", "解决", "计费账单", "广东", "省内", "按语音菜单或渠道所选业务分类", "已超时", "+08:00"} {
		if !strings.Contains(text, want) {
			t.Errorf("Chinese work-order page lacks %q:\n%s", want, text)
		}
	}
	// The transfer target is a SIP URI (data, not an identifier to translate).
	words := strings.Replace(text, b.text("#transfer"), "", 1)
	for _, raw := range []string{"complaint", "register", "base_category", "province", "team_lead", "in_progress"} {
		if strings.Contains(words, raw) {
			t.Errorf("Chinese work-order page shows the identifier %q", raw)
		}
	}
	left := b.text("td.countdown:not(.overdue)")
	b.run("time left counts down", until(fmt.Sprintf(`document.querySelector("td.countdown:not(.overdue)").textContent.trim() !== %q`, left)))
	if got := b.text("#created"); !strings.HasSuffix(got, " +08:00") {
		t.Errorf("created %q, want +08:00", got)
	}
	b.screenshot("workorder-zh")
	b.checkCJK("#status")
	b.checkCJK("#alerts h2")

	// Its alert is acknowledged from the order page.
	b.run("ack from the order page", chromedp.Click(`button[data-ack]`, chromedp.ByQuery),
		until(`document.querySelector("button[data-ack]") === null`))
	resp = get(t, base+"/v1/alerts?state=acked", testToken)
	var acked struct {
		Alerts []struct {
			ID      string `json:"id"`
			AckedBy string `json:"acked_by"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&acked); err != nil {
		t.Fatal(err)
	}
	if len(acked.Alerts) != 1 || acked.Alerts[0].ID != alertID || !strings.HasPrefix(acked.Alerts[0].AckedBy, "supervisor:") {
		t.Errorf("acked alerts %+v, want %s by the supervisor's session", acked.Alerts, alertID)
	}

	// Status changes from the page, recorded with the logged-in role.
	b.run("accept", chromedp.Click(`button[data-status="accepted"]`, chromedp.ByQuery))
	b.run("accepted", until(`document.getElementById("status").dataset.status === "accepted" && document.readyState === "complete" && document.querySelector('button[data-status="resolved"]') !== null && !document.querySelector('button[data-status="accepted"]')`))
	if got := b.text("table.history tbody tr:last-child"); !strings.Contains(got, "状态变更: 新建待受理 → 已受理") || !strings.Contains(got, "+08:00") || !strings.HasPrefix(strings.TrimSpace(strings.SplitN(got, "+08:00", 2)[1]), "主管 ") {
		t.Errorf("history row %q", got)
	}

	// One level key per log line: the alert's level is alert_level.
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if !strings.Contains(line, `"alert raised"`) {
			continue
		}
		if strings.Count(line, `"level":`) != 1 || !strings.Contains(line, `"alert_level":1`) {
			t.Errorf("alert log line: %s", line)
		}
	}
}

// An agent may raise an order's class; lowering is marked for a
// supervisor. A suspected group complaint is confirmed from the board.
func TestBrowserReclassifyAndConfirmIncident(t *testing.T) {
	h := boot(t, nil)
	base := "http://" + h.d.HTTPAddr()
	single := seedIncidentAndOrder(t, base)
	// An English browser; the page's own link switches to Chinese and the
	// choice is kept.
	b := newBrowser(t, "en-US")
	b.run("login page in English", chromedp.Navigate(base+"/ui/login"), until(`document.querySelector("h1").textContent === "Log in"`),
		chromedp.Click(`header .langs a[lang="zh-CN"]`, chromedp.ByQuery), until(`document.querySelector("h1").textContent === "登录"`))

	// The agent raises the class of one of them; lowering it back is for a supervisor.
	b.run("agent logs in", chromedp.Navigate(base+"/ui/login?next=/ui/workorders/"+single.ID),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", agentToken, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("#reclassify", chromedp.ByID))
	var supervisorOnly []string
	b.run("options", chromedp.Evaluate(`Array.from(document.querySelectorAll("#new-class option[data-supervisor-only]")).map(function (o) { return o.value; })`, &supervisorOnly))
	if strings.Join(supervisorOnly, ",") != "query,consultation,fault_report" {
		t.Errorf("options marked supervisor-only for a complaint: %v", supervisorOnly)
	}
	b.run("raise to major",
		chromedp.SetValue("#new-class", "major_complaint", chromedp.ByID),
		chromedp.SendKeys("#class-reason", "客户称将向媒体曝光", chromedp.ByID),
		chromedp.Click("#reclassify-button", chromedp.ByID),
		until(`document.getElementById("class") && document.getElementById("class").textContent === "重大投诉" && document.readyState === "complete"`))
	b.run("after raising", until(`document.querySelectorAll("#new-class option[data-supervisor-only]").length === 6`))
	b.screenshot("workorder-agent-reclassified")
	// Lowering it back is refused to the agent (403), the class stays.
	b.run("agent tries to lower",
		chromedp.SetValue("#new-class", "complaint", chromedp.ByID),
		chromedp.SendKeys("#class-reason", "no media after all", chromedp.ByID),
		chromedp.Click("#reclassify-button", chromedp.ByID),
		until(`!document.getElementById("class-error").hidden && document.getElementById("class-error").textContent.length > 0`))
	if got := b.text("#class"); got != "重大投诉" {
		t.Errorf("class after the refused lowering %q", got)
	}
	resp := get(t, base+"/v1/workorders/"+single.ID, testToken)
	var o struct{ Class string }
	_ = json.NewDecoder(resp.Body).Decode(&o)
	if o.Class != "major_complaint" {
		t.Errorf("class over the API %q after the agent raised it", o.Class)
	}

	// The supervisor confirms the suspected incident from the board.
	b.run("log out", chromedp.Click("form.logout button", chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByID))
	b.run("supervisor logs in", chromedp.Navigate(base+"/ui/login?next=/ui/board"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", testToken, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		until(`document.querySelector("tr.incident") !== null`))
	if got := b.text("tr.incident"); !strings.Contains(got, "广东") || !strings.Contains(got, "计费账单") || !strings.Contains(got, "一个月内20件以上同类问题") {
		t.Errorf("incident row %q", got)
	}
	if got := b.text("#kpi-queue"); got != "21" {
		t.Errorf("queue count %q, want 21", got)
	}
	var rejectShown bool
	b.run("reject", chromedp.Evaluate(`document.querySelector("tr.incident button.reject") !== null`, &rejectShown))
	if !rejectShown {
		t.Error("no reject button for a supervisor")
	}
	b.screenshot("board-incident-zh")
	var incID string
	b.run("incident id", chromedp.Evaluate(`document.querySelector("tr.incident").dataset.incidentId`, &incID))
	b.run("confirm", chromedp.Click("tr.incident button.confirm", chromedp.ByQuery),
		until(`document.querySelector("tr.incident") === null && document.getElementById("kpi-incidents").textContent === "0"`))
	resp = get(t, base+"/v1/incidents/"+incID, testToken)
	var inc struct {
		Verified  bool   `json:"verified"`
		DecidedBy string `json:"decided_by"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&inc)
	if !inc.Verified || !strings.HasPrefix(inc.DecidedBy, "supervisor:") {
		t.Errorf("incident %s after confirm: %+v", incID, inc)
	}
}

// answerDialogs answers every JavaScript dialog (a prompt) of the
// browser's page with text, as a supervisor typing it would.
func (b *browser) answerDialogs(text string) {
	chromedp.ListenTarget(b.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() {
				ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
				defer cancel()
				_ = chromedp.Run(ctx, page.HandleJavaScriptDialog(true).WithPromptText(text))
			}()
		}
	})
}

// An agent works an order from its page: a customer statement with a
// media keyword makes it a major complaint, the problem code comes from
// the table's select, the follow-up is recorded once resolved. A
// supervisor rejects a suspected group complaint from the board (the
// prompt asks why) and sees today's indicators drawn in Chinese.
func TestBrowserOrderActionsRejectAndIndicators(t *testing.T) {
	h := boot(t, nil)
	base := "http://" + h.d.HTTPAddr()
	single := seedIncidentAndOrder(t, base)
	// The customer writes again about it: an urge, its note written by the daemon.
	resp := postJSON(t, base+"/v1/workorders", agentToken, `{"channel":"web","tier":"province","province":"GD",
		"service_number":"13900000099","category":"complaint","subcategory":"network","description":"还是没有信号"}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Hotlined-Outcome") != "urged" {
		t.Fatalf("second contact: %d %s, want an urge", resp.StatusCode, resp.Header.Get("X-Hotlined-Outcome"))
	}
	b := newBrowser(t, "zh-CN")
	b.answerDialogs("不是同一问题：各自套餐不同")
	b.run("agent logs in", chromedp.Navigate(base+"/ui/login?next=/ui/workorders/"+single.ID),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", agentToken, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("#notes", chromedp.ByID))
	if got := b.text("#class"); got != "投诉" {
		t.Fatalf("class before the statement %q", got)
	}
	// The urge's note in Chinese, the customer's words as written.
	if got := b.text(`tr[data-note-key="urge"] td.note`); got != "第1次催办：客户经网厅再次联系（当时状态：新建待受理）：还是没有信号" {
		t.Errorf("urge note on the Chinese page %q", got)
	}
	var kinds []string
	b.run("note kinds", chromedp.Evaluate(`Array.from(document.querySelectorAll("#note-kind option")).map(function (o) { return o.textContent; })`, &kinds))
	if strings.Join(kinds, ",") != "客户陈述,临时答复口径,处理方案" {
		t.Errorf("note kinds %v", kinds)
	}

	// The customer's statement names the media: a major complaint.
	b.run("customer statement",
		chromedp.SetValue("#note-kind", "customer_statement", chromedp.ByID),
		chromedp.SendKeys("#note-text", "客户称如果今天不处理就找媒体曝光", chromedp.ByID),
		chromedp.Click("#note-button", chromedp.ByID),
		until(`document.querySelector("li.note[data-kind=customer_statement]") !== null && document.getElementById("class").textContent === "重大投诉" && document.readyState === "complete"`))
	if got := b.text("li.note"); !strings.Contains(got, "客户陈述") || !strings.Contains(got, "找媒体曝光") || !strings.Contains(got, "+08:00") {
		t.Errorf("note row %q", got)
	}
	if got := b.text(".reasons"); !strings.Contains(got, "舆情风险") {
		t.Errorf("reasons after the statement %q, want the public-opinion rule in words", got)
	}
	// The daemon's note on the class change, in Chinese: who recorded the
	// statement and the rule in words.
	if got := b.text(`tr[data-note-key="public_opinion_reason"] td.note`); !strings.HasPrefix(got, "坐席 ") ||
		!strings.HasSuffix(got, " 记录的客户陈述给出舆情依据：舆情风险（媒体、网络曝光）") {
		t.Errorf("public-opinion note on the Chinese page %q", got)
	}

	// The problem code from the table's select, labels in Chinese.
	var label string
	b.run("problem select", chromedp.Evaluate(`document.querySelector('#problem-select option[value="billing.overcharge"]').textContent`, &label))
	if label != "多收费及重复扣费" {
		t.Errorf("problem option label %q", label)
	}
	b.run("set the problem code",
		chromedp.SetValue("#problem-select", "billing.overcharge", chromedp.ByID),
		chromedp.Click(`#problem button.act`, chromedp.ByQuery),
		until(`document.getElementById("problem-code") && document.getElementById("problem-code").dataset.code === "billing.overcharge" && document.readyState === "complete"`))
	if got := b.text("#problem-code"); got != "多收费及重复扣费" {
		t.Errorf("problem code shown as %q", got)
	}
	if got := b.text("table.history tbody tr:last-child"); !strings.Contains(got, "问题编码") || !strings.Contains(got, "多收费及重复扣费") {
		t.Errorf("history row %q", got)
	}
	resp = get(t, base+"/v1/workorders/"+single.ID, testToken)
	var o struct {
		Class       string `json:"class"`
		ProblemCode string `json:"problem_code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&o)
	if o.Class != "major_complaint" || o.ProblemCode != "billing.overcharge" {
		t.Errorf("order over the API: %+v", o)
	}

	// Accept, resolve, record the follow-up: the indicators count them.
	b.run("accept", chromedp.Click(`button[data-status="accepted"]`, chromedp.ByQuery),
		until(`document.getElementById("status").dataset.status === "accepted" && document.readyState === "complete" && document.querySelector('button[data-status="resolved"]') !== null`))
	b.run("resolve", chromedp.Click(`button[data-status="resolved"]`, chromedp.ByQuery),
		until(`document.getElementById("status").dataset.status === "resolved" && document.readyState === "complete" && document.getElementById("followup-card") !== null`))
	b.run("follow-up",
		chromedp.SetValue("#followup-result", "satisfied", chromedp.ByID),
		chromedp.Click(`#followup-card button.act`, chromedp.ByQuery),
		until(`document.getElementById("followup") !== null && document.getElementById("followup").dataset.result === "satisfied" && document.readyState === "complete"`))
	if got := b.text("#followup"); !strings.HasPrefix(got, "满意") {
		t.Errorf("follow-up shown as %q", got)
	}
	if got := b.text(`table.history tbody tr[data-note-key="followup"] td.note`); got != "回访结果：满意" {
		t.Errorf("follow-up note on the Chinese page %q", got)
	}
	text := b.text("table.history")
	for _, english := range []string{"contact on", "gives a public-opinion reason", "follow-up:", "public_opinion"} {
		if strings.Contains(text, english) {
			t.Errorf("the Chinese history shows %q:\n%s", english, text)
		}
	}
	// Archived is final: no status change, no follow-up offered (the
	// service refuses both).
	var offered int
	b.run("archived controls", chromedp.Evaluate(`document.querySelectorAll("button.status-button, #followup-card").length`, &offered))
	if got := b.text("#status"); got != "已归档" || offered != 0 {
		t.Errorf("archived order page: status %q, %d status or follow-up controls", got, offered)
	}
	b.screenshot("workorder-agent-actions-zh")
	b.checkCJK("#problem-code")
	b.checkCJK(`tr[data-note-key="urge"] td.note`)

	// The same history in English.
	b.run("order page in English", chromedp.Navigate(base+"/ui/workorders/"+single.ID+"?lang=en"),
		until(`document.getElementById("status").textContent === "Archived"`))
	for sel, want := range map[string]string{
		`tr[data-note-key="urge"] td.note`:     "Urge 1: the customer contacted us again by Web while the order was New: 还是没有信号",
		`tr[data-note-key="followup"] td.note`: "Follow-up: Satisfied",
	} {
		if got := b.text(sel); got != want {
			t.Errorf("English page %s: %q, want %q", sel, got, want)
		}
	}
	if got := b.text(`tr[data-note-key="public_opinion_reason"] td.note`); !strings.HasPrefix(got, "The customer's statement recorded by Agent ") ||
		!strings.HasSuffix(got, " gives a public-opinion reason: Public-opinion risk (media, internet)") {
		t.Errorf("public-opinion note on the English page %q", got)
	}
	b.screenshot("workorder-archived-en")
	b.run("back to Chinese", chromedp.Navigate(base+"/ui/workorders/"+single.ID+"?lang=zh-CN"),
		until(`document.getElementById("status").textContent === "已归档"`))

	// The supervisor rejects the suspected incident from the board.
	b.run("log out", chromedp.Click("form.logout button", chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByID))
	b.run("supervisor logs in", chromedp.Navigate(base+"/ui/login?next=/ui/board"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", testToken, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		until(`document.querySelector("tr.incident") !== null`))
	var incID string
	b.run("incident id", chromedp.Evaluate(`document.querySelector("tr.incident").dataset.incidentId`, &incID))
	b.run("indicators chart", until(`document.getElementById("indicators") && document.getElementById("indicators").complete && document.getElementById("indicators").naturalWidth === 760`))
	var svg string
	b.run("chart source", chromedp.Evaluate(`fetch("/ui/board/indicators.svg?lang=zh-CN").then(function (r) { return r.text(); })`, &svg,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	for _, want := range []string{"及时率", "一次解决率", "满意度", `data-name="satisfaction" data-rate="1.0000"`, "100% (1/1)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("indicators chart lacks %q:\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "timeliness.") && !strings.Contains(svg, `data-name="timeliness.`) {
		t.Errorf("indicators chart: %s", svg)
	}
	b.screenshot("board-indicators-zh")
	b.checkCJK("#indicators-card h2")
	b.run("reject", chromedp.Click("tr.incident button.reject", chromedp.ByQuery),
		until(`document.querySelector("tr.incident") === null && document.getElementById("kpi-incidents").textContent === "0"`))
	resp = get(t, base+"/v1/incidents/"+incID, testToken)
	var inc struct {
		State     string `json:"state"`
		DecidedBy string `json:"decided_by"`
		Note      string `json:"note"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&inc)
	if inc.State != "rejected" || !strings.HasPrefix(inc.DecidedBy, "supervisor:") || inc.Note != "不是同一问题：各自套餐不同" {
		t.Errorf("incident %s after reject: %+v", incID, inc)
	}
}

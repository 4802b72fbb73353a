package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func newBrowser(t *testing.T) *browser {
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

func TestBrowserWorkOrderPageAndBoard(t *testing.T) {
	h := boot(t, func(cfg *configs.Config) {
		cfg.Escalation.PoliciesFile = "testdata/policies-fast.yaml" // an alert a second after the call
	})
	base := "http://" + h.d.HTTPAddr()
	b := newBrowser(t)

	// The board, unauthenticated, sends the browser to the login page.
	b.run("open the board", chromedp.Navigate(base+"/ui/board"), chromedp.WaitVisible("#token", chromedp.ByID))
	var loc string
	b.run("location", chromedp.Location(&loc))
	if !strings.Contains(loc, "/ui/login?next=%2Fui%2Fboard") {
		t.Errorf("unauthenticated board went to %s", loc)
	}
	b.screenshot("login")
	b.run("log in",
		chromedp.SendKeys("#token", testToken, chromedp.ByID),
		chromedp.Submit("#token", chromedp.ByID))
	b.run("board after login",
		chromedp.WaitVisible("#board", chromedp.ByID),
		until(`document.getElementById("live").textContent === "live"`),
		until(`document.querySelector("#groups .empty") !== null`))
	var cookies string
	b.run("document.cookie", chromedp.Evaluate(`document.cookie`, &cookies))
	if strings.Contains(cookies, "hotlined_session") {
		t.Error("the session cookie is readable from JavaScript")
	}

	// A complaint call; its register deadline breaches a second later and
	// the alert appears on the open board without a reload.
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
	b.screenshot("board")
	ackBtn := fmt.Sprintf(`tr[data-alert-id=%q] button.ack`, alertID)
	b.run("ack", chromedp.Click(ackBtn, chromedp.ByQuery),
		until(fmt.Sprintf(`document.querySelector('tr[data-alert-id=%q]') === null`, alertID)))
	resp := get(t, base+"/v1/alerts?state=acked", testToken)
	var acked struct {
		Alerts []struct{ ID, AckedBy string } `json:"alerts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&acked); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range acked.Alerts {
		found = found || a.ID == alertID
	}
	if !found {
		t.Errorf("alert %s is not acked after the click: %+v", alertID, acked.Alerts)
	}

	// Search by service number lists the customer's orders, the number
	// travelling in the form body only.
	b.run("search page", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible("#q", chromedp.ByID))
	b.run("search by number", chromedp.SendKeys("#q", "02012345678", chromedp.ByID), chromedp.Submit("#q", chromedp.ByID))
	b.run("search results", until(`document.querySelector("table.results") !== null && document.querySelector("table.results").textContent.includes("`+id+`")`))
	b.run("location", chromedp.Location(&loc))
	if strings.Contains(loc, "02012345678") {
		t.Errorf("a number landed in the URL: %s", loc)
	}
	b.screenshot("search")

	// The softphone's screen pop: the work-order page.
	b.run("open the work order", chromedp.Navigate(base+"/ui/workorders/"+id),
		chromedp.WaitVisible("#status", chromedp.ByID),
		until(`document.getElementById("status").textContent === "new"`),
		until(`document.querySelector("td.countdown").textContent.includes("overdue")`))
	var text string
	b.run("page text", chromedp.Text("main", &text, chromedp.ByQuery))
	for _, want := range []string{id, "18912345678", "02012345678", "4 → 1", "complaint", "register"} {
		if !strings.Contains(text, want) {
			t.Errorf("work-order page lacks %q:\n%s", want, text)
		}
	}
	b.screenshot("workorder")
	b.run("accept", chromedp.Click(`button[data-status="accepted"]`, chromedp.ByQuery))
	b.run("accepted", until(`document.getElementById("status").textContent === "accepted" && document.readyState === "complete" && document.querySelector('button[data-status="resolved"]') !== null && !document.querySelector('button[data-status="accepted"]')`))
	b.run("resolve", chromedp.Click(`button[data-status="resolved"]`, chromedp.ByQuery))
	b.run("resolved", until(`document.getElementById("status").textContent === "resolved" && document.querySelector("table.history").textContent.includes("resolved")`))
	b.screenshot("workorder-resolved")

	resp = get(t, base+"/v1/workorders/"+id, testToken)
	var after struct {
		Status  string
		History []struct{ Actor, To string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&after)
	if after.Status != "resolved" {
		t.Errorf("status over the API = %q, want resolved", after.Status)
	}
	// Changes made from the page are recorded with the logged-in role.
	for _, h := range after.History {
		if !strings.HasPrefix(h.Actor, "supervisor:") || h.Actor == "supervisor:" {
			t.Errorf("history entry to %s has actor %q, want the session's supervisor:<hash>", h.To, h.Actor)
		}
	}
	if len(after.History) != 2 {
		t.Errorf("history %+v, want accepted and resolved", after.History)
	}
}

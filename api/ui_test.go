package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/api"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/workorder"
)

type uiFixture struct {
	h       http.Handler
	changes *fakeChanges
}

func newUIFixture(t *testing.T) *uiFixture {
	t.Helper()
	o := newOrder()
	changes := &fakeChanges{order: o}
	h := api.New(api.Params{
		Orders:  &fakeOrders{orders: map[string]*workorder.Order{knownID: o}},
		Changes: changes,
		Tokens: []configs.Token{
			{Role: "agent", SHA256: configs.HashToken(agentToken)},
			{Role: "supervisor", SHA256: configs.HashToken(supervisorToken)},
			{Role: "system", SHA256: configs.HashToken(systemToken)},
		},
		Gatherer: prometheus.NewRegistry(),
		Logger:   zerolog.Nop(),
	})
	return &uiFixture{h: h, changes: changes}
}

func (f *uiFixture) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *uiFixture) login(t *testing.T, token, next string) *httptest.ResponseRecorder {
	t.Helper()
	form := url.Values{"token": {token}, "next": {next}}
	req := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.serve(req)
}

func sessionOf(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == "hotlined_session" {
			return c
		}
	}
	t.Fatalf("no hotlined_session cookie; status %d, Set-Cookie %q", rec.Code, rec.Header().Values("Set-Cookie"))
	return nil
}

func TestUILoginSetsSessionCookie(t *testing.T) {
	f := newUIFixture(t)
	rec := f.login(t, supervisorToken, "/ui/workorders/"+knownID)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/workorders/"+knownID {
		t.Fatalf("login = %d Location %q, want 303 to the next page", rec.Code, rec.Header().Get("Location"))
	}
	c := sessionOf(t, rec)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v, want HttpOnly, Strict, /, not Secure over plain HTTP",
			c.HttpOnly, c.SameSite, c.Path, c.Secure)
	}
	if c.Value == "" || strings.Contains(c.Value, supervisorToken) || strings.Contains(c.Value, configs.HashToken(supervisorToken)) {
		t.Errorf("cookie value %q must be a signed session, not the token or its hash", c.Value)
	}

	// Over TLS the cookie is Secure.
	form := url.Values{"token": {agentToken}}
	req := httptest.NewRequest(http.MethodPost, "https://hotlined.example/ui/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c := sessionOf(t, f.serve(req)); !c.Secure {
		t.Error("cookie set over TLS is not Secure")
	}
}

func TestUILoginRefusals(t *testing.T) {
	f := newUIFixture(t)
	for _, tok := range []string{"wrong-token", "", systemToken} {
		rec := f.login(t, tok, "/ui/")
		if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("login with %q = %d %s, want a 401 page", tok, rec.Code, rec.Header().Get("Content-Type"))
		}
		if len(rec.Result().Cookies()) != 0 {
			t.Errorf("login with %q set a cookie", tok)
		}
	}
	// A cross-site form post is refused before the token is looked at.
	form := url.Values{"token": {supervisorToken}}
	req := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := f.serve(req); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site login = %d, want 403", rec.Code)
	}
}

func TestUINextMustBeLocal(t *testing.T) {
	f := newUIFixture(t)
	for _, next := range []string{"https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "ui/board", ""} {
		rec := f.login(t, supervisorToken, next)
		if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/ui/" {
			t.Errorf("next=%q: %d Location %q, want 303 to /ui/", next, rec.Code, loc)
		}
	}
	rec := f.serve(httptest.NewRequest(http.MethodGet, "/ui/login?next="+url.QueryEscape("https://evil.example/"), nil))
	if body := rec.Body.String(); strings.Contains(body, "evil.example") {
		t.Errorf("login page carries the foreign next:\n%s", body)
	}
}

func TestUICookieAuthenticatesTheAPI(t *testing.T) {
	f := newUIFixture(t)
	c := sessionOf(t, f.login(t, agentToken, "/ui/"))

	req := httptest.NewRequest(http.MethodGet, "/v1/workorders/"+knownID, nil)
	req.AddCookie(c)
	if rec := f.serve(req); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), knownID) {
		t.Errorf("GET with cookie = %d %s", rec.Code, rec.Body)
	}

	// A forged or tampered cookie is refused.
	bad := *c
	bad.Value = strings.Replace(c.Value, ".", "x.", 1)
	req = httptest.NewRequest(http.MethodGet, "/v1/workorders/"+knownID, nil)
	req.AddCookie(&bad)
	wantError(t, f.serve(req), http.StatusUnauthorized, "Cookie")

	// A POST with the cookie needs the CSRF header.
	post := func(csrf, site string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/workorders/"+knownID+"/status", strings.NewReader(`{"status":"accepted"}`))
		req.AddCookie(c)
		if csrf != "" {
			req.Header.Set("X-Hotlined-CSRF", csrf)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		return f.serve(req)
	}
	wantError(t, post("", ""), http.StatusForbidden, "X-Hotlined-CSRF")
	wantError(t, post("1", "cross-site"), http.StatusForbidden, "Origin")
	if len(f.changes.calls) != 0 {
		t.Fatalf("refused POSTs reached the store: %v", f.changes.calls)
	}
	if rec := post("1", "same-origin"); rec.Code != http.StatusOK {
		t.Errorf("POST with cookie and CSRF header = %d %s", rec.Code, rec.Body)
	}

	// Bearer behaviour is unchanged: a bad bearer is refused even with a good cookie.
	req = httptest.NewRequest(http.MethodGet, "/v1/workorders/"+knownID, nil)
	req.AddCookie(c)
	req.Header.Set("Authorization", "Bearer nope")
	wantError(t, f.serve(req), http.StatusUnauthorized, "Authorization")
}

func TestUIPagesNeedLogin(t *testing.T) {
	f := newUIFixture(t)
	for _, path := range []string{"/ui/", "/ui/board", "/ui/workorders/" + knownID} {
		rec := f.serve(httptest.NewRequest(http.MethodGet, path, nil))
		want := "/ui/login?next=" + url.QueryEscape(path)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
			t.Errorf("GET %s = %d Location %q, want 303 to %s", path, rec.Code, rec.Header().Get("Location"), want)
		}
	}
}

func TestUIPages(t *testing.T) {
	f := newUIFixture(t)
	c := sessionOf(t, f.login(t, supervisorToken, "/ui/"))
	get := func(path string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(c)
		rec := f.serve(req)
		return rec.Code, rec.Body.String()
	}
	code, body := get("/ui/workorders/" + knownID)
	// Chinese by default; an identifier the catalogue lacks reads as words.
	for _, want := range []string{knownID, "18912345678", "02012345678", "repeat fault", `lang="zh-CN"`, "投诉", "新建待受理", `data-status="accepted"`, `data-status="resolved"`, "data-due="} {
		if !strings.Contains(body, want) {
			t.Errorf("work-order page lacks %q", want)
		}
	}
	if code != http.StatusOK || strings.Contains(body, `data-status="archived"`) {
		t.Errorf("work-order page %d offers a transition CanTransition refuses", code)
	}
	if code, _ := get("/ui/workorders/" + unknownID); code != http.StatusNotFound {
		t.Errorf("unknown order page = %d", code)
	}
	if code, body := get("/ui/board"); code != http.StatusOK || !strings.Contains(body, "/ui/static/board.js") {
		t.Errorf("board = %d", code)
	}
	if code, body := get("/ui/static/board.js"); code != http.StatusOK || !strings.Contains(body, "EventSource") {
		t.Errorf("board.js = %d", code)
	}

	// Search posts the query; an id redirects, a number gets the notice.
	search := func(q string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/ui/", strings.NewReader(url.Values{"q": {q}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(c)
		return f.serve(req)
	}
	if rec := search(strings.ToLower(knownID)); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/workorders/"+knownID {
		t.Errorf("search by id = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec := search("02012345678")
	b, _ := io.ReadAll(rec.Body)
	// This fixture has no Lister: a number is answered with a hint, not a redirect.
	if rec.Code != http.StatusOK || !strings.Contains(string(b), "业务号码（数字）") || rec.Header().Get("Location") != "" {
		t.Errorf("search by number = %d %s", rec.Code, b)
	}

	// Logout clears the cookie.
	req := httptest.NewRequest(http.MethodPost, "/ui/logout", nil)
	req.AddCookie(c)
	if rec := f.serve(req); rec.Code != http.StatusSeeOther || sessionOf(t, rec).MaxAge >= 0 {
		t.Errorf("logout = %d", rec.Code)
	}
}

// The history's notes on the order page: the daemon's notes in the page's
// language (not the stored English), people's notes as typed.
func TestUIHistoryNotesInThePagesLanguage(t *testing.T) {
	f := newUIFixture(t)
	o := f.changes.order
	o.Status = configs.StatusInProgress
	o.History = []workorder.Change{
		{Actor: "caller", Action: "urge", Note: "contact on 10000 while in_progress (urge 1), call call-2: 还是没有退款",
			NoteKey: workorder.NoteKeyUrge, NoteArgs: map[string]string{"hotline": "10000", "channel": "hotline",
				"status": "in_progress", "urges": "1", "call": "call-2", "description": "还是没有退款"}},
		{Actor: "classifier", Action: "escalated", To: "group", Note: "the customer took the problem to the group tier (4008810000): WO-20261123-GD-000124",
			NoteKey: workorder.NoteKeyEscalated, NoteArgs: map[string]string{"tier": "group", "hotline": "4008810000", "order": "WO-20261123-GD-000124"}},
		{Actor: "agent:28aec4d4", Action: "status", From: "accepted", To: "in_progress", Note: "已联系计费部门"},
	}
	c := sessionOf(t, f.login(t, agentToken, "/ui/"))
	page := func(query string) string {
		req := httptest.NewRequest(http.MethodGet, "/ui/workorders/"+knownID+query, nil)
		req.AddCookie(c)
		rec := f.serve(req)
		if rec.Code != http.StatusOK {
			t.Fatalf("order page%s = %d", query, rec.Code)
		}
		return rec.Body.String()
	}
	zh := page("")
	for _, want := range []string{
		"第1次催办：客户经热线电话（10000）再次联系（当时状态：处理中），通话 call-2：还是没有退款",
		"客户就此问题越级至集团渠道（4008810000），新工单 WO-20261123-GD-000124",
		"已联系计费部门", `data-note-key="urge"`,
	} {
		if !strings.Contains(zh, want) {
			t.Errorf("Chinese order page lacks %q", want)
		}
	}
	// An action with nothing after it (the urge) reads "催办", not "催办:".
	if !strings.Contains(zh, "<td>催办</td>") {
		t.Error("Chinese order page: the urge row's action is not a bare 催办")
	}
	for _, english := range []string{"contact on 10000", "the customer took the problem", "while the order was"} {
		if strings.Contains(zh, english) {
			t.Errorf("Chinese order page shows the English note %q", english)
		}
	}
	en := page("?lang=en")
	for _, want := range []string{
		"Urge 1: the customer contacted us again by Hotline call (10000) while the order was In progress, call call-2: 还是没有退款",
		"The customer took the problem to the Group tier (4008810000), new order WO-20261123-GD-000124",
		"已联系计费部门",
	} {
		if !strings.Contains(en, want) {
			t.Errorf("English order page lacks %q", want)
		}
	}
	if strings.Contains(en, "催办：") || strings.Contains(en, "越级至") {
		t.Error("English order page shows a Chinese note")
	}
}

// An archived order is final (workorder: no transition out of archived,
// the follow-up only on a resolved order): its page offers no status
// change and no follow-up. The service still accepts a reclassification,
// an invalid mark, a problem code and notes on it, so those stay.
func TestUIArchivedOrderOffersNoStatusChange(t *testing.T) {
	f := newUIFixture(t)
	f.changes.order.Status = configs.StatusArchived
	c := sessionOf(t, f.login(t, supervisorToken, "/ui/"))
	req := httptest.NewRequest(http.MethodGet, "/ui/workorders/"+knownID, nil)
	req.AddCookie(c)
	rec := f.serve(req)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "当前状态“已归档”不能再变更。") {
		t.Fatalf("archived order page %d lacks the no-change hint", rec.Code)
	}
	for _, refused := range []string{`class="status-button"`, `id="followup-card"`, `data-act="followup"`} {
		if strings.Contains(body, refused) {
			t.Errorf("archived order page offers %s, which the service refuses", refused)
		}
	}
}

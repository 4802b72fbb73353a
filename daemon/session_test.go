package daemon_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hotlined/hotlined/configs"
)

// Two daemons on one Redis with the same http.session_key_env: a page
// login on one is valid on the other (behind a load balancer the next
// request may land anywhere). A third daemon without the key refuses it.
func TestPageLoginValidOnEveryDaemon(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef-shared"
	t.Setenv("HOTLINED_TEST_SESSION_KEY", key)
	shared := func(cfg *configs.Config) {
		cfg.HTTP.SessionKeyEnv, cfg.HTTP.SessionKey = "HOTLINED_TEST_SESSION_KEY", key
		cfg.HTTP.PublicURL = "https://hotline.example"
	}
	a := boot(t, shared)
	redisEnv := map[string]string{"HOTLINED_REDIS_ADDR": a.redis.Addr}
	b := bootOn(t, redisEnv, shared)
	other := bootOn(t, redisEnv, nil)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"token": {testToken}, "next": {"/ui/board"}}
	resp, err := noRedirect.Post("http://"+a.d.HTTPAddr()+"/ui/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "hotlined_session" {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("login on a: %d, cookie %v", resp.StatusCode, cookie)
	}
	board := func(h *harness) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+h.d.HTTPAddr()+"/ui/board", nil)
		req.AddCookie(cookie)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := board(b); code != http.StatusOK {
		t.Errorf("the board on b with a's cookie = %d, want 200", code)
	}
	if code := board(other); code != http.StatusSeeOther {
		t.Errorf("the board on a daemon with another key = %d, want 303 to the login", code)
	}
}

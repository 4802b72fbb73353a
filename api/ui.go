package api

// The /ui/ pages: login with a token, the work-order page (the softphone's
// screen-pop target), the supervisor board, and a search form. Plain HTML
// from embedded templates, one stylesheet and a little JavaScript; no CDN.
//
// A login trades the token for a cookie hotlined_session: HMAC-signed
// "role|expiry|who" with Params.SessionKey (the same on every daemon behind
// one load balancer, from http.session_key_env) or, without one, a key
// drawn at process start (a restart logs everyone out); never the token
// itself. s.auth takes the cookie when a
// request carries no Authorization header, so the pages' JavaScript calls
// the JSON API with it; cookie-authenticated unsafe requests must carry
// X-Hotlined-CSRF: 1 and come from the same origin.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotlined/hotlined/workorder"
)

const (
	sessionCookie = "hotlined_session"
	sessionTTL    = 12 * time.Hour // one shift
	csrfHeader    = "X-Hotlined-CSRF"
	maxLoginForm  = 4 << 10
)

//go:embed ui
var uiFiles embed.FS

var (
	// processKey signs the session cookies when no SessionKey is given.
	processKey = func() []byte {
		k := make([]byte, 32)
		_, _ = rand.Read(k) // never fails (crypto/rand)
		return k
	}()
	uiTemplates = template.Must(template.New("").Funcs(template.FuncMap{
		"ivrPath": func(p string) string { return strings.Join(strings.Split(p, ""), " → ") },
		"rfc3339": func(t time.Time) string { return t.Format(time.RFC3339) },
		"mask":    workorder.Mask,
		"has":     func(list []string, v string) bool { return slices.Contains(list, v) },
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).ParseFS(uiFiles, "ui/*.html"))
	crossOrigin = http.NewCrossOriginProtection()
)

type sessionKeyT struct{}

// session is who a cookie speaks for.
type session struct {
	Role    string
	Who     string // role:first 8 hex digits of the token's sha256, as in the logs
	Expires time.Time
}

func (s *server) uiRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFiles, "ui/static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticHeaders(http.FileServerFS(static))))
	mux.HandleFunc("GET /ui/login", s.loginPage)
	mux.HandleFunc("POST /ui/login", s.login)
	mux.HandleFunc("POST /ui/logout", s.logout)
	mux.HandleFunc("GET /ui/{$}", s.page(s.homePage, "agent", "supervisor"))
	mux.HandleFunc("POST /ui/{$}", s.page(s.search, "agent", "supervisor"))
	mux.HandleFunc("GET /ui/workorders/{id}", s.page(s.workOrderPage, "agent", "supervisor"))
	mux.HandleFunc("GET /ui/board", s.page(s.boardPage, "agent", "supervisor"))
	mux.HandleFunc("GET /ui/board/data", s.auth(s.boardData, "agent", "supervisor"))
	mux.HandleFunc("GET /ui/board/hourly.svg", s.page(s.hourlyChart, "agent", "supervisor"))
	if s.p.Indicators != nil {
		mux.HandleFunc("GET /ui/board/indicators.svg", s.page(s.indicatorChart, "supervisor"))
	}
}

func staticHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// hasSession reports whether the request carries a session cookie.
func hasSession(r *http.Request) bool {
	_, err := r.Cookie(sessionCookie)
	return err == nil
}

func (s *server) signSession(ss session) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(ss.Role + "|" + strconv.FormatInt(ss.Expires.Unix(), 10) + "|" + ss.Who))
	m := hmac.New(sha256.New, s.sessionKey)
	m.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// readSession checks the cookie's signature and expiry.
func (s *server) readSession(r *http.Request, now time.Time) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return session{}, false
	}
	m := hmac.New(sha256.New, s.sessionKey)
	m.Write([]byte(payload))
	if !hmac.Equal(got, m.Sum(nil)) {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, false
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return session{}, false
	}
	return session{Role: parts[0], Who: parts[2], Expires: time.Unix(exp, 0)}, true
}

// sessionFrom returns the session s.auth or s.page admitted the request with.
func sessionFrom(r *http.Request) (session, bool) {
	ss, ok := r.Context().Value(sessionKeyT{}).(session)
	return ss, ok
}

// sessionAuth is s.auth for a request with the cookie and no bearer token.
func (s *server) sessionAuth(h http.HandlerFunc, roles []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, ok := s.readSession(r, time.Now())
		if !ok {
			writeError(w, http.StatusUnauthorized, "the session expired or is not valid: log in again at /ui/login", "Cookie")
			return
		}
		if !isSafe(r.Method) {
			if r.Header.Get(csrfHeader) != "1" {
				writeError(w, http.StatusForbidden, "a cookie-authenticated "+r.Method+" needs the header "+csrfHeader+": 1", csrfHeader)
				return
			}
			if err := crossOrigin.Check(r); err != nil {
				writeError(w, http.StatusForbidden, "cross-origin request refused", "Origin")
				return
			}
		}
		if !slices.Contains(roles, ss.Role) {
			writeError(w, http.StatusForbidden, "role "+ss.Role+" may not do this", "")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKeyT{}, ss)))
	}
}

func isSafe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// page admits a page request with a valid session of one of roles; without
// one it sends the browser to the login page, coming back here afterwards.
func (s *server) page(h http.HandlerFunc, roles ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		ss, ok := s.readSession(r, time.Now())
		if !ok {
			next := r.URL.Path
			if r.Method != http.MethodGet {
				next = "/ui/"
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if !isSafe(r.Method) {
			if err := crossOrigin.Check(r); err != nil {
				s.renderError(w, r, http.StatusForbidden, "Refused", "Cross-origin request refused.")
				return
			}
		}
		if !slices.Contains(roles, ss.Role) {
			l := s.locale(r)
			s.render(w, r, http.StatusForbidden, "error.html", map[string]any{"Title": l.T("Not allowed"),
				"Message": l.T("The role %s may not open this page.", l.Role(ss.Role))})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKeyT{}, ss)))
	}
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// render writes the page name with data, adding L, the page's locale
// (i18n.go), and Path, the page's path for the language links. A ?lang=
// choice is remembered in the hotlined_lang cookie for the next pages.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	data["L"] = s.locale(r)
	data["Path"] = r.URL.Path
	if v := r.URL.Query().Get("lang"); v != "" {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: data["L"].(*locale).Lang, Path: "/ui/",
			MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := uiTemplates.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error().Err(err).Str("template", name).Msg("render page")
	}
}

// locale is the request's language (pickLang) with the configured zone.
func (s *server) locale(r *http.Request) *locale {
	return newLocale(pickLang(r), s.p.Location).withCodes(s.p.ProblemCodes)
}

// hasRoute reports whether the API serves method and path, so a page shows
// a control only when its endpoint exists (an optional one, or one another
// change is adding).
func (s *server) hasRoute(method, path string) bool {
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		return false
	}
	_, pattern := s.mux.Handler(req)
	return pattern != ""
}

// localNext returns next when it is a path on this server, else "/ui/".
func localNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/ui/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/ui/"
	}
	return next
}

// renderError writes error.html with a title and message from the catalogue.
func (s *server) renderError(w http.ResponseWriter, r *http.Request, status int, title, msg string, args ...any) {
	l := s.locale(r)
	ss, _ := sessionFrom(r)
	s.render(w, r, status, "error.html", map[string]any{"Title": l.T(title), "Message": l.T(msg, args...), "Session": ss})
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	s.render(w, r, http.StatusOK, "login.html", map[string]any{"Title": s.locale(r).T("Log in"), "Next": localNext(r.URL.Query().Get("next"))})
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	l := s.locale(r)
	if err := crossOrigin.Check(r); err != nil {
		s.renderError(w, r, http.StatusForbidden, "Refused", "Cross-origin request refused.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "login.html", map[string]any{"Title": l.T("Log in"), "Next": "/ui/", "Error": l.T("The form could not be read.")})
		return
	}
	next := localNext(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	role, ok := "", false
	if token != "" {
		role, ok = s.role(token)
	}
	if !ok || (role != "agent" && role != "supervisor") {
		msg := l.T("Unknown token.")
		if ok {
			msg = l.T("The role %s has no pages; use the API.", l.Role(role))
		}
		s.render(w, r, http.StatusUnauthorized, "login.html", map[string]any{"Title": l.T("Log in"), "Next": next, "Error": msg})
		return
	}
	sum := sha256.Sum256([]byte(token))
	ss := session{Role: role, Who: role + ":" + hex.EncodeToString(sum[:4]), Expires: time.Now().Add(sessionTTL)}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.signSession(ss), Path: "/", Expires: ss.Expires, MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	s.log.Info().Str("by", ss.Who).Msg("logged in to the pages")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	if err := crossOrigin.Check(r); err != nil {
		s.renderError(w, r, http.StatusForbidden, "Refused", "Cross-origin request refused.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (s *server) homePage(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionFrom(r)
	s.render(w, r, http.StatusOK, "home.html", map[string]any{"Title": s.locale(r).T("Search"), "Session": ss})
}

// search takes an order id or a service number from a form POST, so a
// number never lands in a URL or an access log.
func (s *server) search(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionFrom(r)
	l := s.locale(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	_ = r.ParseForm()
	q := strings.TrimSpace(r.PostForm.Get("q"))
	data := map[string]any{"Title": l.T("Search"), "Session": ss}
	switch {
	case q == "":
		data["Error"] = l.T("Enter a work-order id or a service number.")
	case workorder.ValidID(strings.ToUpper(q)):
		http.Redirect(w, r, "/ui/workorders/"+url.PathEscape(strings.ToUpper(q)), http.StatusSeeOther)
		return
	case strings.HasPrefix(strings.ToUpper(q), "WO-"):
		data["Error"] = l.T("Not a work-order id like WO-20261123-GD-000123.")
	case s.p.Lister == nil || !digitsRe.MatchString(q):
		data["Error"] = l.T("Enter a work-order id like WO-20261123-GD-000123 or a service number (digits).")
	default:
		orders, err := s.p.Lister.List(r.Context(), q, workorder.Filter{})
		switch {
		case err != nil:
			s.log.Error().Err(err).Msg("search by number")
			data["Error"] = l.T("The search failed; try again.")
		case len(orders) == 0:
			data["Error"] = l.T("No work orders for that number.")
		default:
			data["Orders"] = orders
		}
	}
	s.render(w, r, http.StatusOK, "home.html", data)
}

func (s *server) boardPage(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionFrom(r)
	l := s.locale(r)
	s.render(w, r, http.StatusOK, "board.html", map[string]any{
		"Title": l.T("Operations board"), "Session": ss, "CanAck": ss.Role == "supervisor",
		"HasAlerts": s.p.Alerts.Store != nil, "HasFeed": s.p.Alerts.Feed != nil,
		"CanConfirm": ss.Role == "supervisor" && s.hasRoute(http.MethodPost, "/v1/incidents/GC-20260101-GD-billing/confirm"),
		"CanReject":  ss.Role == "supervisor" && s.hasRoute(http.MethodPost, "/v1/incidents/GC-20260101-GD-billing/reject"),
		"MaxList":    workorder.MaxList,
		// Today's indicators: for supervisors, as GET /v1/indicators.
		"HasIndicators": ss.Role == "supervisor" && s.p.Indicators != nil,
	})
}

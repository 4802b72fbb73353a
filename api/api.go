// Package api is hotlined's HTTP interface: the work-order API for agents,
// supervisors and machines, and the health, readiness and metrics endpoints.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/storage"
	"github.com/hotlined/hotlined/workorder"
)

// Orders reads work orders; *workorder.Service implements it.
type Orders interface {
	Get(ctx context.Context, id string) (*workorder.Order, error)
}

// Check reports whether a dependency is reachable.
type Check func(ctx context.Context) error

// Params configures the handler.
type Params struct {
	Orders   Orders
	Tokens   []configs.Token
	Gatherer prometheus.Gatherer
	// Ready must pass for /readyz to answer 200 (Redis: without it no call
	// can be taken). Degraded is reported but does not fail readiness
	// (Kafka: while it is down, events wait in the outbox).
	Ready    map[string]Check
	Degraded map[string]Check
	// SessionKey signs the pages' session cookies; share it between the
	// daemons behind one load balancer. Empty: a key drawn per process.
	SessionKey []byte
	// Draining, when set and true, makes /readyz answer 503 with
	// {"status": "shutting down"} (the daemon is stopping: send new work
	// elsewhere) without running the checks.
	Draining func() bool
	Logger   zerolog.Logger
	// Alerts serves /v1/alerts and the SSE feed /v1/stream/alerts (alerts.go).
	Alerts AlertParams
	// Changes serves status changes and reclassification (workorders.go).
	Changes Changes
	// Incidents serves the group-complaint incidents (incidents.go).
	Incidents Incidents
	// Lister serves GET /v1/workorders and the pages' search by number.
	Lister Lister
	// Location is the configured time_zone: the pages show every time in
	// it, with its offset (nil: UTC).
	Location *time.Location
	// Indicators serves GET /v1/indicators (indicators.go).
	Indicators Indicators
	// ProblemCodes is the unified complaint code table the API accepts
	// codes from; nil accepts any well-formed code.
	ProblemCodes *configs.ProblemCodes
}

type server struct {
	p          Params
	hashes     [][]byte
	log        zerolog.Logger
	sessionKey []byte
	// mux is the router, asked by the pages which optional endpoints exist.
	mux *http.ServeMux
}

// New returns the HTTP handler.
func New(p Params) http.Handler {
	s := &server{p: p, log: p.Logger.With().Str("component", "api").Logger(), sessionKey: p.SessionKey}
	if len(s.sessionKey) == 0 {
		s.sessionKey = processKey
	}
	for _, t := range p.Tokens {
		h, _ := hex.DecodeString(t.SHA256) // validated by configs
		s.hashes = append(s.hashes, h)
	}
	mux := http.NewServeMux()
	s.mux = mux
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/workorders/{id}", s.auth(s.getWorkOrder, "agent", "supervisor", "system"))
	s.alertRoutes(mux)
	s.workOrderRoutes(mux)
	s.incidentRoutes(mux)
	s.indicatorRoutes(mux)
	s.uiRoutes(mux)
	return jsonMuxErrors(mux)
}

// jsonMuxErrors answers what the mux itself would refuse (404 for an unknown
// path, 405 with Allow for a known path and the wrong method) in JSON.
func jsonMuxErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if probe.status == http.StatusMethodNotAllowed {
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here", "")
			return
		}
		writeError(w, http.StatusNotFound, "no such endpoint", "")
	})
}

// statusProbe records the status and headers a handler would send.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }

// readyz reports each dependency as ok or unreachable. The endpoint needs
// no token, so the error detail (addresses, dial errors) goes to the log only.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.p.Draining != nil && s.p.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	}
	status, body := http.StatusOK, map[string]string{}
	run := func(name string, check Check) error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		err := check(ctx)
		if err != nil {
			s.log.Warn().Err(err).Str("dependency", name).Msg("readiness check failed")
		}
		return err
	}
	for name, check := range s.p.Ready {
		body[name] = "ok"
		if err := run(name, check); err != nil {
			status, body[name] = http.StatusServiceUnavailable, "unreachable"
		}
	}
	for name, check := range s.p.Degraded {
		body[name] = "ok"
		if err := run(name, check); err != nil {
			body[name] = "unreachable (events wait in the outbox)"
		}
	}
	writeJSON(w, status, body)
}

// auth admits a request whose bearer token has one of roles.
func (s *server) auth(h http.HandlerFunc, roles ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && hasSession(r) {
			s.sessionAuth(h, roles)(w, r) // the pages' cookie (ui.go)
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotlined"`)
			writeError(w, http.StatusUnauthorized, "a bearer token is required", "Authorization")
			return
		}
		role, ok := s.role(token)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotlined", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unknown token", "Authorization")
			return
		}
		if !slices.Contains(roles, role) {
			writeError(w, http.StatusForbidden, "role "+role+" may not do this", "")
			return
		}
		h(w, r)
	}
}

// role compares the token's hash with every configured hash in constant time.
func (s *server) role(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	role, found := "", 0
	for i, h := range s.hashes {
		if subtle.ConstantTimeCompare(sum[:], h) == 1 {
			role, found = s.p.Tokens[i].Role, 1
		}
	}
	return role, found == 1
}

func (s *server) getWorkOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !workorder.ValidID(id) {
		writeError(w, http.StatusBadRequest, "not a work order id like WO-20261123-GD-000123", "id")
		return
	}
	o, err := s.p.Orders.Get(r.Context(), id)
	if errors.Is(err, workorder.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no work order "+id, "id")
		return
	}
	if err != nil {
		s.log.Error().Err(err).Str("work_order", id).Msg("get work order")
		writeServerError(w, err, "could not read the work order")
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeServerError answers a request that failed on our side: 503 with
// Retry-After when storage could not serve it (Redis down, a cluster
// missing a master, a timeout: storage.Unavailable), so the client
// retries later, else 500. msg says what could not be done.
func writeServerError(w http.ResponseWriter, err error, msg string) {
	if storage.Unavailable(err) {
		w.Header().Set("Retry-After", strconv.Itoa(storageRetryAfter))
		writeError(w, http.StatusServiceUnavailable, msg+": storage unavailable, retry later", "")
		return
	}
	writeError(w, http.StatusInternalServerError, msg, "")
}

// storageRetryAfter is the Retry-After (s) of a 503 for storage.
const storageRetryAfter = 5

func writeError(w http.ResponseWriter, status int, msg, field string) {
	body := map[string]string{"error": msg}
	if field != "" {
		body["field"] = field
	}
	writeJSON(w, status, body)
}

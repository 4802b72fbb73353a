package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hotlined/hotlined/escalation"
)

// AlertStore lists and acknowledges alerts; *escalation.Store implements it.
type AlertStore interface {
	Alerts(ctx context.Context, state string, limit int) ([]escalation.Alert, error)
	Ack(ctx context.Context, id, by, note string, now time.Time) (*escalation.Alert, error)
}

// AlertFeed subscribes to the live alert feed; *escalation.Feed implements it.
type AlertFeed interface {
	Subscribe(ctx context.Context, lastEventID string) (*escalation.Subscription, error)
}

var (
	_ AlertStore = (*escalation.Store)(nil)
	_ AlertFeed  = (*escalation.Feed)(nil)
)

// AlertParams configures the alert endpoints:
//
//	GET  /v1/alerts?state=open&limit=100  agent, supervisor
//	POST /v1/alerts/{id}/ack              supervisor; body {"note": "..."} optional
//	GET  /v1/stream/alerts                agent, supervisor; Server-Sent Events
type AlertParams struct {
	// Store serves /v1/alerts; nil leaves the alert routes out.
	Store AlertStore
	// Feed serves /v1/stream/alerts; nil leaves it out.
	Feed AlertFeed
	// Heartbeat is how often an idle stream sends a comment line, so
	// proxies keep it open and a dead client is noticed (default 15s).
	Heartbeat time.Duration
	// WriteTimeout bounds each write to a stream; a client that does not
	// read for this long is cut off (default 10s).
	WriteTimeout time.Duration
	Now          func() time.Time
}

const (
	defaultHeartbeat    = 15 * time.Second
	defaultWriteTimeout = 10 * time.Second
	defaultAlertLimit   = 500
	maxAlertLimit       = 5000
	maxAckBody          = 4 << 10
)

var alertIDRe = regexp.MustCompile(`^AL-[A-Za-z0-9_.-]{1,200}$`)

func (s *server) alertRoutes(mux *http.ServeMux) {
	p := &s.p.Alerts
	if p.Heartbeat <= 0 {
		p.Heartbeat = defaultHeartbeat
	}
	if p.WriteTimeout <= 0 {
		p.WriteTimeout = defaultWriteTimeout
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Store != nil {
		mux.HandleFunc("GET /v1/alerts", s.auth(s.listAlerts, "agent", "supervisor"))
		mux.HandleFunc("POST /v1/alerts/{id}/ack", s.auth(s.ackAlert, "supervisor"))
	}
	if p.Feed != nil {
		mux.HandleFunc("GET /v1/stream/alerts", s.auth(s.streamAlerts, "agent", "supervisor"))
	}
}

func (s *server) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "":
		state = escalation.StateOpen
	case escalation.StateOpen, escalation.StateAcked, escalation.StateResolved:
	default:
		writeError(w, http.StatusBadRequest, "state must be open, acked or resolved", "state")
		return
	}
	limit := defaultAlertLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAlertLimit {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to "+strconv.Itoa(maxAlertLimit), "limit")
			return
		}
		limit = n
	}
	alerts, err := s.p.Alerts.Store.Alerts(r.Context(), state, limit)
	if err != nil {
		s.log.Error().Err(err).Str("state", state).Msg("list alerts")
		writeServerError(w, err, "could not read the alerts")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts})
}

func (s *server) ackAlert(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !alertIDRe.MatchString(id) {
		writeError(w, http.StatusBadRequest, "not an alert id like AL-WO-20261123-GD-000123-resolve-breach", "id")
		return
	}
	var body struct {
		Note string `json:"note"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxAckBody+1))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "could not read the body", "")
		return
	case len(data) > maxAckBody:
		writeError(w, http.StatusBadRequest, "body larger than 4 KiB", "")
		return
	case len(strings.TrimSpace(string(data))) > 0:
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "body must be JSON like {\"note\": \"...\"}", "note")
			return
		}
	}
	a, err := s.p.Alerts.Store.Ack(r.Context(), id, s.caller(r), body.Note, s.p.Alerts.Now())
	switch {
	case errors.Is(err, escalation.ErrNotFound):
		writeError(w, http.StatusNotFound, "no alert "+id, "id")
	case errors.Is(err, escalation.ErrAlertResolved):
		writeError(w, http.StatusConflict, "alert "+id+" is resolved", "id")
	case err != nil:
		s.log.Error().Err(err).Str("alert", id).Msg("ack alert")
		writeServerError(w, err, "could not acknowledge the alert")
	default:
		s.log.Info().Str("alert", id).Str("work_order", a.WorkOrderID).Str("by", s.caller(r)).Msg("alert acknowledged")
		writeJSON(w, http.StatusOK, a)
	}
}

// caller names who made an authenticated request without revealing the
// token: its role and the first 8 hex digits of the token's sha256, the
// form kept in the config.
func (s *server) caller(r *http.Request) string {
	if r.Header.Get("Authorization") == "" {
		if ss, ok := sessionFrom(r); ok { // a page's cookie session
			return ss.Who
		}
	}
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	role, _ := s.role(token)
	sum := sha256.Sum256([]byte(token))
	return role + ":" + hex.EncodeToString(sum[:4])
}

// streamAlerts is the supervisor feed: Server-Sent Events, one per alert
// change, each with an id; a client reconnecting with Last-Event-ID gets
// what it missed first. A client too slow to keep up is cut off (it may
// reconnect); an idle stream carries a heartbeat comment.
func (s *server) streamAlerts(w http.ResponseWriter, r *http.Request) {
	p := s.p.Alerts
	sub, err := p.Feed.Subscribe(r.Context(), r.Header.Get("Last-Event-ID"))
	if err != nil {
		s.log.Error().Err(err).Msg("subscribe to the alert feed")
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the alert feed is not available", "")
		return
	}
	defer sub.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(p.WriteTimeout)) // not every writer supports it
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write([]byte(": hotlined alert feed\nretry: 3000\n\n")) != nil {
		return
	}
	var buf []byte
	for {
		ctx, cancel := context.WithTimeout(r.Context(), p.Heartbeat)
		ev, err := sub.Next(ctx)
		cancel()
		switch {
		case err == nil:
			buf = appendEvent(buf[:0], ev)
		case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
			buf = append(buf[:0], ": heartbeat\n\n"...)
		case errors.Is(err, escalation.ErrSlowSubscriber):
			s.log.Warn().Str("by", s.caller(r)).Msg("alert stream client too slow: dropped")
			return
		default:
			return // the client left, or the daemon stops
		}
		if err := write(buf); err != nil {
			s.log.Debug().Err(err).Msg("alert stream write")
			return
		}
	}
}

// appendEvent renders one SSE event; a data line per line of the payload.
func appendEvent(b []byte, ev escalation.FeedEvent) []byte {
	b = append(b, "id: "...)
	b = append(b, ev.ID...)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Type...)
	for _, line := range strings.Split(string(ev.Data), "\n") {
		b = append(b, "\ndata: "...)
		b = append(b, line...)
	}
	return append(b, "\n\n"...)
}

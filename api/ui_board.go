package api

// The supervisors' operations board: its data (GET /ui/board/data, JSON for
// board.js) and today's chart (GET /ui/board/hourly.svg, server-rendered
// SVG). The page itself is board.html; the alert feed keeps it live.

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/workorder"
)

// boardAlert is an open alert with the numbers of its order: the caller
// masked (the board is on a wall), the service number whole (what the
// supervisor acts on).
type boardAlert struct {
	escalation.Alert
	CallerMasked  string `json:"caller_masked"`
	ServiceNumber string `json:"service_number"`
}

// boardOrder is an order waiting in the queue.
type boardOrder struct {
	ID            string    `json:"id"`
	Class         string    `json:"class"`
	Status        string    `json:"status"`
	Province      string    `json:"province"`
	Priority      int       `json:"priority"`
	CreatedAt     time.Time `json:"created_at"`
	CallerMasked  string    `json:"caller_masked"`
	ServiceNumber string    `json:"service_number"`
	Flags         []string  `json:"flags"`
}

// boardIncident is a group-complaint incident not yet confirmed, or an
// open batch incident.
type boardIncident struct {
	ID          string    `json:"id"`
	Rule        string    `json:"rule"`
	State       string    `json:"state"`
	Window      string    `json:"window,omitempty"`
	Period      string    `json:"period,omitempty"`
	Province    string    `json:"province"`
	Subcategory string    `json:"subcategory"`
	ProblemCode string    `json:"problem_code"`
	Members     int       `json:"members"`
	RaisedAt    time.Time `json:"raised_at"`
}

// boardCount is one row of today's counts: an id (class or province) and
// how many of today's orders have it.
type boardCount struct {
	ID string `json:"id"`
	N  int    `json:"n"`
}

// boardSnapshot is GET /ui/board/data.
type boardSnapshot struct {
	Now       time.Time       `json:"now"`
	Day       string          `json:"day"` // today in the configured zone, 2006-01-02
	Alerts    []boardAlert    `json:"alerts"`
	Queue     []boardOrder    `json:"queue"`
	Incidents []boardIncident `json:"incidents"` // suspected group complaints
	Batches   []boardIncident `json:"batches"`   // open batch complaints: listed, nothing to decide
	Total     int             `json:"total"`     // orders created today
	ByClass   []boardCount    `json:"by_class"`
	ByProv    []boardCount    `json:"by_province"`
	// Truncated: a status had more orders than one listing returns
	// (workorder.MaxList), so today's counts may be low.
	Truncated bool `json:"truncated"`
}

// queueStatuses are the orders nobody has accepted yet.
var queueStatuses = []string{configs.StatusNew, configs.StatusReopened}

// ordersByStatus lists the newest orders of every status (at most
// workorder.MaxList each) and says whether any listing was full.
func (s *server) ordersByStatus(ctx context.Context) (map[string][]*workorder.Order, bool, error) {
	out := map[string][]*workorder.Order{}
	full := false
	if s.p.Lister == nil {
		return out, false, nil
	}
	for _, st := range configs.Statuses {
		orders, err := s.p.Lister.List(ctx, "", workorder.Filter{Status: st})
		if err != nil {
			return nil, false, fmt.Errorf("list %s orders: %w", st, err)
		}
		out[st] = orders
		full = full || len(orders) >= workorder.MaxList
	}
	return out, full, nil
}

// startOfDay is midnight of t's day in loc.
func startOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func (s *server) loc() *time.Location {
	if s.p.Location == nil {
		return time.UTC
	}
	return s.p.Location
}

func (s *server) boardData(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.p.Alerts.Now().In(s.loc())
	day := startOfDay(now, s.loc())
	snap := boardSnapshot{Now: now, Day: day.Format(time.DateOnly),
		Alerts: []boardAlert{}, Queue: []boardOrder{}, Incidents: []boardIncident{}, Batches: []boardIncident{},
		ByClass: []boardCount{}, ByProv: []boardCount{}}

	byStatus, full, err := s.ordersByStatus(ctx)
	if err != nil {
		s.log.Error().Err(err).Msg("board data")
		writeServerError(w, err, "could not list the work orders")
		return
	}
	snap.Truncated = full
	known := map[string]*workorder.Order{}
	byClass, byProv := map[string]int{}, map[string]int{}
	for _, orders := range byStatus {
		for _, o := range orders {
			known[o.ID] = o
			if !o.CreatedAt.Before(day) {
				snap.Total++
				byClass[o.Class]++
				byProv[o.Province]++
			}
		}
	}
	snap.ByClass = counts(byClass)
	snap.ByProv = counts(byProv)
	for _, st := range queueStatuses {
		for _, o := range byStatus[st] {
			snap.Queue = append(snap.Queue, boardOrder{ID: o.ID, Class: o.Class, Status: o.Status, Province: o.Province,
				Priority: o.Priority, CreatedAt: o.CreatedAt, CallerMasked: workorder.Mask(o.Caller),
				ServiceNumber: o.ServiceNumber, Flags: o.Flags})
		}
	}
	slices.SortFunc(snap.Queue, func(a, b boardOrder) int { return a.CreatedAt.Compare(b.CreatedAt) }) // oldest first

	if s.p.Alerts.Store != nil {
		open, err := s.p.Alerts.Store.Alerts(ctx, escalation.StateOpen, defaultAlertLimit)
		if err != nil {
			s.log.Error().Err(err).Msg("board data: alerts")
			writeServerError(w, err, "could not read the alerts")
			return
		}
		for _, a := range open {
			o := known[a.WorkOrderID]
			if o == nil && workorder.ValidID(a.WorkOrderID) {
				if o, err = s.p.Orders.Get(ctx, a.WorkOrderID); err == nil {
					known[o.ID] = o
				}
			}
			ba := boardAlert{Alert: a}
			if o != nil {
				ba.CallerMasked, ba.ServiceNumber = workorder.Mask(o.Caller), o.ServiceNumber
			}
			snap.Alerts = append(snap.Alerts, ba)
		}
	}

	if s.p.Incidents != nil {
		var err error
		if snap.Incidents, err = s.boardIncidents(ctx, "suspected"); err == nil {
			snap.Batches, err = s.boardIncidents(ctx, "open")
		}
		if err != nil {
			s.log.Error().Err(err).Msg("board data: incidents")
			writeServerError(w, err, "could not list the incidents")
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, snap)
}

// boardIncidents lists the incidents in state, oldest first.
func (s *server) boardIncidents(ctx context.Context, state string) ([]boardIncident, error) {
	list, err := s.p.Incidents.Incidents(ctx, state)
	if err != nil {
		return nil, fmt.Errorf("list %s incidents: %w", state, err)
	}
	out := make([]boardIncident, 0, len(list))
	for _, inc := range list {
		out = append(out, boardIncident{ID: inc.ID, Rule: inc.Rule, State: inc.State, Window: inc.Window, Period: inc.Period,
			Province: inc.Province, Subcategory: inc.Subcategory, ProblemCode: inc.ProblemCode, Members: len(inc.Members), RaisedAt: inc.RaisedAt})
	}
	slices.SortFunc(out, func(a, b boardIncident) int { return a.RaisedAt.Compare(b.RaisedAt) })
	return out, nil
}

// counts turns a tally into rows, largest first, then by id.
func counts(m map[string]int) []boardCount {
	out := make([]boardCount, 0, len(m))
	for id, n := range m {
		out = append(out, boardCount{id, n})
	}
	slices.SortFunc(out, func(a, b boardCount) int { return cmp.Or(b.N-a.N, strings.Compare(a.ID, b.ID)) })
	return out
}

// classColours: one colour per class in the chart, the board's palette.
var classColours = map[string]string{
	"query": "#8aa4c8", "consultation": "#5b8bd9", "fault_report": "#2a9d8f", "complaint": "#e9a23b",
	"repeat_complaint": "#d9731a", "group_complaint": "#7a2e9e", "major_complaint": "#b42318",
}

// hourlyChart draws today's orders per hour by class as stacked bars:
// 24 hours of the configured zone, the classes in configs.Classes order,
// a legend in the page's language.
func (s *server) hourlyChart(w http.ResponseWriter, r *http.Request) {
	l := s.locale(r)
	now := s.p.Alerts.Now().In(s.loc())
	day := startOfDay(now, s.loc())
	byStatus, _, err := s.ordersByStatus(r.Context())
	if err != nil {
		s.log.Error().Err(err).Msg("board chart")
		http.Error(w, "could not list the work orders", http.StatusInternalServerError)
		return
	}
	var hours [24]map[string]int
	for i := range hours {
		hours[i] = map[string]int{}
	}
	for _, orders := range byStatus {
		for _, o := range orders {
			t := o.CreatedAt.In(s.loc())
			if !t.Before(day) && t.Before(day.AddDate(0, 0, 1)) {
				hours[t.Hour()][o.Class]++
			}
		}
	}
	w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(hourlySVG(l, hours, now.Hour())))
}

// hourlySVG renders the stacked bars; nowHour is marked.
func hourlySVG(l *locale, hours [24]map[string]int, nowHour int) string {
	const (
		width, height       = 760, 250
		left, right, top    = 36, 160, 14
		bottom              = 28
		plotW, plotH, slotW = width - left - right, height - top - bottom, (width - left - right) / 24
	)
	most := 0
	for _, h := range hours {
		n := 0
		for _, v := range h {
			n += v
		}
		most = max(most, n)
	}
	scale := niceCeil(most)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Noto Sans CJK SC, Noto Sans, sans-serif" font-size="11" role="img" aria-label="%s">`,
		width, height, width, height, html.EscapeString(l.T("Orders per hour today, by class")))
	// Grid and y axis.
	for i := 0; i <= 4; i++ {
		v := scale * i / 4
		y := top + plotH - plotH*i/4
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#e2e5ea"/><text x="%d" y="%d" text-anchor="end" fill="#6b7280">%d</text>`,
			left, y, left+plotW, y, left-4, y+4, v)
	}
	for h := 0; h < 24; h++ {
		x := left + h*slotW
		if h == nowHour {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#eef2f8"/>`, x, top, slotW, plotH)
		}
		y := top + plotH
		for _, c := range configs.Classes {
			n := hours[h][c]
			if n == 0 {
				continue
			}
			bh := plotH * n / scale
			y -= bh
			fmt.Fprintf(&b, `<rect class="bar" data-hour="%d" data-class="%s" data-n="%d" x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%02d:00 %s %d</title></rect>`,
				h, c, n, x+2, y, slotW-4, bh, classColours[c], h, html.EscapeString(l.Class(c)), n)
		}
		if h%3 == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#6b7280">%02d</text>`, x+slotW/2, height-10, h)
		}
	}
	// Legend.
	for i, c := range configs.Classes {
		y := top + 6 + i*18
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" fill="#1d2330">%s</text>`,
			left+plotW+14, y, classColours[c], left+plotW+32, y+10, html.EscapeString(l.Class(c)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// niceCeil rounds a bar chart's top up to 4, or a multiple of 4 steps of 1, 2, 5 × 10^k.
func niceCeil(n int) int {
	if n <= 4 {
		return 4
	}
	for step := 1; ; step *= 10 {
		for _, m := range []int{1, 2, 5} {
			if 4*m*step >= n {
				return 4 * m * step
			}
		}
	}
}

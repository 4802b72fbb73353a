package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// drain reads every event waiting in the outbox, in the order written,
// writes each out and removes them (nothing else writes to the outbox
// while the replay runs).
func (r *run) drain(ctx context.Context) error {
	for _, key := range r.outbox.Keys() {
		start, read := "-", false
		for {
			msgs, err := r.rdb.XRangeN(ctx, key, start, "+", 1000).Result()
			if err != nil {
				return fmt.Errorf("read outbox: %w", err)
			}
			for _, m := range msgs {
				e, err := queue.EventFromValues(m.Values)
				if err != nil {
					return fmt.Errorf("read outbox entry %s: %w", m.ID, err)
				}
				if err := r.event(e); err != nil {
					return err
				}
				read = true
			}
			if len(msgs) < 1000 {
				break
			}
			start = "(" + msgs[len(msgs)-1].ID
		}
		if read {
			if err := r.rdb.Del(ctx, key).Err(); err != nil {
				return fmt.Errorf("empty outbox: %w", err)
			}
		}
	}
	return nil
}

// event counts an event in the summary and writes it out.
func (r *run) event(e queue.Event) error {
	name := ""
	if l, ok := r.labelOf[e.Subject]; ok && !e.Time.Before(l.since) {
		name = l.name
	}
	data := e.Data
	switch e.Type {
	case queue.TypeAlertAcked, queue.TypeAlertResolved:
		// Encoded by Lua (cjson), whose key order is the table's: sorted
		// keys make it the same on every Redis.
		var err error
		if data, err = canonical(data); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
	}
	if err := r.sum.add(e, data); err != nil {
		return err
	}
	return r.out.event(e, name, data)
}

// canonical re-encodes JSON with sorted keys, numbers kept as written.
func canonical(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode data: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// summary counts what the events said.
type summary struct {
	contacts, urged, skipped, events int
	orders                           map[string][2]string       // id -> class, status as last seen
	incidents                        map[string]string          // id -> state
	alerts                           map[string]map[string]int  // stage -> level name -> raises
	breaches                         map[string]map[string]bool // stage -> breach alert ids
	// open are the alerts neither acknowledged nor resolved, by order and
	// stage: what an ack line acknowledges.
	open map[[2]string]map[string]bool
}

// add counts one event.
func (s *summary) add(e queue.Event, data []byte) error {
	if s.orders == nil {
		s.orders, s.incidents = map[string][2]string{}, map[string]string{}
		s.alerts, s.breaches = map[string]map[string]int{}, map[string]map[string]bool{}
		s.open = map[[2]string]map[string]bool{}
	}
	s.events++
	switch {
	case strings.HasPrefix(e.Type, "hotline.workorder."):
		head, err := topFields(data, "id", "class", "status")
		if err != nil {
			return fmt.Errorf("event %s: decode work order: %w", e.ID, err)
		}
		// A route's field view may leave class or status out: only what
		// carries both says what the order is.
		if head[0] != nil && head[1] != nil && head[2] != nil {
			s.orders[*head[0]] = [2]string{*head[1], *head[2]}
		}
	case e.Type == queue.TypeIncidentGroupComplaint:
		var inc struct{ ID, State string }
		if err := json.Unmarshal(data, &inc); err != nil {
			return fmt.Errorf("event %s: decode incident: %w", e.ID, err)
		}
		s.incidents[inc.ID] = inc.State
	case strings.HasPrefix(e.Type, "hotline.alert."):
		var a struct {
			ID          string `json:"id"`
			WorkOrderID string `json:"work_order_id"`
			Stage       string `json:"stage"`
			LevelName   string `json:"level_name"`
			Severity    string `json:"severity"`
		}
		if err := json.Unmarshal(data, &a); err != nil {
			return fmt.Errorf("event %s: decode alert: %w", e.ID, err)
		}
		key := [2]string{a.WorkOrderID, a.Stage}
		if e.Type != queue.TypeAlertRaised {
			delete(s.open[key], a.ID)
			if len(s.open[key]) == 0 {
				delete(s.open, key)
			}
			return nil
		}
		if s.open[key] == nil {
			s.open[key] = map[string]bool{}
		}
		s.open[key][a.ID] = true
		if s.alerts[a.Stage] == nil {
			s.alerts[a.Stage] = map[string]int{}
		}
		s.alerts[a.Stage][a.LevelName]++
		if a.Severity == escalation.SeverityBreach {
			if s.breaches[a.Stage] == nil {
				s.breaches[a.Stage] = map[string]bool{}
			}
			s.breaches[a.Stage][a.ID] = true
		}
	}
	return nil
}

// topFields reads the string values of the top-level keys of the JSON
// object data, in the order asked (nil for a key it lacks), and stops
// reading once it has them all: a work order's id, class and status come
// before its history, most of its bytes. Errors: data is not a JSON
// object, or a key asked for holds no string.
func topFields(data []byte, keys ...string) ([]*string, error) {
	out := make([]*string, len(keys))
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("want a JSON object (%v)", err)
	}
	for found := 0; found < len(keys) && dec.More(); {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if i := slices.Index(keys, t.(string)); i >= 0 && out[i] == nil {
			out[i] = new(string)
			if err := dec.Decode(out[i]); err != nil {
				return nil, fmt.Errorf("%s: %w", keys[i], err)
			}
			found++
			continue
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// openAlerts are the ids of the open alerts of an order's stage, sorted.
func (s *summary) openAlerts(order, stage string) []string {
	return slices.Sorted(maps.Keys(s.open[[2]string{order, stage}]))
}

// Report is the summary line of a replay.
type Report struct {
	Contacts int `json:"contacts"`
	// Urged counts contacts that urged an open complaint (no new order).
	Urged            int                       `json:"urged"`
	Orders           int                       `json:"orders"`
	OrdersByClass    map[string]int            `json:"orders_by_class"`
	OrdersByStatus   map[string]int            `json:"orders_by_status"`
	IncidentsByState map[string]int            `json:"incidents_by_state"`
	Alerts           map[string]map[string]int `json:"alerts_by_stage_and_level"`
	// Breaches counts the breach alerts (each stage run that passed its
	// deadline once, however far its ladder climbed), by stage.
	Breaches map[string]int `json:"breaches_by_stage"`
	Events   int            `json:"events"`
	Skipped  int            `json:"skipped_lines"`
}

func (s *summary) report() Report {
	rep := Report{Contacts: s.contacts, Urged: s.urged, Orders: len(s.orders), OrdersByClass: map[string]int{},
		OrdersByStatus: map[string]int{}, IncidentsByState: map[string]int{}, Alerts: map[string]map[string]int{},
		Breaches: map[string]int{}, Events: s.events, Skipped: s.skipped}
	for _, o := range s.orders {
		rep.OrdersByClass[o[0]]++
		rep.OrdersByStatus[o[1]]++
	}
	for _, st := range s.incidents {
		rep.IncidentsByState[st]++
	}
	maps.Copy(rep.Alerts, s.alerts)
	for stage, ids := range s.breaches {
		rep.Breaches[stage] = len(ids)
	}
	return rep
}

// writer renders the output in one format.
type writer interface {
	event(e queue.Event, label string, data []byte) error
	skipped(at time.Time, line int, why string) error
	final(label string, o *workorder.Order) error
	summary(rep Report) error
}

func newWriter(format string, out io.Writer, loc *time.Location) (writer, error) {
	switch format {
	case "", "json":
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return &jsonWriter{out: out, enc: enc, loc: loc}, nil
	case "table":
		return &tableWriter{out: bufio.NewWriter(out), loc: loc}, nil
	case "summary":
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return summaryWriter{&jsonWriter{out: out, enc: enc, loc: loc}}, nil
	}
	return nil, fmt.Errorf("replay: format %q: want json, table or summary", format)
}

// summaryWriter writes what json does without the events and the final
// orders: the skipped lines and the summary, to compare two rule files
// over a month without a gigabyte of events.
type summaryWriter struct{ *jsonWriter }

func (summaryWriter) event(queue.Event, string, []byte) error { return nil }
func (summaryWriter) final(string, *workorder.Order) error    { return nil }

// jsonWriter writes JSON Lines: one per event, per skipped line, per
// label's final order, and the summary last.
type jsonWriter struct {
	out io.Writer
	enc *json.Encoder
	loc *time.Location
	buf bytes.Buffer
}

// eventHead is an event line without its data, which follows as written:
// JSON that Go encoded, or made canonical (see event).
type eventHead struct {
	At      string   `json:"at"`
	Type    string   `json:"type"`
	Subject string   `json:"subject"`
	Label   string   `json:"label,omitempty"`
	ID      string   `json:"id"`
	Topics  []string `json:"topics"`
}

func (w *jsonWriter) event(e queue.Event, label string, data []byte) error {
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(eventHead{At: e.Time.In(w.loc).Format(time.RFC3339Nano), Type: e.Type, Subject: e.Subject,
		Label: label, ID: e.ID, Topics: e.Topics}); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	line := bytes.TrimSuffix(w.buf.Bytes(), []byte("}\n"))
	line = append(append(append(line, `,"data":`...), data...), "}\n"...)
	_, err := w.out.Write(line)
	return err
}

func (w *jsonWriter) skipped(at time.Time, line int, why string) error {
	return w.enc.Encode(struct {
		At      string `json:"at"`
		Line    int    `json:"line"`
		Skipped string `json:"skipped"`
	}{at.In(w.loc).Format(time.RFC3339Nano), line, why})
}

func (w *jsonWriter) final(label string, o *workorder.Order) error {
	return w.enc.Encode(struct {
		Label string           `json:"label"`
		Final *workorder.Order `json:"final"`
	}{label, o})
}

func (w *jsonWriter) summary(rep Report) error {
	return w.enc.Encode(struct {
		Summary Report `json:"summary"`
	}{rep})
}

// tableWriter writes aligned columns for people: the events, the final
// orders, then the summary in words.
type tableWriter struct {
	out    *bufio.Writer
	loc    *time.Location
	tw     *tabwriter.Writer
	header string
}

const tableTime = "2006-01-02 15:04:05"

// section starts a table with header unless it is the current one.
func (w *tableWriter) section(header string) {
	if w.header == header {
		return
	}
	w.end()
	w.tw = tabwriter.NewWriter(w.out, 0, 0, 2, ' ', 0)
	w.header = header
	fmt.Fprintln(w.tw, header)
}

func (w *tableWriter) end() {
	if w.tw != nil {
		_ = w.tw.Flush()
		fmt.Fprintln(w.out)
		w.tw, w.header = nil, ""
	}
}

func (w *tableWriter) event(e queue.Event, label string, data []byte) error {
	w.section("AT\tEVENT\tSUBJECT\tLABEL\tDETAIL")
	var d map[string]any
	_ = json.Unmarshal(data, &d) // written by us: valid JSON
	detail := ""
	switch {
	case strings.HasPrefix(e.Type, "hotline.workorder."):
		detail = fmt.Sprintf("%v %v p%v", d["class"], d["status"], d["priority"])
		if f, ok := d["flags"].([]any); ok && len(f) > 0 {
			detail += fmt.Sprintf(" %v", f)
		}
	case e.Type == queue.TypeIncidentGroupComplaint:
		m, _ := d["members"].([]any)
		detail = fmt.Sprintf("%v %v, %d members", d["state"], d["window"], len(m))
	default:
		detail = fmt.Sprintf("%v %v %v", d["stage"], d["severity"], d["level_name"])
	}
	_, err := fmt.Fprintf(w.tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.In(w.loc).Format(tableTime),
		strings.TrimPrefix(e.Type, "hotline."), e.Subject, label, detail)
	return err
}

func (w *tableWriter) skipped(at time.Time, line int, why string) error {
	w.section("AT\tEVENT\tSUBJECT\tLABEL\tDETAIL")
	_, err := fmt.Fprintf(w.tw, "%s\tskipped line %d\t\t\t%s\n", at.In(w.loc).Format(tableTime), line, why)
	return err
}

func (w *tableWriter) final(label string, o *workorder.Order) error {
	w.section("LABEL\tORDER\tCLASS\tSTATUS\tPRIORITY\tURGES\tFLAGS")
	_, err := fmt.Fprintf(w.tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", label, o.ID, o.Class, o.Status, o.Priority, o.Urges,
		strings.Join(o.Flags, ","))
	return err
}

func (w *tableWriter) summary(rep Report) error {
	w.end()
	counts := func(m map[string]int) string {
		if len(m) == 0 {
			return "none"
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(w.out, "contacts: %d (%d urged an open complaint)\n", rep.Contacts, rep.Urged)
	fmt.Fprintf(w.out, "orders: %d; by class: %s\n", rep.Orders, counts(rep.OrdersByClass))
	fmt.Fprintf(w.out, "orders by status: %s\n", counts(rep.OrdersByStatus))
	fmt.Fprintf(w.out, "incidents by state: %s\n", counts(rep.IncidentsByState))
	fmt.Fprintln(w.out, "alerts raised by stage and level:")
	if len(rep.Alerts) == 0 {
		fmt.Fprintln(w.out, "  none")
	}
	for _, stage := range slices.Sorted(maps.Keys(rep.Alerts)) {
		fmt.Fprintf(w.out, "  %s: %s\n", stage, counts(rep.Alerts[stage]))
	}
	fmt.Fprintf(w.out, "breaches by stage: %s\n", counts(rep.Breaches))
	fmt.Fprintf(w.out, "events: %d; skipped lines: %d\n", rep.Events, rep.Skipped)
	return w.out.Flush()
}

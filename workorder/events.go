package workorder

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotlined/hotlined/queue"
)

// events are the CloudEvents of typ for o: one per set of fields the
// matching routes allow (DESIGN "Routing defaults": a route may name
// fields, so a consumer such as netops receives only what it needs; the
// id is always kept), each to the topics of those routes, all with one
// ce_id. The first carries the whole order to the routes without an
// allow-list. Error when no route matches.
func (s *Service) events(typ string, o *Order, now time.Time) ([]queue.Event, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode work order: %w", err)
	}
	targets := s.router.Targets(queue.Attrs{Tier: o.Tier, Class: o.Class, Category: o.Category,
		Subcategory: o.Subcategory, Province: o.Province, Flags: o.Flags})
	if len(targets) == 0 {
		return nil, fmt.Errorf("work order %s: no kafka route matches tier %s class %s", o.ID, o.Tier, o.Class)
	}
	id := s.eventID()
	var out []queue.Event
	byFields := map[string]int{} // the fields' key -> index in out
	for _, t := range targets {
		k := strings.Join(t.Fields, ",")
		if i, ok := byFields[k]; ok {
			out[i].Topics = append(out[i].Topics, t.Topic)
			continue
		}
		body := data
		if len(t.Fields) > 0 {
			if body, err = only(data, t.Fields); err != nil {
				return nil, err
			}
		}
		byFields[k] = len(out)
		out = append(out, queue.Event{ID: id, Type: typ, Source: s.source, Subject: o.ID, Time: now,
			Key: o.Key(), Topics: []string{t.Topic}, Data: body})
	}
	return out, nil
}

// only keeps the top-level keys of the JSON object data that fields name,
// and id.
func only(data []byte, fields []string) ([]byte, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("filter work order fields: %w", err)
	}
	for k := range all {
		if k != "id" && !slices.Contains(fields, k) {
			delete(all, k)
		}
	}
	return json.Marshal(all)
}

// topicsOf lists the events' topics, for logs.
func topicsOf(evs []queue.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Topics...)
	}
	return out
}

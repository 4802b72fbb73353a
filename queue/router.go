package queue

import (
	"slices"
	"strings"

	"github.com/hotlined/hotlined/configs"
)

// Attrs are the work-order attributes routing rules match on.
type Attrs struct {
	Tier, Class, Category, Subcategory, Province string
	// Flags are the order's flags; a route with flags matches an order
	// that has any of them.
	Flags []string
}

// Router turns work-order attributes into topics, from config rules.
type Router struct {
	routes []configs.Route
}

// NewRouter uses the routes in order; an event goes to the union of the
// topics of every matching route.
func NewRouter(routes []configs.Route) *Router { return &Router{routes: routes} }

// Topics returns the topics for a, without duplicates, in rule order.
func (r *Router) Topics(a Attrs) []string {
	var out []string
	for _, t := range r.Targets(a) {
		out = append(out, t.Topic)
	}
	return out
}

// Target is a topic and the fields of a work order its route allows (nil:
// all of them).
type Target struct {
	Topic  string
	Fields []string
}

// Targets returns the topics for a, each once, in rule order, with the
// allow-list of the first route that named it.
func (r *Router) Targets(a Attrs) []Target {
	var out []Target
	for _, rt := range r.routes {
		m := rt.Match
		if !matches(m.Tier, a.Tier) || !matches(m.Class, a.Class) ||
			!matches(m.Category, a.Category) || !matches(m.Subcategory, a.Subcategory) ||
			len(m.Flags) > 0 && !slices.ContainsFunc(m.Flags, func(f string) bool { return slices.Contains(a.Flags, f) }) {
			continue
		}
		for _, t := range rt.Topics {
			t = strings.ReplaceAll(t, "{province}", a.Province)
			if !slices.ContainsFunc(out, func(x Target) bool { return x.Topic == t }) {
				out = append(out, Target{Topic: t, Fields: rt.Fields})
			}
		}
	}
	return out
}

func matches(allowed []string, v string) bool {
	return len(allowed) == 0 || slices.Contains(allowed, v)
}

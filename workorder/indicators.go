package workorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/queue"
)

// Indicators (DOMAIN.md "Follow-up, satisfaction and indicators", 003
// §2.3.1; the definitions are ours): counters per province and day in the
// operator's time zone, one Redis hash per province and day
// (PREFIX:{ind:PROVINCE}:YYYYMMDD), counted when the event happens:
//
//	complaints                 valid complaint-class orders created that day
//	repeat, appeal             of them, repeat complaints; appeal-tier orders
//	archived                   complaints archived that day
//	fcr                        of them, resolved in the first contact: no urge,
//	                           never reopened (taken back when a repeat of it
//	                           comes within the window)
//	stage.NAME.met|breached    stages ended that day within or past their deadline
//	followup.RESULT            follow-up results recorded that day
//
// A counter is written after the order's own transaction (another hash
// slot): a crash between the two loses one count, never an order.

// Indicator counter names.
const (
	indComplaints = "complaints"
	indRepeat     = "repeat"
	indAppeal     = "appeal"
	indArchived   = "archived"
	indFCR        = "fcr"
)

func (s *Store) indicatorKey(province string, day time.Time) string {
	return fmt.Sprintf("%s:{ind:%s}:%s", s.prefix, province, day.Format("20060102"))
}

func (s *Store) indicatorProvincesKey() string { return s.prefix + ":{ind}:provinces" }

// indicatorKeep is how long a day's counters are kept.
const indicatorKeep = 400 * 24 * time.Hour

// count adds deltas to the province's counters of day.
func (s *Store) count(ctx context.Context, province string, day time.Time, deltas map[string]int64) error {
	if len(deltas) == 0 || !configs.ValidProvince(province) {
		return nil
	}
	k := s.indicatorKey(province, day)
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for f, d := range deltas {
			pipe.HIncrBy(ctx, k, f, d)
		}
		pipe.Expire(ctx, k, indicatorKeep)
		pipe.SAdd(ctx, s.indicatorProvincesKey(), province)
		return nil
	})
	if err != nil {
		return fmt.Errorf("count indicators: %w", err)
	}
	return nil
}

// counts records deltas for o's province on day, logging a failure (the
// order is stored; the count is best effort).
func (s *Service) counts(ctx context.Context, o *Order, day time.Time, deltas map[string]int64) {
	if err := s.store.count(ctx, o.Province, day.In(s.loc), deltas); err != nil {
		s.log.Warn().Err(err).Str("work_order", o.ID).Msg("indicators not counted")
	}
}

// countedComplaint reports whether o counts as a complaint in the
// indicators: a valid order of a complaint class.
func countedComplaint(o *Order) bool {
	return o.Valid && slices.Contains(configs.ComplaintClasses, o.Class)
}

// creationCounts are the counters an order adds (sign 1) or takes back
// (-1) on its creation day.
func creationCounts(o *Order, sign int64) map[string]int64 {
	if !countedComplaint(o) {
		return nil
	}
	m := map[string]int64{indComplaints: sign}
	if o.Class == configs.ClassRepeatComplaint {
		m[indRepeat] = sign
	}
	if o.Tier == configs.TierAppeal {
		m[indAppeal] = sign
	}
	return m
}

// stageCounts are the timeliness counters of the stages a status change
// ended: met when it ended by its deadline.
func stageCounts(before, after map[string]time.Time, now time.Time) map[string]int64 {
	m := map[string]int64{}
	for name, due := range before {
		if _, still := after[name]; still {
			continue
		}
		if now.After(due) {
			m["stage."+name+".breached"]++
		} else {
			m["stage."+name+".met"]++
		}
	}
	return m
}

// firstContactResolved: archived without the customer contacting again
// (no urge) and never reopened.
func firstContactResolved(o *Order) bool {
	if o.Urges > 0 {
		return false
	}
	for _, c := range o.History {
		if c.Action == "status" && c.To == configs.StatusReopened {
			return false
		}
	}
	return true
}

// takeBackFCR un-counts the first-contact resolution of the archived order
// a repeat complaint relates to (the problem came back within the window),
// once: the order says so in its history (NoteKeyFCRTakenBack) and with a
// hotline.workorder.updated event, so consumers holding the order see its
// first_contact_resolved go false.
func (s *Service) takeBackFCR(ctx context.Context, repeat *Order) {
	for _, id := range repeat.Related {
		var day time.Time
		prev, err := s.store.Update(ctx, id, "fcr-taken-back:"+id, func(o *Order) (Mutation, error) {
			if !o.FirstContactResolved {
				return Mutation{}, errNoChange
			}
			day = closedAt(o) // before the history grows: the day it was closed
			now := s.now().In(s.loc)
			o.FirstContactResolved = false
			o.UpdatedAt = now
			o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "fcr_taken_back"}.
				with(fcrTakenBackNote(repeat.ID)))
			evs, err := s.events(queue.TypeWorkOrderUpdated, o, now)
			if err != nil {
				return Mutation{}, err
			}
			return Mutation{Events: evs}, nil
		})
		switch {
		case err == nil:
			s.counts(ctx, prev, day, map[string]int64{indFCR: -1})
		case !errors.Is(err, errNoChange) && !errors.Is(err, ErrUnchanged):
			s.log.Warn().Err(err).Str("work_order", id).Str("repeat", repeat.ID).
				Msg("first-contact resolution not taken back: the earlier order still counts it")
		}
	}
}

// IndicatorDay is one province's indicators of one day: the counters and
// the rates made of them (NaN-free: a rate with nothing to divide is
// absent).
type IndicatorDay struct {
	Province string             `json:"province"`
	Date     string             `json:"date"` // YYYY-MM-DD in the operator's time zone
	Counts   map[string]int64   `json:"counts"`
	Rates    map[string]float64 `json:"rates"`
}

// Rates computed from the counters (0 to 1).
func rates(c map[string]int64) map[string]float64 {
	r := map[string]float64{}
	div := func(name string, a, b int64) {
		if b > 0 {
			r[name] = float64(a) / float64(b)
		}
	}
	div("first_contact_resolution", c[indFCR], c[indArchived])
	div("repeat_rate", c[indRepeat], c[indComplaints])
	div("appeal_rate", c[indAppeal], c[indComplaints])
	sat := c["followup."+FollowupSatisfied] + c["followup."+FollowupBasicallySatisfied]
	div("satisfaction", sat, sat+c["followup."+FollowupUnsatisfied])
	stages := map[string]bool{}
	for k := range c {
		if name, ok := strings.CutPrefix(k, "stage."); ok {
			if i := strings.LastIndexByte(name, '.'); i > 0 {
				stages[name[:i]] = true
			}
		}
	}
	for st := range stages {
		met := c["stage."+st+".met"]
		div("timeliness."+st, met, met+c["stage."+st+".breached"])
	}
	return r
}

// MaxIndicatorDays caps one query.
const MaxIndicatorDays = 366

// ErrBadRange: the query's dates are not from <= to within MaxIndicatorDays.
var ErrBadRange = fmt.Errorf("from and to must be dates (YYYY-MM-DD), from <= to, at most %d days", MaxIndicatorDays)

// Indicators returns the indicators of province (every province counted
// when empty) for each day from..to (YYYY-MM-DD, inclusive, operator's
// zone), days with no counts left out, plus one row per province with
// Date "total" summing the range. ErrBadRange, ErrBadProvince.
func (s *Service) Indicators(ctx context.Context, province, from, to string) ([]IndicatorDay, error) {
	f, err1 := time.ParseInLocation(time.DateOnly, from, s.loc)
	t, err2 := time.ParseInLocation(time.DateOnly, to, s.loc)
	if err1 != nil || err2 != nil || t.Before(f) || t.Sub(f) > MaxIndicatorDays*24*time.Hour {
		return nil, ErrBadRange
	}
	provinces := []string{province}
	if province == "" {
		ps, err := s.store.rdb.SMembers(ctx, s.store.indicatorProvincesKey()).Result()
		if err != nil {
			return nil, fmt.Errorf("indicator provinces: %w", err)
		}
		slices.Sort(ps)
		provinces = ps
	} else if !configs.ValidProvince(province) {
		return nil, ErrBadProvince
	}
	type cell struct {
		province string
		day      time.Time
		cmd      *redis.MapStringStringCmd
	}
	var cells []cell
	_, err := s.store.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, p := range provinces {
			for d := f; !d.After(t); d = d.AddDate(0, 0, 1) {
				cells = append(cells, cell{p, d, pipe.HGetAll(ctx, s.store.indicatorKey(p, d))})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read indicators: %w", err)
	}
	out := []IndicatorDay{}
	totals := map[string]map[string]int64{}
	for _, c := range cells {
		raw := c.cmd.Val()
		if len(raw) == 0 {
			continue
		}
		counts := map[string]int64{}
		if totals[c.province] == nil {
			totals[c.province] = map[string]int64{}
		}
		for k, v := range raw {
			n, _ := strconv.ParseInt(v, 10, 64)
			counts[k] = n
			totals[c.province][k] += n
		}
		out = append(out, IndicatorDay{Province: c.province, Date: c.day.Format(time.DateOnly), Counts: counts, Rates: rates(counts)})
	}
	for _, p := range provinces {
		if tot := totals[p]; tot != nil {
			out = append(out, IndicatorDay{Province: p, Date: "total", Counts: tot, Rates: rates(tot)})
		}
	}
	return out, nil
}

// IndicatorsCollector exports today's indicators as Prometheus gauges,
// read from Redis at scrape time (2 s at most):
// hotlined_indicator_count{province,name} and
// hotlined_indicator_rate{province,name}.
type IndicatorsCollector struct {
	svc          *Service
	count, ratio *prometheus.Desc
}

// NewIndicatorsCollector returns the collector of svc's indicators.
func NewIndicatorsCollector(svc *Service) *IndicatorsCollector {
	return &IndicatorsCollector{svc: svc,
		count: prometheus.NewDesc("hotlined_indicator_count", "Today's indicator counters per province (operator's time zone).",
			[]string{"province", "name"}, nil),
		ratio: prometheus.NewDesc("hotlined_indicator_rate", "Today's indicator rates per province, 0 to 1.",
			[]string{"province", "name"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *IndicatorsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.count; ch <- c.ratio }

// Collect implements prometheus.Collector.
func (c *IndicatorsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	today := c.svc.now().In(c.svc.loc).Format(time.DateOnly)
	days, err := c.svc.Indicators(ctx, "", today, today)
	if err != nil {
		c.svc.log.Warn().Err(err).Msg("indicators for the metrics")
		return
	}
	for _, d := range days {
		if d.Date == "total" {
			continue
		}
		for k, v := range d.Counts {
			ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(v), d.Province, k)
		}
		for k, v := range d.Rates {
			ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, v, d.Province, k)
		}
	}
}

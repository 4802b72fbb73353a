package api

// Today's indicators on the board (GET /ui/board/indicators.svg): the
// rates of DOMAIN's "Follow-up, satisfaction and indicators" summed over
// every province from the service's counters (Params.Indicators), drawn
// as server-rendered SVG like the hourly chart. Supervisors only, as
// GET /v1/indicators; without Params.Indicators the route and the board's
// card are left out.

import (
	"fmt"
	"html"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hotlined/hotlined/workorder"
)

// indicatorBar is one rate of the chart: met of all, or no data (All 0).
type indicatorBar struct {
	Name  string // timeliness.<stage>, first_contact_resolution, satisfaction
	Label string
	Met   int64
	All   int64
}

// todayBars sums the counters of rows dated day (every province) and
// turns them into the chart's bars: timeliness per stage (by stage name),
// first-contact resolution (fcr of archived), satisfaction (satisfied and
// basically satisfied of every follow-up result).
func todayBars(l *locale, rows []workorder.IndicatorDay, day string) []indicatorBar {
	c := map[string]int64{}
	for _, r := range rows {
		if r.Date != day {
			continue
		}
		for k, v := range r.Counts {
			c[k] += v
		}
	}
	seen := map[string]bool{}
	var stages []string
	for k := range c {
		name, ok := strings.CutPrefix(k, "stage.")
		if i := strings.LastIndexByte(name, '.'); ok && i > 0 && !seen[name[:i]] {
			seen[name[:i]] = true
			stages = append(stages, name[:i])
		}
	}
	sort.Strings(stages)
	var bars []indicatorBar
	for _, st := range stages {
		met := c["stage."+st+".met"]
		bars = append(bars, indicatorBar{"timeliness." + st, l.T("Timeliness: %s", l.Stage(st)), met, met + c["stage."+st+".breached"]})
	}
	if len(stages) == 0 {
		bars = append(bars, indicatorBar{Name: "timeliness", Label: l.T("Timeliness")})
	}
	bars = append(bars, indicatorBar{"first_contact_resolution", l.T("First-contact resolution"), c["fcr"], c["archived"]})
	sat := c["followup."+workorder.FollowupSatisfied] + c["followup."+workorder.FollowupBasicallySatisfied]
	bars = append(bars, indicatorBar{"satisfaction", l.T("Satisfaction"), sat, sat + c["followup."+workorder.FollowupUnsatisfied]})
	return bars
}

func (s *server) indicatorChart(w http.ResponseWriter, r *http.Request) {
	l := s.locale(r)
	day := s.p.Alerts.Now().In(s.loc()).Format(time.DateOnly)
	rows, err := s.p.Indicators.Indicators(r.Context(), "", day, day)
	if err != nil {
		s.log.Error().Err(err).Msg("board indicators")
		http.Error(w, "could not read the indicators", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(indicatorSVG(l, todayBars(l, rows, day))))
}

// indicatorSVG draws one horizontal bar per rate, 0 to 100 %, with the
// percentage and the counts behind it; a rate without data says so.
func indicatorSVG(l *locale, bars []indicatorBar) string {
	const (
		width, rowH, top     = 760, 30, 10
		labelW, plotW, right = 190, 420, 150
	)
	height := top*2 + rowH*len(bars) + 16
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Noto Sans CJK SC, Noto Sans, sans-serif" font-size="12" role="img" aria-label="%s">`,
		width, height, width, height, html.EscapeString(l.T("Today's indicators")))
	for _, pct := range []int{0, 50, 100} {
		x := labelW + plotW*pct/100
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#e2e5ea"/><text x="%d" y="%d" text-anchor="middle" fill="#6b7280" font-size="10">%d%%</text>`,
			x, top, x, top+rowH*len(bars), x, height-6, pct)
	}
	for i, bar := range bars {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#1d2330">%s</text>`, labelW-8, y+19, html.EscapeString(bar.Label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="18" fill="#f1f3f6"/>`, labelW, y+6, plotW)
		if bar.All == 0 {
			fmt.Fprintf(&b, `<text class="rate" data-name="%s" data-rate="" x="%d" y="%d" fill="#6b7280">%s</text>`,
				bar.Name, labelW+8, y+19, html.EscapeString(l.T("no data yet")))
			continue
		}
		rate := float64(bar.Met) / float64(bar.All)
		colour := "#2a9d8f"
		if rate < 0.8 {
			colour = "#e9a23b"
		}
		if rate < 0.5 {
			colour = "#b42318"
		}
		fmt.Fprintf(&b, `<rect class="rate" data-name="%s" data-rate="%.4f" x="%d" y="%d" width="%d" height="18" fill="%s"><title>%s %.0f%%</title></rect>`,
			bar.Name, rate, labelW, y+6, int(float64(plotW)*rate+0.5), colour, html.EscapeString(bar.Label), 100*rate)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#1d2330">%.0f%% (%d/%d)</text>`, labelW+plotW+8, y+19, 100*rate, bar.Met, bar.All)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

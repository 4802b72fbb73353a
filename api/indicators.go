package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hotlined/hotlined/workorder"
)

// Indicators reads the indicators per province and day;
// *workorder.Service implements it. Nil leaves the route out.
type Indicators interface {
	Indicators(ctx context.Context, province, from, to string) ([]workorder.IndicatorDay, error)
}

func (s *server) indicatorRoutes(mux *http.ServeMux) {
	if s.p.Indicators == nil {
		return
	}
	mux.HandleFunc("GET /v1/indicators", s.auth(s.indicators, "supervisor", "system"))
}

// indicators: GET /v1/indicators?province=GD&from=2026-11-01&to=2026-11-30
// (dates in the operator's time zone; from and to default to today; an
// empty province means every province): the counters and rates per day
// and a "total" row per province.
func (s *server) indicators(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	today := time.Now().In(s.loc()).Format(time.DateOnly)
	from, to := q.Get("from"), q.Get("to")
	if from == "" {
		from = today
	}
	if to == "" {
		to = from
	}
	rows, err := s.p.Indicators.Indicators(r.Context(), q.Get("province"), from, to)
	switch {
	case errors.Is(err, workorder.ErrBadRange):
		writeError(w, http.StatusBadRequest, err.Error(), "from")
	case errors.Is(err, workorder.ErrBadProvince):
		writeError(w, http.StatusBadRequest, "province must be a code like GD", "province")
	case err != nil:
		s.log.Error().Err(err).Msg("indicators")
		writeServerError(w, err, "could not read the indicators")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"indicators": rows})
	}
}

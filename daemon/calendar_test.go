package daemon_test

import (
	"strings"
	"testing"
)

// The shipped calendar's 2027 is provisional (statutory holidays only):
// the daemon says so as it starts, before any call, naming the year.
func TestStartUpWarnsOfProvisionalCalendarYear(t *testing.T) {
	h := boot(t, nil)
	logs := h.logs.String()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"component":"calendar"`) && strings.Contains(l, `"level":"warn"`) &&
			strings.Contains(l, "cn-2027.yaml") && strings.Contains(l, "in the calendar file") {
			return
		}
	}
	t.Errorf("no calendar warning at start-up in:\n%s", logs)
}

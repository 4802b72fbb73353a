package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hotlined/hotlined/daemon"
	"github.com/hotlined/hotlined/internal/testenv"
)

// One trace per call: the sip.call span, the work order's
// workorder.submit and the kafka.publish of its event share one trace id,
// which the event carries as ce_traceparent and the call's log lines as
// trace_id.
func TestOneTraceFromInviteToKafka(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := boot(t, nil, daemon.WithTracerProvider(tp))
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678", sipmsg.NewHeader("X-IVR-Path", "2"))
	if err != nil {
		t.Fatal(err)
	}
	m := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(kafka.Message) bool { return true })
	tp0 := testenv.Headers(m)["ce_traceparent"]
	parts := strings.Split(tp0, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		t.Fatalf("ce_traceparent %q", tp0)
	}
	traceID := parts[1]
	testenv.Hangup(t, sess)

	want := map[string]bool{"sip.call": false, "workorder.submit": false, "kafka.publish": false}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range rec.Ended() {
			if _, ok := want[s.Name()]; ok && s.SpanContext().TraceID().String() == traceID {
				want[s.Name()] = true
			}
		}
		if want["sip.call"] && want["workorder.submit"] && want["kafka.publish"] {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("no %s span in trace %s", name, traceID)
		}
	}
	if !strings.Contains(h.logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("the call's log lines do not carry trace_id %s", traceID)
	}
}

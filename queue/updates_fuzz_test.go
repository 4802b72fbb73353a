package queue

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// FuzzDecodeUpdate feeds inbound values in both CloudEvents modes to the
// decoder: it must never panic, and what it accepts has the required
// fields.
func FuzzDecodeUpdate(f *testing.F) {
	f.Add(false, []byte(`{"work_order_id":"WO-20261130-GD-3725000009","status":"accepted","actor":"billing","x":1}`))
	f.Add(true, []byte(`{"specversion":"1.0","id":"e1","type":"hotline.workorder.status_update","source":"/b",`+
		`"data":{"work_order_id":"WO-20261130-GD-000009","status":"accepted","actor":"billing"}}`))
	f.Add(true, []byte(`{"id":"e1","type":"hotline.workorder.status_update","data_base64":"e30="}`))
	c := &UpdatesConsumer{p: UpdatesParams{MaxMessageBytes: 64 << 10}}
	f.Fuzz(func(t *testing.T, structured bool, value []byte) {
		m := kafka.Message{Value: value, Headers: []kafka.Header{
			{Key: "ce_type", Value: []byte(TypeStatusUpdate)}, {Key: "ce_id", Value: []byte("id-1")}}}
		if structured {
			m.Headers = []kafka.Header{{Key: "content-type", Value: []byte(ContentTypeStructured)}}
		}
		u, err := c.decode(m)
		if err == nil && (u.WorkOrderID == "" || u.Status == "" || u.Actor == "" || u.EventID == "") {
			t.Errorf("accepted an update without its fields: %+v", u)
		}
	})
}

// Package queue moves events out to Kafka and, later, updates back in.
//
// Events are written to a Redis Stream outbox in the same transaction as the
// state change that caused them (see Outbox.Add); the Relay publishes them
// to Kafka in CloudEvents 1.0 binary mode and only then deletes them.
package queue

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Event is one CloudEvent waiting in the outbox.
type Event struct {
	ID      string    // ce_id, unique per event: the consumer's de-duplication key
	Type    string    // ce_type, e.g. hotline.workorder.created
	Source  string    // ce_source
	Subject string    // ce_subject: the work order id
	Time    time.Time // ce_time
	Key     string    // Kafka key: the service number, else the caller
	Topics  []string  // where it goes, decided by the Router when it is written
	Data    []byte    // the JSON value
	// TraceParent is the W3C traceparent of the operation that caused the
	// event (ce_traceparent, the CloudEvents distributed-tracing extension).
	TraceParent string
}

// Event types (DESIGN.md, "Kafka").
const (
	TypeWorkOrderCreated       = "hotline.workorder.created"
	TypeWorkOrderUrged         = "hotline.workorder.urged"
	TypeWorkOrderReclassified  = "hotline.workorder.reclassified"
	TypeWorkOrderStatusChanged = "hotline.workorder.status_changed"
	TypeWorkOrderEscalated     = "hotline.workorder.escalated"
	// TypeWorkOrderUpdated: a change with no type of its own (a note, the
	// problem code, the province set by an agent).
	TypeWorkOrderUpdated = "hotline.workorder.updated"
	// TypeWorkOrderCallbackRequested: the transfer to an agent failed; the
	// customer is to be called back (DESIGN "Transfer").
	TypeWorkOrderCallbackRequested = "hotline.workorder.callback_requested"
	TypeIncidentGroupComplaint     = "hotline.incident.group_complaint"
	// TypeIncidentBatch: a batch complaint (批量投诉) raised.
	TypeIncidentBatch = "hotline.incident.batch"
	TypeAlertRaised   = "hotline.alert.raised"
	TypeAlertAcked    = "hotline.alert.acked"
	TypeAlertResolved = "hotline.alert.resolved"
	// TypeStatusUpdate is the inbound type on hotline.workorders.updates.
	TypeStatusUpdate = "hotline.workorder.status_update"
)

// ErrBadEntry marks an outbox entry that cannot be decoded.
var ErrBadEntry = errors.New("bad outbox entry")

// Values is the event as Redis Stream fields.
func (e Event) Values() []any {
	return []any{
		"id", e.ID,
		"type", e.Type,
		"source", e.Source,
		"subject", e.Subject,
		"time", e.Time.UTC().Format(time.RFC3339Nano),
		"key", e.Key,
		"topics", strings.Join(e.Topics, ","),
		"data", string(e.Data),
		"traceparent", e.TraceParent,
	}
}

// EventFromValues decodes Redis Stream fields written by Values.
func EventFromValues(v map[string]any) (Event, error) {
	get := func(k string) string {
		s, _ := v[k].(string)
		return s
	}
	e := Event{
		ID: get("id"), Type: get("type"), Source: get("source"), Subject: get("subject"),
		Key: get("key"), Data: []byte(get("data")), TraceParent: get("traceparent"),
	}
	if t := get("topics"); t != "" {
		e.Topics = strings.Split(t, ",")
	}
	var err error
	if e.Time, err = time.Parse(time.RFC3339Nano, get("time")); err != nil {
		return e, fmt.Errorf("%w: time: %v", ErrBadEntry, err)
	}
	if e.ID == "" || e.Type == "" || len(e.Topics) == 0 || len(e.Data) == 0 {
		return e, fmt.Errorf("%w: id, type, topics and data are required", ErrBadEntry)
	}
	return e, nil
}

// Messages renders the event as one Kafka message per topic, CloudEvents
// binary mode: the value is the data, the attributes are ce_ headers.
func (e Event) Messages() []kafka.Message {
	headers := []kafka.Header{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte(e.ID)},
		{Key: "ce_source", Value: []byte(e.Source)},
		{Key: "ce_type", Value: []byte(e.Type)},
		{Key: "ce_time", Value: []byte(e.Time.UTC().Format(time.RFC3339Nano))},
		{Key: "ce_subject", Value: []byte(e.Subject)},
		{Key: "content-type", Value: []byte("application/json")},
	}
	if e.TraceParent != "" {
		headers = append(headers, kafka.Header{Key: "ce_traceparent", Value: []byte(e.TraceParent)})
	}
	msgs := make([]kafka.Message, len(e.Topics))
	for i, t := range e.Topics {
		msgs[i] = kafka.Message{Topic: t, Key: []byte(e.Key), Value: e.Data, Headers: headers}
	}
	return msgs
}

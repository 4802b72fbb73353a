package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// Update is a status change sent by a downstream system on the updates topic.
type Update struct {
	WorkOrderID string `json:"work_order_id"`
	Status      string `json:"status"`
	Actor       string `json:"actor"`
	Note        string `json:"note,omitempty"`
	// EventID is the message's ce_id: applying is idempotent on it.
	EventID string `json:"-"`
}

// Applier applies an update. It returns an error wrapping
// ErrAlreadyApplied for an update whose ce_id was applied before (a
// redelivery: acknowledged and skipped), a *RejectError for an update that
// can never apply (the message goes to the dead-letter topic); any other
// error is taken as passing (Redis unreachable) and the update is retried.
type Applier interface {
	ApplyUpdate(ctx context.Context, u Update) error
}

// Reasons an inbound message is dead-lettered, in the x-hotline-error-code header.
const (
	RejectOversize          = "oversize"
	RejectBadType           = "bad_type"
	RejectMissingID         = "missing_id"
	RejectBadJSON           = "bad_json"
	RejectInvalid           = "invalid"
	RejectUnknownOrder      = "unknown_order"
	RejectIllegalTransition = "illegal_transition"
)

// ErrAlreadyApplied: the update's ce_id was applied before. Delivery is at
// least once, so this is normal: the message is acknowledged silently.
var ErrAlreadyApplied = errors.New("update already applied")

// RejectError is an update refused for good.
type RejectError struct {
	Code   string
	Detail string
}

func (e *RejectError) Error() string { return e.Code + ": " + e.Detail }

// Reject builds a RejectError.
func Reject(code, format string, a ...any) *RejectError {
	return &RejectError{Code: code, Detail: fmt.Sprintf(format, a...)}
}

// Dead-letter headers added to the original message.
const (
	HeaderErrorCode = "x-hotline-error-code"
	HeaderError     = "x-hotline-error"
	HeaderSource    = "x-hotline-source"
)

// UpdatesParams configures an UpdatesConsumer.
type UpdatesParams struct {
	Reader     *kafka.Reader // a consumer-group reader on the updates topic
	DeadLetter Publisher
	// DeadLetterTopic receives what cannot be applied.
	DeadLetterTopic string
	Applier         Applier
	Logger          zerolog.Logger
	// MaxMessageBytes caps an update's value (default 64 KiB).
	MaxMessageBytes int
	Registerer      prometheus.Registerer
}

// UpdatesConsumer applies inbound status updates, one message at a time,
// committing each only once it is applied or dead-lettered.
type UpdatesConsumer struct {
	p       UpdatesParams
	handled *prometheus.CounterVec
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewUpdatesConsumer checks params and registers metrics.
func NewUpdatesConsumer(p UpdatesParams) (*UpdatesConsumer, error) {
	if p.Reader == nil || p.DeadLetter == nil || p.DeadLetterTopic == "" || p.Applier == nil || p.Registerer == nil {
		return nil, errors.New("new updates consumer: Reader, DeadLetter, DeadLetterTopic, Applier and Registerer are required")
	}
	if p.MaxMessageBytes <= 0 {
		p.MaxMessageBytes = 64 << 10
	}
	p.Logger = p.Logger.With().Str("component", "updates").Logger()
	c := &UpdatesConsumer{p: p, done: make(chan struct{}), handled: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotlined_updates_total",
		Help: "Inbound status updates, by result: applied, or the dead-letter reason.",
	}, []string{"result"})}
	if err := p.Registerer.Register(c.handled); err != nil {
		return nil, fmt.Errorf("register updates metrics: %w", err)
	}
	return c, nil
}

// Start consumes until Shutdown.
func (c *UpdatesConsumer) Start(ctx context.Context) error {
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(c.done)
		c.loop(ctx)
	}()
	return nil
}

// Shutdown stops after the message in hand and closes the reader.
func (c *UpdatesConsumer) Shutdown(ctx context.Context) error {
	c.cancel()
	select {
	case <-c.done:
	case <-ctx.Done():
		return fmt.Errorf("updates consumer shutdown: %w", ctx.Err())
	}
	return c.p.Reader.Close()
}

func (c *UpdatesConsumer) loop(ctx context.Context) {
	for {
		m, err := c.p.Reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.p.Logger.Error().Err(err).Msg("fetch update")
			sleep(ctx, time.Second)
			continue
		}
		if !c.handle(ctx, m) {
			return // shutting down: not committed, redelivered to the next consumer
		}
		for ctx.Err() == nil {
			if err := c.p.Reader.CommitMessages(ctx, m); err == nil {
				break
			} else {
				c.p.Logger.Warn().Err(err).Int64("offset", m.Offset).Msg("commit update offset; retrying")
				sleep(ctx, time.Second)
			}
		}
	}
}

// handle applies or dead-letters m, retrying passing failures; it returns
// false only when ctx ended first.
func (c *UpdatesConsumer) handle(ctx context.Context, m kafka.Message) bool {
	log := c.p.Logger.With().Int("partition", m.Partition).Int64("offset", m.Offset).Logger()
	backoff := 100 * time.Millisecond
	for {
		u, err := c.decode(m)
		if err == nil {
			err = c.p.Applier.ApplyUpdate(ctx, u)
		}
		var rej *RejectError
		switch {
		case err == nil:
			c.handled.WithLabelValues("applied").Inc()
			log.Info().Str("work_order", u.WorkOrderID).Str("status", u.Status).Str("ce_id", u.EventID).Msg("update applied")
			return true
		case errors.Is(err, ErrAlreadyApplied):
			c.handled.WithLabelValues("duplicate").Inc()
			log.Debug().Str("work_order", u.WorkOrderID).Str("ce_id", u.EventID).Msg("update redelivered; applied before, skipped")
			return true
		case errors.As(err, &rej):
			return c.deadLetter(ctx, log, m, rej)
		case ctx.Err() != nil:
			return false
		}
		log.Warn().Err(err).Msg("apply update failed; retrying")
		sleep(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// ContentTypeStructured is the content type of a structured-mode
// CloudEvent: the whole event, attributes and data, is the JSON value.
const ContentTypeStructured = "application/cloudevents+json"

// structuredEvent is a structured-mode CloudEvent (CloudEvents 1.0 JSON
// format, section 3); attributes other than these are ignored.
type structuredEvent struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	Data        json.RawMessage `json:"data"`
	DataBase64  []byte          `json:"data_base64"`
}

// decode checks the envelope and the JSON of an update, in either
// CloudEvents Kafka mode (CloudEvents Kafka protocol binding, section 3):
// binary (ce_ headers, the value is the data) or structured (content-type
// application/cloudevents+json, the value is the whole event). JSON
// fields the update does not know are ignored.
func (c *UpdatesConsumer) decode(m kafka.Message) (Update, error) {
	var u Update
	if len(m.Value) > c.p.MaxMessageBytes {
		return u, Reject(RejectOversize, "value of %d bytes is over %d", len(m.Value), c.p.MaxMessageBytes)
	}
	h := map[string]string{}
	for _, x := range m.Headers {
		h[strings.ToLower(x.Key)] = string(x.Value)
	}
	ceType, ceID, data := h["ce_type"], h["ce_id"], m.Value
	if ct, _, _ := strings.Cut(h["content-type"], ";"); strings.TrimSpace(strings.ToLower(ct)) == ContentTypeStructured {
		var ev structuredEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			return u, Reject(RejectBadJSON, "structured cloudevent: %v", err)
		}
		ceType, ceID, data = ev.Type, ev.ID, ev.Data
		if len(ev.DataBase64) > 0 {
			data = ev.DataBase64
		}
		if len(data) == 0 {
			return u, Reject(RejectInvalid, "structured cloudevent without data")
		}
	}
	if ceType != TypeStatusUpdate {
		return u, Reject(RejectBadType, "ce_type %q, want %s", ceType, TypeStatusUpdate)
	}
	if ceID == "" || len(ceID) > 200 {
		return u, Reject(RejectMissingID, "a ce_id of 1 to 200 bytes is required")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&u); err != nil {
		return u, Reject(RejectBadJSON, "%v", err)
	}
	if dec.More() {
		return u, Reject(RejectBadJSON, "more than one JSON value")
	}
	switch {
	case u.WorkOrderID == "":
		return u, Reject(RejectInvalid, "work_order_id is required")
	case u.Status == "":
		return u, Reject(RejectInvalid, "status is required")
	case u.Actor == "":
		return u, Reject(RejectInvalid, "actor is required")
	}
	u.EventID = ceID
	return u, nil
}

// deadLetter publishes m with the reason to the dead-letter topic, retrying
// until Kafka takes it; it returns false only when ctx ended first.
func (c *UpdatesConsumer) deadLetter(ctx context.Context, log zerolog.Logger, m kafka.Message, rej *RejectError) bool {
	headers := append([]kafka.Header{}, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderErrorCode, Value: []byte(rej.Code)},
		kafka.Header{Key: HeaderError, Value: []byte(rej.Detail)},
		kafka.Header{Key: HeaderSource, Value: []byte(m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10))})
	dl := kafka.Message{Topic: c.p.DeadLetterTopic, Key: m.Key, Value: m.Value, Headers: headers}
	backoff := 100 * time.Millisecond
	for {
		err := c.p.DeadLetter.WriteMessages(ctx, dl)
		if err == nil {
			c.handled.WithLabelValues(rej.Code).Inc()
			log.Warn().Str("reason", rej.Code).Str("detail", rej.Detail).Msg("update dead-lettered")
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn().Err(err).Msg("publish to dead-letter topic failed; retrying")
		sleep(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadEvent reads topic from the start in a fresh consumer group until
// match accepts a message, failing the test after 30 s.
func ReadEvent(t testing.TB, brokers []string, topic string, match func(kafka.Message) bool) kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, GroupID: "test-" + t.Name() + "-" + topic, StartOffset: kafka.FirstOffset,
		MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("no matching event on %s: %v", topic, err)
		}
		if match(m) {
			return m
		}
	}
}

// Headers maps a message's headers by name.
func Headers(m kafka.Message) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

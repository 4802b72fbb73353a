package sip

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(10, 3, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if !l.allow("10.0.0.1") {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	if l.allow("10.0.0.1") {
		t.Fatal("fourth request in the same instant allowed")
	}
	if !l.allow("10.0.0.2") {
		t.Fatal("another source is limited by the first one's bucket")
	}
	now = now.Add(100 * time.Millisecond) // 10/s: one token back
	if !l.allow("10.0.0.1") || l.allow("10.0.0.1") {
		t.Fatal("after 100 ms exactly one more request should pass")
	}
	now = now.Add(time.Hour) // refills to the burst, no more
	for i := 0; i < 3; i++ {
		if !l.allow("10.0.0.1") {
			t.Fatal("burst not refilled")
		}
	}
	if l.allow("10.0.0.1") {
		t.Fatal("refilled past the burst")
	}
}

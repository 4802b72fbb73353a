package sip

import (
	"testing"

	"github.com/rs/zerolog"
)

func TestOpenMediaPicksEvenPortsInRange(t *testing.T) {
	keys := make(chan byte, 1)
	for i := 0; i < 20; i++ {
		m, err := openMedia("127.0.0.1", 30001, 30004, keys, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if p := m.Port(); p != 30002 && p != 30004 {
			t.Fatalf("port %d, want an even port in 30001-30004", p)
		}
		m.Close()
	}
}

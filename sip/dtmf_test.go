package sip

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDTMFInfo(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        byte
	}{
		{"relay CRLF", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5'},
		{"relay LF", "application/dtmf-relay", "Signal=7\nDuration=160\n", '7'},
		{"relay no trailing newline", "application/dtmf-relay", "Signal=0\r\nDuration=160", '0'},
		{"relay duration first", "application/dtmf-relay", "Duration=250\r\nSignal=9\r\n", '9'},
		{"relay star", "application/dtmf-relay", "Signal=*\r\nDuration=160\r\n", '*'},
		{"relay hash", "application/dtmf-relay", "Signal=#\r\nDuration=160\r\n", '#'},
		{"relay spaces around", "application/dtmf-relay", "  Signal = 3 \r\n Duration = 160 \r\n", '3'},
		{"relay lower case header", "application/dtmf-relay", "signal=1\r\nduration=160\r\n", '1'},
		{"relay upper case header", "application/dtmf-relay", "SIGNAL=2\r\nDURATION=160\r\n", '2'},
		{"relay mixed case header", "application/dtmf-relay", "sIgNaL=4\r\nDuRaTiOn=160\r\n", '4'},
		{"relay event 10 is star", "application/dtmf-relay", "Signal=10\r\nDuration=160\r\n", '*'},
		{"relay event 11 is hash", "application/dtmf-relay", "Signal=11\r\nDuration=160\r\n", '#'},
		{"relay other lines ignored", "application/dtmf-relay", "junk\r\nSignal=8\r\nfoo=bar\r\n", '8'},
		{"content type with params", "application/dtmf-relay; charset=utf-8", "Signal=6\r\nDuration=160\r\n", '6'},
		{"content type params no space", "application/dtmf-relay;charset=utf-8", "Signal=6\r\n", '6'},
		{"content type upper case", "Application/DTMF-Relay", "Signal=5\r\n", '5'},
		{"content type padded", "  application/dtmf-relay  ", "Signal=5\r\n", '5'},
		{"dtmf key alone", "application/dtmf", "5", '5'},
		{"dtmf key with CRLF", "application/dtmf", "9\r\n", '9'},
		{"dtmf key with LF", "application/dtmf", "0\n", '0'},
		{"dtmf star", "application/dtmf", "*", '*'},
		{"dtmf hash", "application/dtmf", "#", '#'},
		{"dtmf event 10", "application/dtmf", "10", '*'},
		{"dtmf event 11", "application/dtmf", "11", '#'},
		{"dtmf with params", "application/dtmf; charset=utf-8", "3", '3'},
		{"dtmf upper case", "APPLICATION/DTMF", "4", '4'},
		{"body exactly max", "application/dtmf-relay", "Signal=5\r\n" + strings.Repeat("x", maxDTMFBody-len("Signal=5\r\n")), '5'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDTMFInfo(tt.contentType, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseDTMFInfo(%q, %q) error: %v", tt.contentType, tt.body, err)
			}
			if got != tt.want {
				t.Errorf("ParseDTMFInfo(%q, %q) = %q, want %q", tt.contentType, tt.body, got, tt.want)
			}
		})
	}
}

func TestParseDTMFInfoErrors(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{"missing Signal", "application/dtmf-relay", "Duration=160\r\n"},
		{"two Signal lines", "application/dtmf-relay", "Signal=5\r\nSignal=6\r\nDuration=160\r\n"},
		{"empty Signal then a key", "application/dtmf-relay", "Signal=\r\nSignal=5\r\n"},
		{"blank Signal then a key", "application/dtmf-relay", "Signal= \r\nSignal=5\r\n"},
		{"two Signal lines same key", "application/dtmf-relay", "Signal=5\r\nsignal=5\r\n"},
		{"Signal=A", "application/dtmf-relay", "Signal=A\r\nDuration=160\r\n"},
		{"Signal=D", "application/dtmf-relay", "Signal=D\r\nDuration=160\r\n"},
		{"Signal empty", "application/dtmf-relay", "Signal=\r\nDuration=160\r\n"},
		{"Signal two keys", "application/dtmf-relay", "Signal=55\r\n"},
		{"Signal event 12", "application/dtmf-relay", "Signal=12\r\n"},
		{"Signal without equals", "application/dtmf-relay", "Signal 5\r\n"},
		{"relay empty body", "application/dtmf-relay", ""},
		{"dtmf empty body", "application/dtmf", ""},
		{"dtmf whitespace body", "application/dtmf", " \r\n"},
		{"dtmf A", "application/dtmf", "A"},
		{"dtmf two keys", "application/dtmf", "55"},
		{"dtmf relay body under dtmf type", "application/dtmf", "Signal=5\r\n"},
		{"unknown content type", "text/plain", "Signal=5\r\n"},
		{"sdp content type", "application/sdp", "5"},
		{"empty content type", "", "Signal=5\r\n"},
		{"content type prefix only", "application/dtmf-relayx", "Signal=5\r\n"},
		{"body over 512 bytes", "application/dtmf-relay", "Signal=5\r\n" + strings.Repeat("x", maxDTMFBody)},
		{"body 513 bytes", "application/dtmf", strings.Repeat(" ", maxDTMFBody) + "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDTMFInfo(tt.contentType, []byte(tt.body))
			if err == nil {
				t.Fatalf("ParseDTMFInfo(%q, %q) = %q, want error", tt.contentType, tt.body, got)
			}
			if !errors.Is(err, ErrBadDTMF) {
				t.Errorf("ParseDTMFInfo(%q, %q) error %v does not wrap ErrBadDTMF", tt.contentType, tt.body, err)
			}
			if got != 0 {
				t.Errorf("ParseDTMFInfo(%q, %q) key = %q on error, want 0", tt.contentType, tt.body, got)
			}
		})
	}
}

func TestParseDTMFInfoNilBody(t *testing.T) {
	for _, ct := range []string{"application/dtmf-relay", "application/dtmf"} {
		if _, err := ParseDTMFInfo(ct, nil); !errors.Is(err, ErrBadDTMF) {
			t.Errorf("ParseDTMFInfo(%q, nil) error = %v, want ErrBadDTMF", ct, err)
		}
	}
}

func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf-relay; charset=utf-8", []byte("signal=11\nduration=100\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("application/dtmf", []byte("10"))
	f.Add("text/plain", []byte("Signal=A"))
	f.Add("application/dtmf-relay", []byte("Signal=1\r\nSignal=2\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		key, err := ParseDTMFInfo(contentType, body)
		if err != nil {
			if !errors.Is(err, ErrBadDTMF) {
				t.Fatalf("ParseDTMFInfo(%q, %q) error %v does not wrap ErrBadDTMF", contentType, body, err)
			}
			return
		}
		if strings.IndexByte("0123456789*#", key) < 0 {
			t.Fatalf("ParseDTMFInfo(%q, %q) = %q, not one of 0-9 * #", contentType, body, key)
		}
		if len(body) > maxDTMFBody {
			t.Fatalf("ParseDTMFInfo(%q, <%d bytes>) accepted a body over %d bytes", contentType, len(body), maxDTMFBody)
		}
	})
}

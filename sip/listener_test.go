package sip

import (
	"strings"
	"testing"
	"time"
)

func TestHeadScanner(t *testing.T) {
	t0 := time.Unix(1000, 0)
	msg := "OPTIONS sip:h SIP/2.0\r\nl: 5\r\nVia: x\r\n\r\nhello"
	for _, tc := range []struct {
		name   string
		chunks []string
		inHead bool
	}{
		{"whole message", []string{msg}, false},
		{"keep-alive only", []string{"\r\n\r\n"}, false},
		{"keep-alive then half a head", []string{"\r\n", "INVITE sip:h SIP/2.0\r\nVia: x\r\n"}, true},
		{"head split in the blank line", []string{msg[:len(msg)-7], msg[len(msg)-7:]}, false},
		{"byte by byte", strings.Split(msg, ""), false},
		{"body then next head begun", []string{msg + "INVITE sip:h"}, true},
		{"two messages", []string{msg + msg}, false},
		{"body that looks like a head", []string{"MESSAGE sip:h SIP/2.0\r\nContent-Length: 6\r\n\r\n\r\n\r\nab"}, false},
	} {
		var s headScanner
		for i, c := range tc.chunks {
			s.feed([]byte(c), t0.Add(time.Duration(i)*time.Second))
		}
		if s.inHead != tc.inHead || (!s.inHead && s.body != 0) {
			t.Errorf("%s: inHead %v body %d, want inHead %v body 0", tc.name, s.inHead, s.body, tc.inHead)
		}
	}
	var s headScanner
	s.feed([]byte("\r\nINV"), t0)
	s.feed([]byte("ITE sip"), t0.Add(time.Second))
	if !s.headStart.Equal(t0) {
		t.Errorf("head started %v, want %v: the head timer runs from its first byte", s.headStart, t0)
	}
}

func TestContentLength(t *testing.T) {
	for head, want := range map[string]int{
		"INVITE x SIP/2.0\r\nContent-Length: 12\r\n\r\n": 12,
		"INVITE x SIP/2.0\r\nl:7\r\n\r\n":                7,
		"INVITE x SIP/2.0\r\ncontent-length: -1\r\n\r\n": 0,
		"INVITE x SIP/2.0\r\n\r\n":                       0,
	} {
		if got := contentLength([]byte(head)); got != want {
			t.Errorf("contentLength(%q) = %d, want %d", head, got, want)
		}
	}
}

package sip

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Accept retry backoff after an error such as EMFILE (as net/http does).
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// acceptLogEvery spaces the error lines of a run of failing accepts.
	acceptLogEvery = 10 * time.Second
	// acceptFailureShows is how long Check reports an accept failure.
	acceptFailureShows = 30 * time.Second
)

// guardedListener wraps a TCP listener: it survives accept errors (EMFILE,
// ENFILE, ENOBUFS: back off and retry, log at error, count them), caps the
// connections per source address, and gives each connection idle and
// message-head timeouts.
type guardedListener struct {
	net.Listener
	log      zerolog.Logger
	maxConns func(netip.Addr) int // per source
	idle     time.Duration
	head     time.Duration // 0: no message-head timeout (TLS: the bytes read are ciphertext)
	errs     prometheus.Counter
	refused  prometheus.Counter

	mu    sync.Mutex
	conns map[netip.Addr]int

	lastFailure atomic.Int64 // unix nanoseconds of the last accept error
}

// Accept returns the next connection from a source under its cap. Errors
// other than a closed listener are retried with backoff.
func (l *guardedListener) Accept() (net.Conn, error) {
	var delay time.Duration
	var lastLog time.Time
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			l.errs.Inc()
			l.lastFailure.Store(time.Now().UnixNano())
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			if time.Since(lastLog) >= acceptLogEvery {
				lastLog = time.Now()
				l.log.Error().Err(err).Dur("retry_in", delay).Str("listen", l.Addr().String()).
					Msg("sip tcp accept failed; retrying (file descriptors exhausted?)")
			}
			time.Sleep(delay)
			continue
		}
		if !lastLog.IsZero() {
			l.log.Info().Str("listen", l.Addr().String()).Msg("sip tcp accept works again")
		}
		delay, lastLog = 0, time.Time{}
		ip := addrIP(c.RemoteAddr())
		if !l.take(ip) {
			l.refused.Inc()
			c.Close()
			continue
		}
		return &guardedConn{Conn: c, l: l, ip: ip}, nil
	}
}

// failing reports an accept error within the last acceptFailureShows.
func (l *guardedListener) failing() bool {
	last := l.lastFailure.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < acceptFailureShows
}

func (l *guardedListener) take(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip] >= l.maxConns(ip) {
		return false
	}
	l.conns[ip]++
	return true
}

func (l *guardedListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip]--; l.conns[ip] <= 0 {
		delete(l.conns, ip)
	}
}

func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// guardedConn is a connection of a guardedListener. Each Read waits at
// most the idle timeout, and, while a message head is coming in, no later
// than the head timeout after its first byte: a peer that trickles a head
// (slowloris) or holds a connection silent is cut off, and sipgo's read
// loop closes the connection on the timeout error.
type guardedConn struct {
	net.Conn
	l         *guardedListener
	ip        netip.Addr
	closeOnce sync.Once
	scan      headScanner
}

func (c *guardedConn) Read(b []byte) (int, error) {
	now := time.Now()
	deadline := now.Add(c.l.idle)
	if c.l.head > 0 && c.scan.inHead {
		if d := c.scan.headStart.Add(c.l.head); d.Before(deadline) {
			deadline = d
		}
	}
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if n > 0 && c.l.head > 0 {
		c.scan.feed(b[:n], time.Now())
	}
	return n, err
}

func (c *guardedConn) Close() error {
	c.closeOnce.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}

// maxHead caps the bytes of a message head the scanner keeps to find
// Content-Length; a longer head is cut by the parser's own limit anyway.
const maxHead = 65535

// headScanner follows the SIP messages of a stream (RFC 3261 7.5, 18.3):
// between messages (CRLF keep-alives allowed), in a head (until the blank
// line), or in a body (Content-Length bytes).
type headScanner struct {
	inHead    bool
	headStart time.Time
	head      []byte
	body      int // body bytes still to come
}

func (s *headScanner) feed(p []byte, now time.Time) {
	for len(p) > 0 {
		switch {
		case s.body > 0:
			k := min(s.body, len(p))
			s.body -= k
			p = p[k:]
		case !s.inHead:
			if p[0] == '\r' || p[0] == '\n' {
				p = p[1:]
				continue
			}
			s.inHead, s.headStart, s.head = true, now, s.head[:0]
		default:
			// Look for the blank line across the head kept so far and p.
			prev := len(s.head)
			s.head = append(s.head, p[:min(len(p), maxHead-prev)]...)
			i := bytes.Index(s.head[max(prev-3, 0):], []byte("\r\n\r\n"))
			if i < 0 {
				p = nil // more head to come (or too long: the parser refuses it)
				continue
			}
			end := max(prev-3, 0) + i + 4
			s.body, s.inHead = contentLength(s.head[:end]), false
			p = p[end-prev:]
		}
	}
}

// contentLength reads Content-Length (or its compact form l) from a
// message head; 0 when absent or unreadable.
func contentLength(head []byte) int {
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte("Content-Length")) || bytes.EqualFold(name, []byte("l")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || n < 0 {
				return 0
			}
			return n
		}
	}
	return 0
}

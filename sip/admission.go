package sip

import (
	"net"
	"net/netip"
	"sync"
)

// admission decides who may start what: trust (sip.trusted_sources and
// sip.trusted_proxies), the request rate per source, and the calls not yet
// ACKed (half-open) per source and in all. Trusted proxies have a budget
// each (sip.proxy), apart from everybody else's, so a flood from elsewhere
// cannot use up what the proxies in front of us need.
type admission struct {
	trusted []netip.Prefix // empty: everybody
	proxies []netip.Prefix

	limiter      *rateLimiter // per source, for sources that are not proxies
	proxyLimiter *rateLimiter // per proxy

	maxHalfOpen, maxHalfOpenPerSource, proxyMaxHalfOpen int

	mu       sync.Mutex
	halfOpen map[netip.Addr]int
	total    int // half-open calls of sources that are not proxies
}

// source is what admission knows of a request's sender.
type source struct {
	ip      netip.Addr // invalid when the address could not be read
	trusted bool
	proxy   bool
}

// classify reads a host:port source address.
func (a *admission) classify(hostport string) source {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return source{}
	}
	ip = ip.Unmap()
	src := source{ip: ip, proxy: contains(a.proxies, ip)}
	src.trusted = src.proxy || len(a.trusted) == 0 || contains(a.trusted, ip)
	return src
}

func contains(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// allow takes a token from the source's rate budget.
func (a *admission) allow(src source) bool {
	if src.proxy {
		return a.proxyLimiter.allow(src.ip.String())
	}
	return a.limiter.allow(src.ip.String())
}

// acquireHalfOpen reserves a half-open call for src. It returns a release
// function, safe to call more than once, or false when the source (or,
// for sources that are not proxies, everybody together) is at its cap.
func (a *admission) acquireHalfOpen(src source) (release func(), ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.halfOpen[src.ip]
	if src.proxy {
		if n >= a.proxyMaxHalfOpen {
			return nil, false
		}
	} else if n >= a.maxHalfOpenPerSource || a.total >= a.maxHalfOpen {
		return nil, false
	}
	a.halfOpen[src.ip] = n + 1
	if !src.proxy {
		a.total++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.halfOpen[src.ip]--; a.halfOpen[src.ip] <= 0 {
				delete(a.halfOpen, src.ip)
			}
			if !src.proxy {
				a.total--
			}
		})
	}, true
}

// halfOpenCount is the number of half-open calls in all.
func (a *admission) halfOpenCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.halfOpen {
		n += c
	}
	return n
}

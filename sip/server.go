// Package sip is the SIP and RTP edge of hotlined: it answers hotline calls,
// collects the caller's menu choice (X-IVR-Path headers from an upstream IVR
// or DTMF by SIP INFO), and hands the finished choice to the work-order
// service.
//
// The sipgo message package is imported as sipmsg everywhere, to keep it
// apart from this one.
package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/ivr"
	"github.com/hotlined/hotlined/workorder"
)

// Orders takes the contact of a finished menu walk: a new work order, or an
// urge on the customer's open complaint; *workorder.Service implements it.
type Orders interface {
	Submit(ctx context.Context, in workorder.Intake) (workorder.Result, error)
}

// Params configures a Server.
type Params struct {
	Config     *configs.Config
	Orders     Orders
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
	// Ready reports whether new calls can be kept (Redis reachable); nil
	// means always.
	Ready func() bool
	// Prompts are the IVR's prompts by name; nil loads them from
	// sip.prompts/sip.language.
	Prompts Prompts
	// Tracer starts one sip.call span per call, the root of the trace that
	// goes on through the work order to the Kafka publish; nil records none.
	Tracer trace.Tracer
}

// Server is the SIP user agent server of the hotline.
type Server struct {
	cfg      *configs.Config
	orders   Orders
	log      zerolog.Logger
	trusted  []netip.Prefix
	ua       *sipgo.UserAgent
	srv      *sipgo.Server
	client   *sipgo.Client
	dialogs  map[string]*sipgo.DialogUA // by transport
	host     string
	addrs    []string
	closers  []func() error
	calls    sync.Map // dialog id -> *call
	draining atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
	metrics  metrics

	ready       func() bool
	prompts     Prompts
	ivrOptions  ivr.Options
	mediaHost   string
	rtpLo       int
	rtpHi       int
	publicURL   string
	activeCalls atomic.Int64
	limiter     *rateLimiter
	tracer      trace.Tracer
}

type metrics struct {
	calls     *prometheus.CounterVec
	active    prometheus.Gauge
	fallback  *prometheus.CounterVec
	transfers *prometheus.CounterVec
	limited   prometheus.Counter
}

// Call outcomes, the label of hotlined_sip_calls_total.
const (
	outcomeOrderCreated = "order_created"
	outcomeOrderUrged   = "order_urged"
	outcomeOrderFailed  = "order_failed"
	outcomeAbandoned    = "abandoned"
	outcomeNotFound     = "rejected_not_found"
	outcomeBadRequest   = "rejected_bad_request"
	outcomeForbidden    = "rejected_forbidden"
	outcomeNoCodec      = "rejected_no_codec"
	outcomeUnavailable  = "rejected_unavailable"
	outcomeBusy         = "rejected_busy"
)

// New builds the server; Listen starts it.
func New(p Params) (*Server, error) {
	if p.Config == nil || p.Orders == nil || p.Registerer == nil {
		return nil, errors.New("new sip server: Config, Orders and Registerer are required")
	}
	s := &Server{cfg: p.Config, orders: p.Orders, log: p.Logger.With().Str("component", "sip").Logger(),
		ready: p.Ready, prompts: p.Prompts, publicURL: strings.TrimRight(p.Config.HTTP.PublicURL, "/"),
		limiter: newRateLimiter(p.Config.SIP.RatePerSource, p.Config.SIP.BurstPerSource, time.Now)}
	s.tracer = p.Tracer
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("")
	}
	if s.publicURL == "" {
		s.publicURL = "http://" + p.Config.HTTP.Listen
	}
	if s.prompts == nil {
		dir := filepath.Join(p.Config.SIP.Prompts, p.Config.SIP.Language)
		prompts, err := LoadPrompts(dir)
		if err != nil {
			return nil, fmt.Errorf("load prompts: %w", err)
		}
		s.prompts = prompts
	}
	s.rtpLo, s.rtpHi, _ = p.Config.SIP.RTPPortRange() // validated by configs
	ivrCfg := p.Config.SIP.IVR
	s.ivrOptions = ivr.Options{FirstDigitTimeout: ivrCfg.FirstDigitTimeout.D(), InterDigitTimeout: ivrCfg.InterDigitTimeout.D(),
		MaxRetries: ivrCfg.MaxRetries, MaxDuration: ivrCfg.MaxDuration.D()}
	for _, c := range p.Config.SIP.TrustedSources {
		s.trusted = append(s.trusted, netip.MustParsePrefix(c)) // validated by configs
	}
	s.metrics = metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotlined_sip_calls_total",
			Help: "Hotline calls by outcome.",
		}, []string{"outcome"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotlined_sip_active_calls",
			Help: "Calls currently in progress.",
		}),
	}
	s.metrics.fallback = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotlined_ivr_fallback_total",
		Help: "Calls that failed the menu and went to the fallback leaf, by reason.",
	}, []string{"reason"})
	s.metrics.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotlined_sip_transfers_total",
		Help: "How calls left the IVR: accepted, refused, failed, resolved_in_ivr, no_transfer.",
	}, []string{"result"})
	s.metrics.limited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotlined_sip_rate_limited_total",
		Help: "Requests refused by the per-source rate limit.",
	})
	for _, c := range []prometheus.Collector{s.metrics.calls, s.metrics.active, s.metrics.fallback, s.metrics.transfers, s.metrics.limited} {
		if err := p.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register sip metrics: %w", err)
		}
	}
	return s, nil
}

// Listen opens every configured listener and starts serving. Port 0 picks a
// free port; Addrs reports what was opened.
func (s *Server) Listen(ctx context.Context) error {
	parser := sipmsg.NewParser()
	parser.MaxMessageLength = s.cfg.SIP.MaxMessageBytes
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(s.cfg.SIP.UserAgent), sipgo.WithUserAgentParser(parser))
	if err != nil {
		return fmt.Errorf("sip user agent: %w", err)
	}
	s.ua = ua
	s.closers = append(s.closers, ua.Close)
	// sipgo logs through slog; its messages are about its own transport, so
	// they go to our logger at debug level only.
	quiet := slog.New(slog.NewTextHandler(zerologWriter{s.log}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(quiet)); err != nil {
		return fmt.Errorf("sip server: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.dialogs = map[string]*sipgo.DialogUA{}
	s.srv.OnInvite(s.guard(s.onInvite))
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.guard(s.onBye))
	s.srv.OnInfo(s.guard(s.onInfo))
	s.srv.OnOptions(s.guard(s.onOptions))
	s.srv.OnCancel(s.guard(s.onCancel))
	s.srv.OnNotify(s.guard(s.onNotify))
	s.srv.OnUpdate(s.guard(s.answerInDialog))

	var serves []func() error
	for _, l := range s.cfg.SIP.Listen {
		transport, addr, _ := configs.ParseListen(l) // validated by configs
		var (
			local string
			serve func() error
		)
		switch transport {
		case "udp":
			conn, err := net.ListenPacket("udp", addr)
			if err != nil {
				return fmt.Errorf("sip listen %s: %w", l, err)
			}
			s.closers = append(s.closers, conn.Close)
			local, serve = conn.LocalAddr().String(), func() error { return s.srv.ServeUDP(conn) }
		case "tcp":
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("sip listen %s: %w", l, err)
			}
			s.closers = append(s.closers, ln.Close)
			local, serve = ln.Addr().String(), func() error { return s.srv.ServeTCP(ln) }
		case "tls":
			cert, err := tls.LoadX509KeyPair(s.cfg.SIP.TLSCertFile, s.cfg.SIP.TLSKeyFile)
			if err != nil {
				return fmt.Errorf("sip tls certificate: %w", err)
			}
			ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			if err != nil {
				return fmt.Errorf("sip listen %s: %w", l, err)
			}
			s.closers = append(s.closers, ln.Close)
			local, serve = ln.Addr().String(), func() error { return s.srv.ServeTLS(ln) }
		}
		host, portStr, _ := net.SplitHostPort(local)
		port, _ := strconv.Atoi(portStr)
		if s.host == "" {
			s.host = host
			s.mediaHost = s.cfg.SIP.MediaAddress
			if s.mediaHost == "" {
				s.mediaHost = host
			}
		}
		if s.client == nil {
			if s.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(host)); err != nil {
				return fmt.Errorf("sip client: %w", err)
			}
			s.closers = append(s.closers, s.client.Close)
		}
		contact := sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "hotlined", Host: host, Port: port}}
		if transport != "udp" {
			contact.Address.UriParams = sipmsg.NewParams()
			contact.Address.UriParams.Add("transport", transport)
		}
		s.dialogs[transport] = &sipgo.DialogUA{Client: s.client, ContactHDR: contact}
		s.addrs = append(s.addrs, transport+":"+local)
		serves = append(serves, serve)
	}
	// Serve only once every listener's state is built: handlers read it.
	for i, serve := range serves {
		go func() {
			if err := serve(); err != nil && s.ctx.Err() == nil {
				s.log.Debug().Err(err).Str("listen", s.addrs[i]).Msg("sip listener stopped")
			}
		}()
		s.log.Info().Str("listen", s.addrs[i]).Msg("sip listening")
	}
	return nil
}

// Addrs are the opened listeners as transport:host:port.
func (s *Server) Addrs() []string { return s.addrs }

// Drain makes new INVITEs get 503 while calls in progress go on.
func (s *Server) Drain() { s.draining.Store(true) }

// Shutdown refuses new calls, waits for calls in progress until ctx ends,
// then closes the listeners.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	// A counter polled, not a WaitGroup: an INVITE racing the drain may
	// still add a call while we wait.
	for s.activeCalls.Load() > 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	var errs []error
	if s.activeCalls.Load() > 0 {
		// Grace is over: end the remaining calls ourselves, with BYE.
		n := 0
		s.calls.Range(func(_, v any) bool {
			n++
			go s.hangUp(v.(*call))
			return true
		})
		for deadline := time.Now().Add(2 * time.Second); s.activeCalls.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		errs = append(errs, fmt.Errorf("sip shutdown: hung up %d calls still in progress after the grace period", n))
	}
	if s.cancel != nil {
		s.cancel()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// guard answers 403 to requests from outside sip.trusted_sources.
func (s *Server) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if !s.limiter.allow(sourceHost(req.Source())) {
			s.metrics.limited.Inc()
			if req.IsInvite() {
				s.metrics.calls.WithLabelValues(outcomeUnavailable).Inc()
			}
			s.respond(tx, req, sipmsg.StatusServiceUnavailable, "Rate Limited", retryAfter)
			return
		}
		if !s.isTrusted(req.Source()) {
			s.log.Warn().Str("source", req.Source()).Str("method", string(req.Method)).Msg("request from untrusted source refused")
			if req.IsInvite() {
				s.metrics.calls.WithLabelValues(outcomeForbidden).Inc()
			}
			s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
			return
		}
		h(req, tx)
	}
}

func (s *Server) isTrusted(source string) bool {
	if len(s.trusted) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(source)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, reason string, headers ...sipmsg.Header) {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug().Err(err).Int("status", code).Msg("sip respond")
	}
}

// onOptions answers 200, or 503 while shutting down or while Redis is
// down (as /readyz does), so a proxy probing with OPTIONS (Kamailio's
// dispatcher) stops sending calls here.
func (s *Server) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if s.draining.Load() || (s.ready != nil && !s.ready()) {
		s.respond(tx, req, sipmsg.StatusServiceUnavailable, "Service Unavailable", retryAfter)
		return
	}
	s.respond(tx, req, sipmsg.StatusOK, "OK",
		sipmsg.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, UPDATE"),
		sipmsg.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
}

// onCancel handles a CANCEL that matched no INVITE transaction (the
// transaction layer answers the ones that do, with 200 and then 487).
func (s *Server) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

var (
	ivrPathRe  = regexp.MustCompile(`^[0-9*#]{1,32}$`)
	provinceRe = regexp.MustCompile(`^[A-Z]{2,3}$`)
)

// header returns the trimmed value of a header, "" when absent.
func header(req *sipmsg.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// callerNumber is the P-Asserted-Identity user part, else the From user part.
func callerNumber(req *sipmsg.Request) string {
	if v := header(req, "P-Asserted-Identity"); v != "" {
		var uri sipmsg.Uri
		var params sipmsg.HeaderParams
		if _, err := sipmsg.ParseAddressValue(v, &uri, &params); err == nil && uri.User != "" {
			return uri.User
		}
	}
	if from := req.From(); from != nil {
		return from.Address.User
	}
	return ""
}

// zerologWriter lets sipgo's slog output reach our logger.
type zerologWriter struct{ log zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.log.Warn().Str("sipgo", string(p)).Msg("sip stack")
	return len(p), nil
}

// retryAfter is sent with every 503.
var retryAfter = sipmsg.NewHeader("Retry-After", strconv.Itoa(int((30 * time.Second).Seconds())))

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
	// Transfers records transfer outcomes on the orders; nil takes Orders
	// when it implements Transfers, else nothing is recorded.
	Transfers Transfers
}

// Server is the SIP user agent server of the hotline.
type Server struct {
	cfg       *configs.Config
	orders    Orders
	transfers Transfers
	log       zerolog.Logger
	// refusals logs refused requests: a burst of 20 lines a second, the
	// rest only counted in metrics, so a flood does not flood the log.
	refusals zerolog.Logger
	admit    *admission
	tcp      []*guardedListener
	ua       *sipgo.UserAgent
	srv      *sipgo.Server
	client   *sipgo.Client
	dialogs  map[string]*sipgo.DialogUA // by transport
	host     string
	addrs    []string
	closers  []func() error
	calls    sync.Map // dialog id -> *call
	legs     sync.Map // Call-ID of a bridged agent leg -> *leg
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
	// pendingOrders counts the calls whose work order is being written
	// (createOrder): the admission step refuses new calls at
	// sip.max_pending_orders.
	pendingOrders atomic.Int64
	tracer        trace.Tracer
	stackLog      *stackLog
}

type metrics struct {
	calls         *prometheus.CounterVec
	active        prometheus.Gauge
	fallback      *prometheus.CounterVec
	transfers     *prometheus.CounterVec
	limited       prometheus.Counter
	halfOpen      prometheus.GaugeFunc
	pendingOrders prometheus.GaugeFunc
	ackLost       prometheus.Counter
	acceptErr     prometheus.Counter
	tcpRefuse     prometheus.Counter
	rtpDropped    prometheus.Counter
	stackMuted    prometheus.Counter

	transferFailed *prometheus.CounterVec
	rtpRelayed     prometheus.Counter
	bridged        prometheus.Gauge
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
	outcomeBadExtension = "rejected_bad_extension"
	outcomeUnavailable  = "rejected_unavailable"
	outcomeBusy         = "rejected_busy"
	outcomeStorageBusy  = "rejected_storage_busy"
	outcomeHalfOpen     = "rejected_half_open"
	outcomeNoAck        = "no_ack"
)

// New builds the server; Listen starts it.
func New(p Params) (*Server, error) {
	if p.Config == nil || p.Orders == nil || p.Registerer == nil {
		return nil, errors.New("new sip server: Config, Orders and Registerer are required")
	}
	s := &Server{cfg: p.Config, orders: p.Orders, log: p.Logger.With().Str("component", "sip").Logger(),
		ready: p.Ready, prompts: p.Prompts, publicURL: strings.TrimRight(p.Config.HTTP.PublicURL, "/")}
	s.refusals = s.log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second})
	sc := p.Config.SIP
	s.admit = &admission{
		limiter:              newRateLimiter(sc.RatePerSource, sc.BurstPerSource, time.Now),
		proxyLimiter:         newRateLimiter(sc.Proxy.RatePerSource, sc.Proxy.BurstPerSource, time.Now),
		maxHalfOpen:          sc.MaxHalfOpen,
		maxHalfOpenPerSource: sc.MaxHalfOpenPerSource,
		proxyMaxHalfOpen:     sc.Proxy.MaxHalfOpen,
		halfOpen:             map[netip.Addr]int{},
	}
	s.tracer = p.Tracer
	s.transfers = p.Transfers
	if t, ok := p.Orders.(Transfers); ok && s.transfers == nil {
		s.transfers = t
	}
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
	for _, c := range sc.TrustedSources {
		s.admit.trusted = append(s.admit.trusted, netip.MustParsePrefix(c)) // validated by configs
	}
	for _, c := range sc.TrustedProxies {
		s.admit.proxies = append(s.admit.proxies, netip.MustParsePrefix(c)) // validated by configs
	}
	// Every metric is registered as it is made; the first failure stops New.
	var regErr error
	reg := func(c prometheus.Collector) {
		if err := p.Registerer.Register(c); err != nil && regErr == nil {
			regErr = fmt.Errorf("register sip metrics: %w", err)
		}
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg(c)
		return c
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		reg(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		reg(g)
		return g
	}
	gaugeFunc := func(name, help string, f func() float64) prometheus.GaugeFunc {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
		reg(g)
		return g
	}
	s.metrics.calls = counterVec("hotlined_sip_calls_total",
		"Hotline calls by outcome.", "outcome")
	s.metrics.active = gauge("hotlined_sip_active_calls",
		"Calls currently in progress.")
	s.metrics.fallback = counterVec("hotlined_ivr_fallback_total",
		"Calls that failed the menu and went to the fallback leaf, by reason.", "reason")
	s.metrics.transfers = counterVec("hotlined_sip_transfers_total",
		"How calls left the IVR: accepted, refused, failed, resolved_in_ivr, no_transfer.", "result")
	s.metrics.limited = counter("hotlined_sip_rate_limited_total",
		"Requests refused by the per-source rate limit.")
	s.metrics.pendingOrders = gaugeFunc("hotlined_sip_orders_pending",
		"Calls whose work order is being written (waiting on Redis); at sip.max_pending_orders new INVITEs get 503.",
		func() float64 { return float64(s.pendingOrders.Load()) })
	s.metrics.halfOpen = gaugeFunc("hotlined_sip_half_open_calls",
		"Calls ringing or answered whose INVITE has not been ACKed yet.",
		func() float64 { return float64(s.admit.halfOpenCount()) })
	s.metrics.ackLost = counter("hotlined_sip_ack_timeouts_total",
		"Answered INVITEs whose ACK did not come within sip.ack_timeout; their slots were freed.")
	s.metrics.acceptErr = counter("hotlined_sip_accept_errors_total",
		"Failed TCP/TLS accepts (e.g. EMFILE), each retried after a backoff.")
	s.metrics.tcpRefuse = counter("hotlined_sip_tcp_refused_total",
		"TCP/TLS connections closed at once: their source had its cap of connections open.")
	s.metrics.rtpDropped = counter("hotlined_sip_rtp_dropped_total",
		"RTP packets dropped because they came from another address than the call's media (symmetric RTP latching).")
	s.metrics.stackMuted = counter("hotlined_sip_stack_log_suppressed_total",
		"Log lines of the SIP library dropped by its rate limit.")
	s.metrics.transferFailed = counterVec("hotlined_sip_transfers_failed_total",
		"Transfers to an agent that failed, by mode (bridge, refer) and reason (busy, no_answer, refused, error, caller_hung_up, refused_NNN).", "mode", "reason")
	s.metrics.rtpRelayed = counter("hotlined_sip_rtp_relayed_total",
		"RTP packets relayed between the legs of bridged calls, both ways.")
	s.metrics.bridged = gauge("hotlined_sip_bridged_calls",
		"Calls bridged to an agent now (bridge transfer mode).")
	// The series an alert rule watches exist from the start, at 0, not
	// only after the first failure.
	for _, mode := range []string{configs.TransferBridge, configs.TransferRefer} {
		for _, reason := range []string{workorder.TransferBusy, workorder.TransferNoAnswer, workorder.TransferRefused,
			workorder.TransferError, workorder.TransferCallerHungUp} {
			s.metrics.transferFailed.WithLabelValues(mode, reason)
		}
	}
	for _, outcome := range []string{outcomeOrderCreated, outcomeOrderUrged, outcomeOrderFailed, outcomeUnavailable,
		outcomeStorageBusy, outcomeBusy} {
		s.metrics.calls.WithLabelValues(outcome)
	}
	s.stackLog = newStackLog(s.log, s.metrics.stackMuted)
	if regErr != nil {
		return nil, regErr
	}
	return s, nil
}

// Listen opens every configured listener and starts serving. Port 0 picks a
// free port; Addrs reports what was opened.
func (s *Server) Listen(ctx context.Context) error {
	parser := sipmsg.NewParser()
	parser.MaxMessageLength = s.cfg.SIP.MaxMessageBytes
	// sipgo logs through log/slog, sometimes with whole raw messages: every
	// logger it takes goes through stackLog (masked, cut, rate limited).
	stack := slog.New(s.stackLog)
	setStackDefault.Do(func() { sipmsg.SetDefaultLogger(stack) })
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(s.cfg.SIP.UserAgent), sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(stack)),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(stack)))
	if err != nil {
		return fmt.Errorf("sip user agent: %w", err)
	}
	s.ua = ua
	s.closers = append(s.closers, ua.Close)
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(stack)); err != nil {
		return fmt.Errorf("sip server: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.dialogs = map[string]*sipgo.DialogUA{}
	s.srv.OnInvite(s.screen(s.onInvite))
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.screen(s.onBye))
	s.srv.OnInfo(s.screen(s.onInfo))
	s.srv.OnOptions(s.screen(s.onOptions))
	s.srv.OnCancel(s.screen(s.onCancel))
	s.srv.OnNotify(s.screen(s.onNotify))
	s.srv.OnUpdate(s.screen(s.answerInDialog))
	// Methods we do not handle (REGISTER, MESSAGE, SUBSCRIBE, ...) pass the
	// same screen: an untrusted or flooding source gets 403/503, not 405.
	s.srv.OnNoRoute(s.screen(s.notAllowed))

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
			inner, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("sip listen %s: %w", l, err)
			}
			ln := s.guard(inner, true)
			s.closers = append(s.closers, ln.Close)
			local, serve = ln.Addr().String(), func() error { return s.srv.ServeTCP(ln) }
		case "tls":
			cert, err := tls.LoadX509KeyPair(s.cfg.SIP.TLSCertFile, s.cfg.SIP.TLSKeyFile)
			if err != nil {
				return fmt.Errorf("sip tls certificate: %w", err)
			}
			inner, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("sip listen %s: %w", l, err)
			}
			ln := tls.NewListener(s.guard(inner, false), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
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
			if s.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientLogger(stack)); err != nil {
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
				s.log.Error().Err(err).Str("listen", s.addrs[i]).Msg("sip listener stopped")
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

// guard wraps a TCP listener: per-source connection caps, idle and
// message-head timeouts (head only when the bytes are plain SIP, not TLS),
// and accept errors survived.
func (s *Server) guard(inner net.Listener, plain bool) *guardedListener {
	sc := s.cfg.SIP
	l := &guardedListener{Listener: inner, log: s.log, idle: sc.TCPIdleTimeout.D(),
		errs: s.metrics.acceptErr, refused: s.metrics.tcpRefuse, conns: map[netip.Addr]int{},
		maxConns: func(ip netip.Addr) int {
			if contains(s.admit.proxies, ip) {
				return sc.Proxy.TCPMaxConns
			}
			return sc.TCPMaxConnsPerSource
		}}
	if plain {
		l.head = sc.TCPHeaderTimeout.D()
	}
	s.tcp = append(s.tcp, l)
	return l
}

// Check reports whether the SIP edge can take calls: an error while a TCP
// listener has failed to accept within the last 30 s (file descriptors
// exhausted), for /readyz.
func (s *Server) Check(context.Context) error {
	for _, l := range s.tcp {
		if l.failing() {
			return fmt.Errorf("sip tcp listener %s: accepts failing (see hotlined_sip_accept_errors_total)", l.Addr())
		}
	}
	return nil
}

// screen wraps every request handler but ACK's. In order: trust (403, so an
// untrusted source is told the truth, not 503), then the rate budget of
// the source (a trusted proxy's own, larger one; requests inside a call we
// hold are not limited, so a busy proxy's NOTIFYs and BYEs get through),
// then the option tags the request Requires (420).
func (s *Server) screen(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		src := s.admit.classify(req.Source())
		if !src.trusted {
			s.refusals.Warn().Str("source", req.Source()).Str("method", string(req.Method)).Msg("request from untrusted source refused")
			if req.IsInvite() {
				s.metrics.calls.WithLabelValues(outcomeForbidden).Inc()
			}
			s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
			return
		}
		if !s.inCall(req) && !s.admit.allow(src) {
			s.metrics.limited.Inc()
			if req.IsInvite() {
				s.metrics.calls.WithLabelValues(outcomeUnavailable).Inc()
			}
			s.respond(tx, req, sipmsg.StatusServiceUnavailable, "Rate Limited", retryAfter)
			return
		}
		if tags := unsupportedRequired(req); len(tags) > 0 {
			// No 100rel, no session timers: refuse rather than pretend
			// (RFC 3261 8.2.2.3). With 100rel refused we never send an
			// unreliable 180 to a peer that required reliable ones.
			if req.IsInvite() {
				s.metrics.calls.WithLabelValues(outcomeBadExtension).Inc()
			}
			s.respond(tx, req, sipmsg.StatusBadExtension, "Bad Extension",
				sipmsg.NewHeader("Unsupported", strings.Join(tags, ", ")))
			return
		}
		h(req, tx)
	}
}

// inCall reports whether req belongs to a call we hold (its To tag is
// ours).
func (s *Server) inCall(req *sipmsg.Request) bool {
	if to := req.To(); to == nil || !to.Params.Has("tag") {
		return false
	}
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	if err != nil {
		return false
	}
	_, ok := s.calls.Load(id)
	return ok
}

// unavailable says why a new call would get 503 now ("" if it would not):
// draining, at sip.max_calls, at sip.max_pending_orders work orders
// waiting on Redis, or storage unreachable. OPTIONS answers 503
// for the same reasons, so a load balancer stops sending.
func (s *Server) unavailable() (outcome, reason string) {
	switch {
	case s.draining.Load():
		return outcomeUnavailable, "Shutting Down"
	case s.activeCalls.Load() >= int64(s.cfg.SIP.MaxCalls):
		return outcomeBusy, "Too Many Calls"
	case s.pendingOrders.Load() >= int64(s.cfg.SIP.MaxPendingOrders):
		// Redis is behind: answering more calls would only hang them up
		// without an order when their write times out.
		return outcomeStorageBusy, "Storage Busy"
	case s.ready != nil && !s.ready():
		// No half-made work order: without Redis the call cannot be kept.
		return outcomeUnavailable, "Storage Unavailable"
	}
	return "", ""
}

func (s *Server) respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, reason string, headers ...sipmsg.Header) {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug().Err(err).Int("status", code).Msg("sip respond")
	}
	if code >= 300 && req.IsInvite() {
		// One answer per refused request: no retransmissions of the final
		// response to a source that may be spoofed (RFC 3261 17.2.1 would
		// repeat it until an ACK, 11 times over UDP). A lost answer is
		// answered again when the INVITE is retransmitted.
		tx.Terminate()
	}
}

// onOptions answers 200, or 503 while shutting down or while Redis is
// down (as /readyz does), so a proxy probing with OPTIONS (Kamailio's
// dispatcher) stops sending calls here.
func (s *Server) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, reason := s.unavailable(); reason != "" {
		s.respond(tx, req, sipmsg.StatusServiceUnavailable, reason, retryAfter)
		return
	}
	s.respond(tx, req, sipmsg.StatusOK, "OK",
		allowHeader,
		sipmsg.NewHeader("Accept", "application/sdp, multipart/mixed, application/dtmf-relay, application/dtmf"))
}

// notAllowed answers a method we do not handle with 405 and our Allow.
func (s *Server) notAllowed(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.respond(tx, req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed", allowHeader)
}

// allowHeader lists the methods we handle.
var allowHeader = sipmsg.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, UPDATE")

// onCancel handles a CANCEL that matched no INVITE transaction (the
// transaction layer answers the ones that do, with 200 and then 487).
func (s *Server) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

var (
	ivrPathRe = regexp.MustCompile(`^[0-9*#]{1,32}$`)
)

// header returns the trimmed value of a header, "" when absent.
func header(req *sipmsg.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// setStackDefault sets sipgo's process-wide default logger (used by a few
// of its functions that take no logger) once, to the first server's.
var setStackDefault sync.Once

// retryAfter is sent with every 503.
var retryAfter = sipmsg.NewHeader("Retry-After", strconv.Itoa(int((30 * time.Second).Seconds())))

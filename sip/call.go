package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/ivr"
	"github.com/hotlined/hotlined/workorder"
)

// call is one hotline call in progress. Its menu walk, order and transfer
// run in one goroutine (run); SIP handlers talk to it through channels.
type call struct {
	id       string // SIP Call-ID
	dlg      *sipgo.DialogServerSession
	hotline  *configs.Hotline
	province string
	caller   string
	media    *media
	keys     chan byte // the one digit stream: RFC 4733, INFO
	notify   chan int  // status codes of the transfer's NOTIFY sipfrags
	session  *ivr.Session
	log      zerolog.Logger
	span     trace.Span // sip.call: the root of the call's trace

	mu    sync.Mutex
	acked bool // an ACK (or a BYE, which implies our 200 arrived)
	// awaitingAnswer: our 2xx to an offerless INVITE or re-INVITE carried
	// the offer; the answer comes in the ACK (RFC 3261 13.2.1).
	awaitingAnswer bool
	sdp            sdpState
	// releaseHalfOpen gives back the half-open reservation: on ACK (or a
	// BYE, which implies it), or when the call ends.
	releaseHalfOpen func()
	unconfirmed     bool // no ACK came: counted as no_ack, not abandoned
	ordering        bool // the menu reached a leaf: the order is being or was created
	orderID         string

	finishOnce sync.Once
}

func (s *Server) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	log := s.log.With().Str("call_id", callID).Logger()

	if to := req.To(); to != nil && to.Params.Has("tag") {
		// A re-INVITE inside a dialog: keep the call and our media as they are.
		s.answerInDialog(req, tx)
		return
	}
	reject := func(outcome string, code int, reason string, headers ...sipmsg.Header) {
		s.metrics.calls.WithLabelValues(outcome).Inc()
		s.refusals.Info().Str("call_id", callID).Int("status", code).Str("reason", reason).Msg("call refused")
		s.respond(tx, req, code, reason, headers...)
	}
	if outcome, reason := s.unavailable(); reason != "" {
		reject(outcome, sipmsg.StatusServiceUnavailable, reason, retryAfter)
		return
	}

	d := admitInvite(s.cfg, s.ivrOptions, req, time.Now())
	if d.code != 0 {
		if d.code >= 500 {
			log.Error().Err(d.why).Msg("invite refused by our own fault")
		} else if d.why != nil {
			log.Info().Err(d.why).Msg("invite refused")
		}
		reject(d.outcome, d.code, d.reason)
		return
	}
	hl, province, caller, path, session, offer := d.hotline, d.province, d.caller, d.path, d.session, d.offer
	src := s.admit.classify(req.Source())
	releaseHalfOpen, ok := s.admit.acquireHalfOpen(src)
	if !ok {
		reject(outcomeHalfOpen, sipmsg.StatusServiceUnavailable, "Too Many Unanswered Calls", retryAfter)
		return
	}
	keys := make(chan byte, 32)
	_, span := s.tracer.Start(context.Background(), "sip.call", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("sip.call_id", callID), attribute.String("hotline", hl.Number),
			attribute.String("tier", hl.Tier), attribute.String("province", province)))
	clog := log.With().Str("hotline", hl.Number).Str("caller", workorder.Mask(caller)).
		Str("trace_id", span.SpanContext().TraceID().String()).Logger()
	m, err := openMedia(s.mediaHost, s.rtpLo, s.rtpHi, keys, clog)
	if err != nil {
		releaseHalfOpen()
		span.End()
		log.Error().Err(err).Msg("open rtp socket")
		reject(outcomeUnavailable, sipmsg.StatusServiceUnavailable, "No Media Port", retryAfter)
		return
	}
	m.signalling, m.dropped = src.ip, s.metrics.rtpDropped
	st := newSDPState()
	sdpBody, err := st.describe(s.mediaHost, m.Port(), offer)
	if err != nil {
		releaseHalfOpen()
		span.End()
		m.Close()
		log.Error().Err(err).Msg("build sdp")
		reject(outcomeUnavailable, sipmsg.StatusInternalServerError, "SDP Error")
		return
	}
	dialogs, ok := s.dialogs[strings.ToLower(req.Transport())]
	if !ok {
		dialogs = s.dialogs["udp"]
	}
	dlg, err := dialogs.ReadInvite(req, tx)
	if err != nil {
		releaseHalfOpen()
		span.End()
		m.Close()
		reject(outcomeBadRequest, sipmsg.StatusBadRequest, "Bad INVITE")
		return
	}
	c := &call{id: callID, dlg: dlg, hotline: hl, province: province, caller: caller, media: m,
		keys: keys, notify: make(chan int, 8), session: session, log: clog, span: span,
		awaitingAnswer: offer == nil, sdp: st, releaseHalfOpen: releaseHalfOpen}
	if offer != nil {
		m.negotiated(*offer)
	}
	s.calls.Store(dlg.ID, c)
	s.activeCalls.Add(1)
	s.metrics.active.Inc()
	go m.read()
	c.log.Info().Str("ivr_path", path).Str("province", province).Msg("call arrived")

	if s.answer(c, tx, sdpBody) {
		go s.run(c)
	}
}

// answer rings (sip.answer_delay), sends the 200 with our SDP and waits
// for the ACK. It reports whether the call is confirmed; if not, the call
// is released: cancelled while ringing, or no ACK within sip.ack_timeout
// (the transaction ends and the slot is freed at once; no BYE goes to a
// source that never confirmed it is there).
func (s *Server) answer(c *call, tx sipmsg.ServerTransaction, sdpBody []byte) bool {
	dlg := c.dlg
	if d := s.cfg.SIP.AnswerDelay.D(); d > 0 {
		if err := dlg.Respond(sipmsg.StatusRinging, "Ringing", nil); err == nil {
			select {
			case <-time.After(d):
			case <-dlg.Context().Done(): // CANCEL: the transaction layer answered 487
				c.log.Info().Msg("caller cancelled before the answer")
				s.finish(c)
				return false
			}
		}
	}
	var noAck atomic.Bool
	ackTimer := time.AfterFunc(s.cfg.SIP.AckTimeout.D(), func() {
		c.mu.Lock()
		acked := c.acked
		c.unconfirmed = !acked
		c.mu.Unlock()
		if !acked && noAck.CompareAndSwap(false, true) {
			s.metrics.ackLost.Inc()
			s.metrics.calls.WithLabelValues(outcomeNoAck).Inc()
			tx.Terminate()
			s.finish(c)
		}
	})
	err := dlg.RespondSDP(sdpBody)
	ackTimer.Stop()
	c.mu.Lock()
	// An ACK followed at once by BYE can end the dialog before RespondSDP
	// sees it confirmed: the ACK itself is what counts.
	answered := c.acked
	c.mu.Unlock()
	switch {
	case noAck.Load() && !answered:
		c.log.Info().Msg("no ACK for our answer: call dropped")
		c.dlg.Close()
		return false
	case err != nil && !answered:
		c.log.Info().Err(err).Msg("call not confirmed: cancelled or no ACK")
		s.hangUp(c)
		s.finish(c)
		return false
	}
	return true
}

// run walks the menu, takes the order and leaves the IVR: transfer,
// goodbye or resolved, then BYE. It releases the call when it ends.
func (s *Server) run(c *call) {
	defer s.finish(c)
	ctx := c.dlg.Context()
	if !s.walkMenu(ctx, c) {
		return // the caller hung up before a leaf: abandoned (see finish)
	}
	leaf := *c.session.Leaf()
	target, mode := s.cfg.Transfer(&leaf)
	leaf.Transfer = target // the order records where the call goes
	o := s.createOrder(c, workorder.Intake{
		CallID: c.id, Hotline: c.hotline.Number, Tier: c.hotline.Tier, Province: c.province,
		Caller: c.caller, ServiceNumber: c.session.ServiceNumber(), IVRPath: c.session.Path(), Leaf: leaf,
	})
	if o == nil {
		s.hangUp(c)
		return
	}
	if ctx.Err() != nil {
		return // the order is taken; the caller is gone
	}
	switch {
	case leaf.ResolveInIVR:
		s.play(ctx, c, "resolved")
		s.metrics.transfers.WithLabelValues("resolved_in_ivr").Inc()
	case target == "":
		s.goodbye(ctx, c, o.ID)
		s.metrics.transfers.WithLabelValues("no_transfer").Inc()
	default:
		s.play(ctx, c, "transfer")
		if ctx.Err() != nil {
			return // the caller hung up during the prompt: no transfer into an ended dialog
		}
		if !s.transfer(ctx, c, o, target, mode) {
			s.goodbye(ctx, c, o.ID)
		}
	}
	s.hangUp(c)
}

// walkMenu plays prompts and feeds digits and timeouts to the menu until it
// reaches a leaf (true) or the call ends (false).
func (s *Server) walkMenu(ctx context.Context, c *call) bool {
	sess := c.session
	for !sess.Done() {
		if name := sess.Prompt(); name != "" {
			p := s.prompts[name]
			if p == nil {
				c.log.Warn().Str("prompt", name).Msg("prompt file missing: skipped")
				sess.PromptDone(time.Now())
				continue
			}
			playCtx, cancel := context.WithCancel(ctx)
			done := make(chan bool, 1)
			go func() { done <- c.media.Play(playCtx, p) }()
			select {
			case key := <-c.keys: // barge-in
				cancel()
				<-done
				s.press(c, key)
			case finished := <-done:
				cancel()
				if finished {
					sess.PromptDone(time.Now())
				}
			case <-ctx.Done():
				cancel()
				<-done
				if !s.keysBeforeHangUp(c) {
					return false
				}
			}
			continue
		}
		var expired <-chan time.Time
		if deadline, ok := sess.Deadline(); ok {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			expired = t.C
		}
		select {
		case key := <-c.keys:
			s.press(c, key)
		case <-expired:
			sess.Tick(time.Now())
		case <-ctx.Done():
			if !s.keysBeforeHangUp(c) {
				return false
			}
		}
	}
	c.mu.Lock()
	c.ordering = true
	c.mu.Unlock()
	if sess.Fallback() {
		s.metrics.fallback.WithLabelValues(sess.EndReason().String()).Inc()
		c.log.Info().Str("reason", sess.EndReason().String()).Msg("menu failed: the fallback leaf takes the call")
	}
	return true
}

// keysBeforeHangUp feeds the menu the keys that came before the caller
// hung up and are still buffered (a late menu goroutine finds them and the
// dialog's end ready together, and select picks either): true when they
// reach a leaf, so the caller's choice is taken.
func (s *Server) keysBeforeHangUp(c *call) bool {
	for !c.session.Done() {
		select {
		case key := <-c.keys:
			s.press(c, key)
		default:
			return false
		}
	}
	return true
}

func (s *Server) press(c *call, key byte) {
	r := c.session.PressAt(key, time.Now())
	c.log.Debug().Str("key", string(key)).Str("result", r.String()).Msg("dtmf")
}

// play plays the named prompts, unless the call ends first.
func (s *Server) play(ctx context.Context, c *call, names ...string) {
	var ps []*Prompt
	for _, n := range names {
		if p := s.prompts[n]; p != nil {
			ps = append(ps, p)
		} else {
			c.log.Warn().Str("prompt", n).Msg("prompt file missing: skipped")
		}
	}
	c.media.Play(ctx, ps...)
}

// goodbye thanks the caller and reads out the order's reference digits
// (the sequence number at the end of its id).
func (s *Server) goodbye(ctx context.Context, c *call, orderID string) {
	names := []string{"goodbye"}
	if i := strings.LastIndexByte(orderID, '-'); i >= 0 {
		for _, d := range orderID[i+1:] {
			names = append(names, "digit_"+string(d))
		}
	}
	s.play(ctx, c, names...)
}

// answerInDialog answers a re-INVITE or UPDATE of a known dialog so a
// session refresh or hold does not drop the call. An offer is answered
// with the direction RFC 3264 6.1 asks (a hold, sendonly, gets recvonly;
// inactive gets inactive) and we stop or resume sending to match. A
// re-INVITE without SDP gets our offer in the 200, its answer comes in the
// ACK (RFC 3261 14.2); an UPDATE without SDP gets a 200 without SDP (RFC
// 3311 5.2, RFC 6337 3.2.1: a session refresh, not an offer).
func (s *Server) answerInDialog(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := s.callOf(req, tx)
	if c == nil {
		return
	}
	body, err := sdpOf(req)
	if err != nil {
		s.respond(tx, req, sipmsg.StatusBadRequest, "Bad SDP")
		return
	}
	var offer *mediaOffer
	if len(body) > 0 {
		m, err := negotiate(body)
		switch {
		case errors.Is(err, ErrNoCodec):
			s.respond(tx, req, sipmsg.StatusNotAcceptableHere, "No Common Codec (PCMU, PCMA)")
			return
		case err != nil:
			s.respond(tx, req, sipmsg.StatusBadRequest, "Bad SDP")
			return
		}
		offer = &m
	}
	if offer == nil && !req.IsInvite() {
		s.respond(tx, req, sipmsg.StatusOK, "OK")
		return
	}
	c.mu.Lock()
	answer, err := c.sdp.describe(s.mediaHost, c.media.Port(), offer)
	if offer == nil {
		c.awaitingAnswer = true
	}
	c.mu.Unlock()
	if err != nil {
		c.log.Error().Err(err).Msg("build sdp")
		s.respond(tx, req, sipmsg.StatusInternalServerError, "SDP Error")
		return
	}
	if offer != nil {
		c.media.negotiated(*offer)
	}
	res := sipmsg.NewSDPResponseFromRequest(req, answer)
	if err := tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Msg("answer in-dialog offer")
	}
}

// callOf finds the call of an in-dialog request, answering 481 if none.
func (s *Server) callOf(req *sipmsg.Request, tx sipmsg.ServerTransaction) *call {
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	if err == nil {
		if v, ok := s.calls.Load(id); ok {
			return v.(*call)
		}
	}
	if tx != nil {
		s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	}
	return nil
}

func (s *Server) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := s.callOf(req, nil)
	if c == nil {
		return // a stray ACK is dropped, as RFC 3261 says
	}
	c.releaseHalfOpen()
	c.mu.Lock()
	c.acked = true
	awaiting := c.awaitingAnswer
	c.awaitingAnswer = false
	c.mu.Unlock()
	if body, err := sdpOf(req); awaiting && err == nil && len(body) > 0 {
		// Late offer: our offer went in the 200; the answer is here.
		if m, err := negotiate(body); err == nil {
			c.media.negotiated(m)
		} else {
			c.log.Info().Err(err).Msg("unusable SDP answer in ACK")
		}
	}
	_ = c.dlg.ReadAck(req, tx)
}

func (s *Server) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if l := s.legOf(req); l != nil {
		// The agent of a bridged call hung up: bridge ends the caller's leg.
		if err := l.dlg.ReadBye(req, tx); err != nil {
			s.log.Debug().Err(err).Msg("read agent's bye")
		}
		return
	}
	c := s.callOf(req, tx)
	if c == nil {
		return
	}
	c.mu.Lock()
	// A BYE in the dialog means the caller had our 200: the call was
	// answered even if its ACK is still on its way (requests are handled
	// concurrently, so a BYE can overtake the ACK).
	c.acked = true
	c.mu.Unlock()
	c.releaseHalfOpen()
	if err := c.dlg.ReadBye(req, tx); err != nil {
		c.log.Debug().Err(err).Msg("read bye")
	}
	c.log.Info().Msg("caller hung up")
}

func (s *Server) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := s.callOf(req, tx)
	if c == nil {
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	key, err := ParseDTMFInfo(ct, req.Body())
	if err != nil {
		c.log.Info().Err(err).Msg("bad INFO body")
		s.respond(tx, req, sipmsg.StatusBadRequest, "Bad DTMF Body")
		return
	}
	// The key is queued before the 200 goes: a caller who hangs up after
	// it finds the key there (keysBeforeHangUp), however late this
	// goroutine ran.
	select {
	case c.keys <- key:
	default:
		c.log.Warn().Msg("digit dropped: the caller types faster than the menu reads")
	}
	s.respond(tx, req, sipmsg.StatusOK, "OK")
}

// onNotify takes the transfer's progress: a message/sipfrag body with the
// status line of the transferee's call to the agent.
func (s *Server) onNotify(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := s.callOf(req, tx)
	if c == nil {
		return
	}
	code, err := parseSipfrag(req.Body())
	if err != nil {
		c.log.Info().Err(err).Msg("bad NOTIFY sipfrag")
		s.respond(tx, req, sipmsg.StatusBadRequest, "Bad Sipfrag")
		return
	}
	s.respond(tx, req, sipmsg.StatusOK, "OK")
	select {
	case c.notify <- code:
	default:
	}
}

// parseSipfrag reads the status code of a message/sipfrag status line,
// "SIP/2.0 200 OK".
func parseSipfrag(body []byte) (int, error) {
	if len(body) > 1024 {
		return 0, errors.New("sipfrag over 1024 bytes")
	}
	line, _, _ := strings.Cut(string(body), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0, fmt.Errorf("sipfrag %q is not a status line", line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 699 {
		return 0, fmt.Errorf("sipfrag status %q", f[1])
	}
	return code, nil
}

// createOrder retries a failing store briefly: the caller is waiting, so a
// short Redis hiccup must not lose the order. It returns nil on failure.
func (s *Server) createOrder(c *call, in workorder.Intake) *workorder.Order {
	s.pendingOrders.Add(1)
	defer s.pendingOrders.Add(-1)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(trace.ContextWithSpan(s.ctx, c.span), 5*time.Second)
		res, err := s.orders.Submit(ctx, in)
		cancel()
		if err == nil {
			o := res.Order
			c.span.SetAttributes(attribute.String("work_order", o.ID), attribute.String("class", o.Class))
			c.mu.Lock()
			c.orderID = o.ID
			c.mu.Unlock()
			if res.Outcome == workorder.OutcomeUrged {
				// The customer's complaint is still being handled: the call
				// goes on with that order, which got an urge.
				s.metrics.calls.WithLabelValues(outcomeOrderUrged).Inc()
				c.log.Info().Str("work_order", o.ID).Int("urges", o.Urges).Msg("open complaint urged")
			} else {
				s.metrics.calls.WithLabelValues(outcomeOrderCreated).Inc()
				c.log.Info().Str("work_order", o.ID).Str("class", o.Class).Msg("work order taken")
			}
			return o
		}
		if attempt == 3 || s.ctx.Err() != nil {
			s.metrics.calls.WithLabelValues(outcomeOrderFailed).Inc()
			c.log.Error().Err(err).Int("attempts", attempt).Msg("work order could not be created; hanging up")
			return nil
		}
		c.log.Warn().Err(err).Int("attempt", attempt).Msg("create work order failed; retrying")
		time.Sleep(backoff)
		backoff *= 4
	}
}

// hangUp ends our side of the call.
func (s *Server) hangUp(c *call) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if err := c.dlg.Bye(ctx); err != nil {
		c.log.Debug().Err(err).Msg("bye")
	}
	c.dlg.Close()
}

// finish releases a call once, whatever ended it.
func (s *Server) finish(c *call) {
	c.finishOnce.Do(func() {
		c.releaseHalfOpen()
		s.calls.Delete(c.dlg.ID)
		c.media.Close()
		defer c.span.End()
		c.mu.Lock()
		abandoned := !c.ordering && !c.unconfirmed
		c.mu.Unlock()
		if abandoned {
			s.metrics.calls.WithLabelValues(outcomeAbandoned).Inc()
			c.log.Info().Msg("call ended before a menu choice: abandoned")
		}
		s.metrics.active.Dec()
		s.activeCalls.Add(-1)
	})
}

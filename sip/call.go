package sip

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/ivr"
	"github.com/hotlined/hotlined/workorder"
)

// call is one hotline call in progress.
type call struct {
	id       string // SIP Call-ID
	dlg      *sipgo.DialogServerSession
	hotline  *configs.Hotline
	province string
	caller   string
	rtp      net.PacketConn
	log      zerolog.Logger

	mu       sync.Mutex
	session  *ivr.Session
	acked    bool // an ACK for our 200 arrived
	answered bool // the caller ACKed our 200 and the INVITE is done
	ordering bool // a work order is being or has been created
	orderID  string
	failed   bool

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
		s.onReinvite(req, tx)
		return
	}
	if s.draining.Load() {
		s.metrics.calls.WithLabelValues(outcomeUnavailable).Inc()
		s.respond(tx, req, sipmsg.StatusServiceUnavailable, "Shutting Down", retryAfter)
		return
	}
	reject := func(outcome string, code int, reason string) {
		s.metrics.calls.WithLabelValues(outcome).Inc()
		log.Info().Int("status", code).Str("reason", reason).Msg("call refused")
		s.respond(tx, req, code, reason)
	}

	hl, ok := s.cfg.Hotline(req.Recipient.User)
	if !ok {
		reject(outcomeNotFound, sipmsg.StatusNotFound, "Not A Hotline Number")
		return
	}
	path, svcNumber, province := header(req, "X-IVR-Path"), header(req, "X-Service-Number"), header(req, "X-Province")
	if path != "" && !ivrPathRe.MatchString(path) {
		reject(outcomeBadRequest, sipmsg.StatusBadRequest, "Bad X-IVR-Path: want up to 32 of 0-9 * #")
		return
	}
	if svcNumber != "" && !ivr.ValidServiceNumber(svcNumber) {
		reject(outcomeBadRequest, sipmsg.StatusBadRequest, "Bad X-Service-Number: want a mobile or fixed-line number")
		return
	}
	if province != "" && !provinceRe.MatchString(province) {
		reject(outcomeBadRequest, sipmsg.StatusBadRequest, "Bad X-Province: want a province code like GD")
		return
	}
	caller := callerNumber(req)
	if hl.Province != configs.ProvinceFromCaller {
		province = hl.Province
	} else if province == "" {
		province = s.cfg.ProvinceOf(caller)
	}

	session := ivr.NewSession(s.cfg.Menus[hl.Menu], caller)
	if path != "" {
		if _, err := session.FeedPath(path); err != nil {
			log.Info().Err(err).Msg("X-IVR-Path does not fit the menu")
			reject(outcomeBadRequest, sipmsg.StatusBadRequest, "X-IVR-Path Does Not Match The Menu")
			return
		}
		if session.Collecting() {
			// An upstream IVR that reached a leaf asking for the service
			// number answered it with X-Service-Number, or meant the caller's.
			session.SetServiceNumber(svcNumber)
		}
	}

	var offer *media
	if body := req.Body(); len(body) > 0 {
		m, err := negotiate(body)
		switch {
		case errors.Is(err, ErrNoCodec):
			reject(outcomeNoCodec, sipmsg.StatusNotAcceptableHere, "No Common Codec (PCMU, PCMA)")
			return
		case err != nil:
			reject(outcomeBadRequest, sipmsg.StatusBadRequest, "Bad SDP")
			return
		}
		offer = &m
	}
	rtp, err := net.ListenPacket("udp", net.JoinHostPort(s.host, "0"))
	if err != nil {
		log.Error().Err(err).Msg("open rtp socket")
		reject(outcomeUnavailable, sipmsg.StatusServiceUnavailable, "No Media Port")
		return
	}
	sdpBody, err := describe(s.host, rtp.LocalAddr().(*net.UDPAddr).Port, offer)
	if err != nil {
		rtp.Close()
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
		rtp.Close()
		reject(outcomeBadRequest, sipmsg.StatusBadRequest, "Bad INVITE")
		return
	}
	c := &call{id: callID, dlg: dlg, hotline: hl, province: province, caller: caller, rtp: rtp,
		session: session, log: log.With().Str("hotline", hl.Number).Str("caller", workorder.Mask(caller)).Logger()}
	s.calls.Store(dlg.ID, c)
	s.active.Add(1)
	s.metrics.active.Inc()
	go c.drainRTP()
	c.log.Info().Str("ivr_path", path).Str("province", province).Msg("call answered")

	err = dlg.RespondSDP(sdpBody)
	c.mu.Lock()
	// An ACK followed at once by BYE can end the dialog before RespondSDP
	// sees it confirmed: the ACK itself is what counts.
	c.answered = c.acked
	c.mu.Unlock()
	if err != nil && !c.answered {
		// No ACK, or the caller cancelled first.
		c.log.Info().Err(err).Msg("call not confirmed")
		s.hangUp(c)
		s.finish(c)
		return
	}
	// Decide about the order before watching for the end of the call, so a
	// caller who hangs up right after reaching a leaf is not abandoned.
	s.maybeCreateOrder(c)
	go func() {
		<-dlg.Context().Done()
		s.finish(c)
	}()
}

// onReinvite answers a re-INVITE of a known dialog; media changes arrive
// with the RTP work.
func (s *Server) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	v, ok := s.calls.Load(id)
	if err != nil || !ok {
		s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c := v.(*call)
	res := sipmsg.NewSDPResponseFromRequest(req, c.dlg.InviteResponse.Body())
	if err := tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Msg("answer re-INVITE")
	}
}

func (s *Server) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	if err != nil {
		return
	}
	if v, ok := s.calls.Load(id); ok {
		c := v.(*call)
		c.mu.Lock()
		c.acked = true
		c.mu.Unlock()
		_ = c.dlg.ReadAck(req, tx) // a stray ACK is dropped, as RFC 3261 says
	}
}

func (s *Server) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	v, ok := s.calls.Load(id)
	if err != nil || !ok {
		s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c := v.(*call)
	c.mu.Lock()
	// A BYE in the dialog means the caller had our 200: the call was
	// answered even if its ACK is still on its way (requests are handled
	// concurrently, so a BYE can overtake the ACK).
	c.acked = true
	c.mu.Unlock()
	if err := c.dlg.ReadBye(req, tx); err != nil {
		c.log.Debug().Err(err).Msg("read bye")
	}
	c.log.Info().Msg("caller hung up")
}

func (s *Server) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	v, ok := s.calls.Load(id)
	if err != nil || !ok {
		s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c := v.(*call)
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
	s.respond(tx, req, sipmsg.StatusOK, "OK")
	c.mu.Lock()
	result := c.session.Press(key)
	c.mu.Unlock()
	c.log.Debug().Str("key", string(key)).Str("result", result.String()).Msg("dtmf")
	s.maybeCreateOrder(c)
}

// maybeCreateOrder creates the work order once the call is answered and the
// menu walk is done, whichever of the two comes last.
func (s *Server) maybeCreateOrder(c *call) {
	c.mu.Lock()
	if !c.answered || c.ordering || !c.session.Done() {
		c.mu.Unlock()
		return
	}
	c.ordering = true
	in := workorder.Intake{
		CallID: c.id, Hotline: c.hotline.Number, Tier: c.hotline.Tier, Province: c.province,
		Caller: c.caller, ServiceNumber: c.session.ServiceNumber(), IVRPath: c.session.Path(),
		Leaf: *c.session.Leaf(),
	}
	c.mu.Unlock()
	go s.createOrder(c, in)
}

// createOrder retries a failing store briefly: the call is live and the
// caller is waiting, so a short Redis hiccup must not lose the order.
func (s *Server) createOrder(c *call, in workorder.Intake) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		o, err := s.orders.Create(ctx, in)
		cancel()
		if err == nil {
			c.mu.Lock()
			c.orderID = o.ID
			c.mu.Unlock()
			s.metrics.calls.WithLabelValues(outcomeOrderCreated).Inc()
			c.log.Info().Str("work_order", o.ID).Str("class", o.Class).Msg("work order taken")
			return
		}
		if attempt == 3 || s.ctx.Err() != nil {
			c.mu.Lock()
			c.failed = true
			c.mu.Unlock()
			s.metrics.calls.WithLabelValues(outcomeOrderFailed).Inc()
			c.log.Error().Err(err).Int("attempts", attempt).Msg("work order could not be created; hanging up")
			s.hangUp(c)
			return
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
		s.calls.Delete(c.dlg.ID)
		c.rtp.Close()
		c.mu.Lock()
		abandoned := !c.ordering
		c.mu.Unlock()
		if abandoned {
			s.metrics.calls.WithLabelValues(outcomeAbandoned).Inc()
			c.log.Info().Msg("call ended before a menu choice: abandoned")
		}
		s.metrics.active.Dec()
		s.active.Done()
	})
}

// drainRTP reads and drops the caller's media until the call ends; the RTP
// session (DTMF events, prompts) is built on this socket.
func (c *call) drainRTP() {
	buf := make([]byte, 1500)
	for {
		if _, _, err := c.rtp.ReadFrom(buf); err != nil {
			return
		}
	}
}

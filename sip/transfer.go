package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/storage"
	"github.com/hotlined/hotlined/workorder"
)

// Transfers records on the order how its call's transfer to an agent went
// (DESIGN "Transfer"); *workorder.Service implements it. When Params.Orders
// implements it too it is used unless Params.Transfers is set.
//
// Each method names the order (id) and the call (callID, its SIP Call-ID):
// an order takes a call per contact (a complaint urged), and each call's
// transfer has its own outcome, recorded once (workorder.ErrUnchanged for
// a second report of it).
type Transfers interface {
	// TransferPending marks the call's transfer under way until deadline
	// (a sweeper takes it as lost past it).
	TransferPending(ctx context.Context, id, callID string, deadline time.Time) error
	// Transferred: the agent answered (bridge) or the final NOTIFY said 2xx
	// (refer).
	Transferred(ctx context.Context, id, callID, target, mode string) (*workorder.Order, error)
	// TransferFailed: flag, alert and call-back request.
	TransferFailed(ctx context.Context, id, callID, reason string) (*workorder.Order, error)
	// TransferAbandoned: the caller hung up before an agent answered.
	TransferAbandoned(ctx context.Context, id, callID, target, mode string) (*workorder.Order, error)
}

// Transfer results, the label of hotlined_sip_transfers_total besides
// resolved_in_ivr and no_transfer; all but accepted are failed transfers,
// whose reason is the label of hotlined_sip_transfers_failed_total.
const (
	transferAccepted = "accepted"
	transferRefused  = "refused" // a final refusal: REFER non-2xx, or the agent side's 4xx-6xx
	transferFailed   = "failed"  // no response, unreachable target, bad URI
)

// pendingMargin is added to sip.transfer_timeout for the pending mark: the
// "transfer" prompt plays first, and a CANCEL may take a while.
const pendingMargin = time.Minute

// transfer takes the call to target by mode and records the outcome on o:
// Transferred when an agent has it, TransferFailed (flag, alert, call-back)
// otherwise. It reports whether an agent took the call; in bridge mode it
// returns once the bridged call has ended on either side.
func (s *Server) transfer(ctx context.Context, c *call, o *workorder.Order, target, mode string) bool {
	log := c.log.With().Str("work_order", o.ID).Str("mode", mode).Str("to", target).Logger()
	if s.transfers != nil {
		rctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		if err := s.transfers.TransferPending(rctx, o.ID, c.id, time.Now().Add(s.cfg.SIP.TransferTimeout.D()+pendingMargin)); err != nil {
			log.Warn().Err(err).Msg("pending transfer not marked: a crash now would go unnoticed")
		}
		cancel()
	}
	var result, reason string
	answered := func() { s.recordTransfer(log, c.id, o, target, mode, transferAccepted, "") }
	if mode == configs.TransferRefer {
		result, reason = s.refer(ctx, log, c, o, target)
		if result == transferAccepted {
			answered()
		}
	} else {
		result, reason = s.bridge(ctx, log, c, o, target, answered)
	}
	s.metrics.transfers.WithLabelValues(result).Inc()
	if result != transferAccepted {
		s.recordTransfer(log, c.id, o, target, mode, result, reason)
	}
	return result == transferAccepted
}

// recordTransfer writes the outcome of call callID's transfer on the
// order, with a bounded context of its own: the call may be gone already.
func (s *Server) recordTransfer(log zerolog.Logger, callID string, o *workorder.Order, target, mode, result, reason string) {
	switch {
	case reason == workorder.TransferCallerHungUp:
		s.metrics.transferFailed.WithLabelValues(mode, reason).Inc()
		log.Info().Msg("the caller hung up before an agent answered")
	case result != transferAccepted:
		s.metrics.transferFailed.WithLabelValues(mode, reason).Inc()
		log.Warn().Str("result", result).Str("reason", reason).Msg("transfer failed")
	default:
		log.Info().Msg("call transferred")
	}
	if s.transfers == nil {
		return
	}
	write := func() error {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		defer cancel()
		var err error
		switch {
		case result == transferAccepted:
			_, err = s.transfers.Transferred(ctx, o.ID, callID, target, mode)
		case reason == workorder.TransferCallerHungUp:
			_, err = s.transfers.TransferAbandoned(ctx, o.ID, callID, target, mode)
		default:
			_, err = s.transfers.TransferFailed(ctx, o.ID, callID, reason)
		}
		return err
	}
	// Redis down for a moment must not lose the outcome (a failed
	// transfer's call-back): retried while storage cannot serve, for up
	// to recordFor; the call stays in progress meanwhile, so a shutdown
	// waits for it.
	backoff, deadline := 250*time.Millisecond, time.Now().Add(recordFor)
	err := write()
	for storage.Unavailable(err) && time.Now().Add(backoff).Before(deadline) && s.ctx.Err() == nil {
		log.Warn().Err(err).Str("result", result).Msg("transfer outcome not recorded yet: retrying")
		select {
		case <-s.ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 4*time.Second)
		err = write()
	}
	if err != nil && !errors.Is(err, workorder.ErrUnchanged) {
		log.Error().Err(err).Str("result", result).Msg("transfer outcome not recorded on the order")
	}
}

// recordFor bounds the retries of a transfer outcome's write.
const recordFor = 20 * time.Second

// failureReason names a final status of the agent side: busy (486, 600),
// no_answer (408, 480, 487), else refused_NNN.
func failureReason(code int) string {
	switch code {
	case sipmsg.StatusBusyHere, 600:
		return workorder.TransferBusy
	case sipmsg.StatusRequestTimeout, sipmsg.StatusTemporarilyUnavailable, sipmsg.StatusRequestTerminated:
		return workorder.TransferNoAnswer
	}
	return "refused_" + strconv.Itoa(code)
}

// workOrderHeaders are the screen-pop headers (DESIGN "Transfer").
func (s *Server) workOrderHeaders(o *workorder.Order) (id, class, priority, callInfo string) {
	return o.ID, o.Class, strconv.Itoa(o.Priority), fmt.Sprintf("<%s/ui/workorders/%s>;purpose=info", s.publicURL, o.ID)
}

// refer sends REFER to the caller's side with the order in the Refer-To
// URI's headers (X-Work-Order-ID, X-Work-Order-Class, X-Priority), a
// Referred-By (RFC 3892) and a Call-Info screen-pop link, and waits up to
// sip.transfer_timeout for the NOTIFY whose sipfrag gives the final status
// of the transferee's call to the agent (RFC 3515 2.4.5). It returns the
// result and, unless accepted, the reason.
func (s *Server) refer(ctx context.Context, log zerolog.Logger, c *call, o *workorder.Order, to string) (result, reason string) {
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(to, &target); err != nil {
		log.Error().Err(err).Msg("bad transfer uri")
		return transferFailed, workorder.TransferError
	}
	id, class, priority, callInfo := s.workOrderHeaders(o)
	target.Headers = sipmsg.NewParams()
	target.Headers.Add("X-Work-Order-ID", id)
	target.Headers.Add("X-Work-Order-Class", class)
	target.Headers.Add("X-Priority", priority)
	req := sipmsg.NewRequest(sipmsg.REFER, c.dlg.InviteRequest.Contact().Address)
	req.AppendHeader(sipmsg.NewHeader("Refer-To", "<"+target.String()+">"))
	req.AppendHeader(sipmsg.NewHeader("Referred-By", "<sip:"+c.hotline.Number+"@"+s.mediaHost+">"))
	req.AppendHeader(sipmsg.NewHeader("Call-Info", callInfo))
	rctx, cancel := context.WithTimeout(ctx, s.cfg.SIP.TransferTimeout.D())
	defer cancel()
	res, err := c.dlg.Do(rctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return transferFailed, workorder.TransferCallerHungUp
		}
		log.Warn().Err(err).Msg("REFER got no answer")
		return transferFailed, workorder.TransferError
	}
	if !res.IsSuccess() {
		log.Info().Int("status", res.StatusCode).Msg("REFER refused")
		return transferRefused, workorder.TransferRefused
	}
	for {
		select {
		case code := <-c.notify:
			switch {
			case code < 200:
				continue
			case code < 300:
				return transferAccepted, ""
			default:
				log.Info().Int("status", code).Msg("transfer failed at the agent side")
				return transferRefused, failureReason(code)
			}
		case <-rctx.Done():
			if ctx.Err() != nil {
				// The transferee left our leg after accepting the REFER
				// without a failure NOTIFY: what RFC 5589 (6.1) has it do
				// once its call to the target stands.
				log.Info().Msg("the caller's side ended our leg after accepting the REFER")
				return transferAccepted, ""
			}
			log.Warn().Msg("no final NOTIFY for the transfer")
			return transferFailed, workorder.TransferNoAnswer
		}
	}
}

// leg is the agent's side of a bridged call, found by its Call-ID when the
// agent sends BYE.
type leg struct {
	dlg *sipgo.DialogClientSession
}

// bridge calls target itself as a B2BUA (RFC 7092): an INVITE from the
// caller's number with X-Work-Order-ID, X-Work-Order-Class, X-Priority and
// Call-Info as real headers, offering the caller's codec (and
// telephone-event) on a media port of our own. Ringing is bounded by
// sip.transfer_timeout (then CANCEL: no_answer). On answer it ACKs, calls
// answered, and relays RTP between the two legs unchanged (symmetric,
// latched on each side) until either side hangs up; then it ends the
// other. It returns the result and, unless accepted, the reason.
func (s *Server) bridge(ctx context.Context, log zerolog.Logger, c *call, o *workorder.Order, to string, answered func()) (result, reason string) {
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(to, &target); err != nil {
		log.Error().Err(err).Msg("bad transfer uri")
		return transferFailed, workorder.TransferError
	}
	transport := "udp"
	if target.UriParams != nil {
		if t, ok := target.UriParams.Get("transport"); ok && t != "" {
			transport = strings.ToLower(t)
		}
	}
	dialogs, ok := s.dialogs[transport]
	if !ok {
		log.Error().Str("transport", transport).Msg("no listener for the transfer target's transport")
		return transferFailed, workorder.TransferError
	}
	am, err := openMedia(s.mediaHost, s.rtpLo, s.rtpHi, nil, log.With().Str("leg", "agent").Logger())
	if err != nil {
		log.Error().Err(err).Msg("open rtp socket for the agent leg")
		return transferFailed, workorder.TransferError
	}
	defer am.Close()
	am.dropped, am.relayed = s.metrics.rtpDropped, s.metrics.rtpRelayed
	callerMedia := c.media.agreed()
	offerSide := mediaOffer{codec: callerMedia.codec, dtmfPT: callerMedia.dtmfPT}
	if offerSide.codec.name == "" {
		offerSide.codec = supported[0] // no SDP agreed with the caller yet: offer ours
	}
	body, err := describe(s.mediaHost, am.Port(), &offerSide)
	if err != nil {
		log.Error().Err(err).Msg("build sdp for the agent leg")
		return transferFailed, workorder.TransferError
	}

	req := sipmsg.NewRequest(sipmsg.INVITE, target)
	if transport != "udp" {
		req.SetTransport(strings.ToUpper(transport))
	}
	user := c.caller
	if user == "" {
		user = "anonymous"
	}
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: user, Host: s.mediaHost}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	req.AppendHeader(from)
	callID := sipmsg.CallIDHeader(uuid.NewString())
	req.AppendHeader(&callID)
	id, class, priority, callInfo := s.workOrderHeaders(o)
	req.AppendHeader(sipmsg.NewHeader("X-Work-Order-ID", id))
	req.AppendHeader(sipmsg.NewHeader("X-Work-Order-Class", class))
	req.AppendHeader(sipmsg.NewHeader("X-Priority", priority))
	req.AppendHeader(sipmsg.NewHeader("Call-Info", callInfo))
	if c.caller != "" {
		req.AppendHeader(sipmsg.NewHeader("P-Asserted-Identity", "<sip:"+c.caller+"@"+s.mediaHost+">"))
	}
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)

	ring, cancel := context.WithTimeout(ctx, s.cfg.SIP.TransferTimeout.D())
	defer cancel()
	dlg, err := dialogs.WriteInvite(ring, req)
	if err != nil {
		log.Warn().Err(err).Msg("INVITE to the agent not sent")
		return transferFailed, workorder.TransferError
	}
	s.legs.Store(string(callID), &leg{dlg: dlg})
	defer s.legs.Delete(string(callID))
	defer dlg.Close()
	if err := dlg.WaitAnswer(ring, sipgo.AnswerOptions{}); err != nil {
		var refused *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &refused):
			log.Info().Int("status", refused.Res.StatusCode).Msg("the agent side refused the call")
			return transferRefused, failureReason(refused.Res.StatusCode)
		case ctx.Err() != nil:
			return transferFailed, workorder.TransferCallerHungUp
		case ring.Err() != nil:
			return transferFailed, workorder.TransferNoAnswer
		default:
			log.Warn().Err(err).Msg("INVITE to the agent got no answer")
			return transferFailed, workorder.TransferError
		}
	}
	if err := dlg.Ack(s.ctx); err != nil {
		log.Warn().Err(err).Msg("ACK to the agent")
	}
	if ans, err := negotiate(dlg.InviteResponse.Body()); err != nil {
		log.Warn().Err(err).Msg("unusable SDP in the agent's answer: hanging up both")
		s.byeLeg(dlg)
		return transferFailed, workorder.TransferError
	} else {
		am.negotiated(ans)
	}
	if ip, err := netip.ParseAddrPort(dlg.InviteResponse.Source()); err == nil {
		am.signalling = ip.Addr().Unmap()
	} else if h, _, err := net.SplitHostPort(dlg.InviteResponse.Source()); err == nil {
		am.signalling, _ = netip.ParseAddr(h)
	}
	answered()
	// Join the legs: each side's packets go out of the other side's socket.
	c.media.peer.Store(am)
	am.peer.Store(c.media)
	defer c.media.peer.Store(nil)
	go am.read()
	s.metrics.bridged.Inc()
	defer s.metrics.bridged.Dec()

	select {
	case <-ctx.Done():
		log.Info().Msg("bridged call: the caller hung up")
		s.byeLeg(dlg)
	case <-dlg.Context().Done():
		log.Info().Msg("bridged call: the agent hung up")
	}
	return transferAccepted, ""
}

// byeLeg ends the agent's leg.
func (s *Server) byeLeg(dlg *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	_ = dlg.Bye(ctx)
}

// legOf finds the bridged agent leg of an in-dialog request (by Call-ID).
func (s *Server) legOf(req *sipmsg.Request) *leg {
	h := req.CallID()
	if h == nil {
		return nil
	}
	if v, ok := s.legs.Load(h.Value()); ok {
		return v.(*leg)
	}
	return nil
}

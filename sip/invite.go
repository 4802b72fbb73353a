package sip

import (
	"errors"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/phone"
	"github.com/hotlined/hotlined/ivr"
)

// inviteDecision is what admitInvite makes of a new INVITE: a refusal
// (code set) or the call to set up.
type inviteDecision struct {
	// Refusal: the SIP status, its reason phrase, the outcome label of
	// hotlined_sip_calls_total, and why, for the log (not sent).
	code    int
	reason  string
	outcome string
	why     error

	hotline  *configs.Hotline
	caller   string // national form, "" when withheld or anonymous
	province string
	path     string // X-IVR-Path, "" for a menu walked by DTMF
	session  *ivr.Session
	offer    *mediaOffer // nil: no SDP, our offer goes in the 200 (late offer)
}

func refuse(code int, reason, outcome string, why error) inviteDecision {
	return inviteDecision{code: code, reason: reason, outcome: outcome, why: why}
}

// admitInvite is the pure step of a new call: from the INVITE and the
// config alone, with the time given, it finds the hotline from the
// Request-URI (sip: or tel:, national form; 404 if none), reads the
// caller (P-Asserted-Identity, else From unless Privacy: id) and the
// upstream IVR's headers (X-IVR-Path, X-Service-Number in any number form,
// X-Province; 400 when malformed), takes the province the channel gives
// (the hotline's, or for from_caller X-Province; else none: the work order
// derives it from the service number), starts the menu session (fed with X-IVR-Path; 400 when the
// path does not fit), and negotiates the SDP offer, multipart bodies
// included (400 bad SDP, 488 no common codec). Load, trust, rate and
// half-open limits are the caller's business: they are state.
func admitInvite(cfg *configs.Config, opts ivr.Options, req *sipmsg.Request, now time.Time) inviteDecision {
	hl, ok := cfg.Hotline(calledNumber(req.Recipient))
	if !ok {
		return refuse(sipmsg.StatusNotFound, "Not A Hotline Number", outcomeNotFound, nil)
	}
	path, svcHeader, province := header(req, "X-IVR-Path"), header(req, "X-Service-Number"), header(req, "X-Province")
	svcNumber := phone.FromURI(svcHeader) // +86…, 0086…, tel: as well as national form
	switch {
	case path != "" && !ivrPathRe.MatchString(path):
		return refuse(sipmsg.StatusBadRequest, "Bad X-IVR-Path: want up to 32 of 0-9 * #", outcomeBadRequest, nil)
	case svcHeader != "" && !ivr.ValidServiceNumber(svcNumber):
		return refuse(sipmsg.StatusBadRequest, "Bad X-Service-Number: want a mobile or fixed-line number", outcomeBadRequest, nil)
	case province != "" && !configs.ValidProvince(province):
		return refuse(sipmsg.StatusBadRequest, "Bad X-Province: want a province code like GD", outcomeBadRequest, nil)
	}
	d := inviteDecision{hotline: hl, caller: callerNumber(req), path: path}
	switch {
	case hl.Province != configs.ProvinceFromCaller:
		d.province = hl.Province
	case province != "":
		d.province = province
	default:
		// Left to the work order: the province of the company complained
		// about is the service number's (known only once the menu has
		// collected it), else the caller's (DESIGN "Province";
		// workorder.Intake.Province).
	}

	session, err := ivr.NewSessionWithOptions(cfg.Menus[hl.Menu], d.caller, opts, now)
	if err != nil {
		return refuse(sipmsg.StatusInternalServerError, "IVR Error", outcomeUnavailable, err)
	}
	if path != "" {
		if _, err := session.FeedPath(path); err != nil {
			return refuse(sipmsg.StatusBadRequest, "X-IVR-Path Does Not Match The Menu", outcomeBadRequest, err)
		}
		if session.Collecting() {
			// An upstream IVR that reached a leaf asking for the service
			// number answered it with X-Service-Number, or meant the caller's.
			session.SetServiceNumber(svcNumber)
		}
	}
	d.session = session

	body, err := sdpOf(req)
	if err != nil {
		return refuse(sipmsg.StatusBadRequest, "Bad SDP", outcomeBadRequest, err)
	}
	if len(body) > 0 {
		m, err := negotiate(body)
		switch {
		case errors.Is(err, ErrNoCodec):
			return refuse(sipmsg.StatusNotAcceptableHere, "No Common Codec (PCMU, PCMA)", outcomeNoCodec, err)
		case err != nil:
			return refuse(sipmsg.StatusBadRequest, "Bad SDP", outcomeBadRequest, err)
		}
		d.offer = &m
	}
	return d
}

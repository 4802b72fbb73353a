package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Caller is a sipgo user agent playing the SBC that hands hotline calls to
// the daemon.
type Caller struct {
	Dialogs *sipgo.DialogUA
	// Refers receives every REFER the daemon sends; the caller answers 202
	// and then NOTIFYs a 200 sipfrag (the transfer worked) unless
	// ReferStatus says otherwise.
	Refers      chan *sipmsg.Request
	ReferStatus int
	sessions    sync.Map // Call-ID -> *sipgo.DialogClientSession
	transport   string
}

// NewCaller starts a user agent that answers BYE from the daemon.
func NewCaller(t testing.TB) *Caller {
	t.Helper()
	return NewCallerTLS(t, nil)
}

// NewCallerTLS is NewCaller whose TLS connections trust roots (for calls to
// a sips/transport=tls address); nil means no TLS.
func NewCallerTLS(t testing.TB, roots *tls.Config) *Caller {
	t.Helper()
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent("test-sbc")}
	if roots != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(roots))
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); ua.Close() })
	c := &Caller{Dialogs: &sipgo.DialogUA{Client: client,
		ContactHDR: sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "sbc", Host: "127.0.0.1"}}},
		Refers: make(chan *sipmsg.Request, 16), ReferStatus: 202}
	if roots != nil {
		c.transport = "tls"
	}
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if v, ok := c.sessions.Load(req.CallID().Value()); ok {
			if v.(*sipgo.DialogClientSession).ReadBye(req, tx) == nil {
				return // answered 200, and the session's context ends
			}
		}
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnRefer(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		select {
		case c.Refers <- req:
		default:
		}
		status := c.ReferStatus
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, status, "Refer", nil))
		v, ok := c.sessions.Load(req.CallID().Value())
		if status != 202 || !ok {
			return
		}
		sess := v.(*sipgo.DialogClientSession)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n := sipmsg.NewRequest(sipmsg.NOTIFY, sess.InviteResponse.Contact().Address)
			n.AppendHeader(sipmsg.NewHeader("Event", "refer"))
			n.AppendHeader(sipmsg.NewHeader("Subscription-State", "terminated;reason=noresource"))
			n.AppendHeader(sipmsg.NewHeader("Content-Type", "message/sipfrag"))
			n.SetBody([]byte("SIP/2.0 200 OK\r\n"))
			_, _ = sess.Do(ctx, n)
		}()
	})
	return c
}

// Offer is the SDP the caller offers: PCMA, PCMU and telephone-event.
const Offer = "v=0\r\no=sbc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

// Call places an INVITE from number to hotline at addr (host:port, UDP) with
// extra headers, and ACKs the answer. A refusal comes back as
// *sipgo.ErrDialogResponse.
func (c *Caller) Call(t testing.TB, addr, hotline, number string, headers ...sipmsg.Header) (*sipgo.DialogClientSession, error) {
	t.Helper()
	return c.CallWithSDP(t, addr, hotline, number, Offer, headers...)
}

// CallWithSDP is Call with the caller's own SDP offer ("" for a late offer).
func (c *Caller) CallWithSDP(t testing.TB, addr, hotline, number, offer string, headers ...sipmsg.Header) (*sipgo.DialogClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("bad addr %q", addr)
	}
	port, _ := strconv.Atoi(portStr)
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: number, Host: "127.0.0.1"}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	headers = append(headers, from)
	var body []byte
	if offer != "" {
		headers = append(headers, sipmsg.NewHeader("Content-Type", "application/sdp"))
		body = []byte(offer)
	}
	uri := sipmsg.Uri{Scheme: "sip", User: hotline, Host: host, Port: port}
	if c.transport != "" {
		uri.UriParams = sipmsg.NewParams()
		uri.UriParams.Add("transport", c.transport)
	}
	sess, err := c.Dialogs.Invite(ctx, uri, body, headers...)
	if err != nil {
		return nil, err
	}
	c.sessions.Store(sess.InviteRequest.CallID().Value(), sess)
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		return sess, err
	}
	return sess, sess.Ack(ctx)
}

// Hangup sends BYE.
func Hangup(t testing.TB, sess *sipgo.DialogClientSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sess.Bye(ctx); err != nil {
		t.Errorf("bye: %v", err)
	}
}

// Status is the SIP status of a refused call, 0 for another error.
func Status(err error) int {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res.StatusCode
	}
	return 0
}

// Response is the final response of a refused call, nil for another error.
func Response(err error) *sipmsg.Response {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res
	}
	return nil
}

// Info builds an in-dialog INFO request.
func Info(sess *sipgo.DialogClientSession, contentType, body string) *sipmsg.Request {
	req := sipmsg.NewRequest(sipmsg.INFO, sess.InviteResponse.Contact().Address)
	req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
	req.SetBody([]byte(body))
	return req
}

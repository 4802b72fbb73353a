package testenv

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Caller is a sipgo user agent playing the SBC that hands hotline calls to
// the daemon.
type Caller struct {
	Dialogs *sipgo.DialogUA
}

// NewCaller starts a user agent that answers BYE from the daemon.
func NewCaller(t testing.TB) *Caller {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("test-sbc"))
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
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
	})
	return &Caller{Dialogs: &sipgo.DialogUA{Client: client,
		ContactHDR: sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "sbc", Host: "127.0.0.1"}}}}
}

// Offer is the SDP the caller offers: PCMA, PCMU and telephone-event.
const Offer = "v=0\r\no=sbc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

// Call places an INVITE from number to hotline at addr (host:port, UDP) with
// extra headers, and ACKs the answer. A refusal comes back as
// *sipgo.ErrDialogResponse.
func (c *Caller) Call(t testing.TB, addr, hotline, number string, headers ...sipmsg.Header) (*sipgo.DialogClientSession, error) {
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
	headers = append(headers, from, sipmsg.NewHeader("Content-Type", "application/sdp"))
	sess, err := c.Dialogs.Invite(ctx, sipmsg.Uri{Scheme: "sip", User: hotline, Host: host, Port: port}, []byte(Offer), headers...)
	if err != nil {
		return nil, err
	}
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

// Info builds an in-dialog INFO request.
func Info(sess *sipgo.DialogClientSession, contentType, body string) *sipmsg.Request {
	req := sipmsg.NewRequest(sipmsg.INFO, sess.InviteResponse.Contact().Address)
	req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
	req.SetBody([]byte(body))
	return req
}

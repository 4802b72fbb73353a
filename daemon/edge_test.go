package daemon_test

import (
	"context"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
)

// Over sip.max_calls a new INVITE gets 503 with Retry-After; the call in
// progress goes on, and once it ends calls are taken again.
func TestCallLimit(t *testing.T) {
	h := boot(t, func(cfg *configs.Config) { cfg.SIP.MaxCalls = 1 })
	c := testenv.NewCaller(t)
	first, err := c.CallWithSDP(t, h.udp, "10000", "18912345678", testenv.Offer) // held in the menu
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, err = c.Call(t, h.udp, "10000", "18912345679")
	if testenv.Status(err) != 503 {
		t.Fatalf("second call: %v, want 503", err)
	}
	if res := testenv.Response(err); res.GetHeader("Retry-After") == nil {
		t.Error("503 without Retry-After")
	}
	testenv.Hangup(t, first)
	deadline := time.Now().Add(5 * time.Second)
	for {
		sess, err := c.Call(t, h.udp, "10000", "18912345679")
		if err == nil {
			testenv.Hangup(t, sess)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call taken after the first ended: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// While Redis is unreachable a new INVITE gets 503 with Retry-After: no
// half-made work order.
func TestRedisDownRefusesCalls(t *testing.T) {
	h := boot(t, nil)
	h.redis.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for get(t, "http://"+h.d.HTTPAddr()+"/readyz", "").StatusCode != 503 {
		if time.Now().After(deadline) {
			t.Fatal("readyz still 200 with Redis down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// SIP shares the readiness: OPTIONS (a proxy's probe) and INVITE get 503.
	if code := options(t, h); code != 503 {
		t.Errorf("OPTIONS with Redis down = %d, want 503", code)
	}
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678", sipmsg.NewHeader("X-IVR-Path", "1"))
	if testenv.Status(err) != 503 {
		if err == nil {
			testenv.Hangup(t, sess)
		}
		t.Fatalf("call with Redis down: %v, want 503", err)
	}
	if testenv.Response(err).GetHeader("Retry-After") == nil {
		t.Error("503 without Retry-After")
	}
}

// A re-INVITE (session refresh, hold) and an UPDATE are answered with our
// SDP and do not drop the call.
func TestReinviteAndUpdateKeepTheCall(t *testing.T) {
	h := boot(t, nil)
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678")
	if err != nil {
		t.Fatal(err)
	}
	defer testenv.Hangup(t, sess)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for _, method := range []sipmsg.RequestMethod{sipmsg.INVITE, sipmsg.UPDATE} {
		req := sipmsg.NewRequest(method, sess.InviteResponse.Contact().Address)
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(testenv.Offer))
		res, err := sess.Do(ctx, req)
		if err != nil || res.StatusCode != 200 || len(res.Body()) == 0 {
			t.Fatalf("%s: %v %v", method, res, err)
		}
		if method == sipmsg.INVITE {
			_ = sess.WriteAck(ctx, sipmsg.NewRequest(sipmsg.ACK, sess.InviteResponse.Contact().Address))
		}
	}
	// Still in the call: an INFO is taken.
	if res, err := sess.Do(ctx, testenv.Info(sess, "application/dtmf", "1")); err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO after re-INVITE: %v %v", res, err)
	}
}

package daemon_test

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
)

// SIP over TLS when configured: a call on the tls: listener becomes an order.
func TestSIPOverTLS(t *testing.T) {
	files := testenv.NewTLSFiles(t)
	h := boot(t, func(cfg *configs.Config) {
		cfg.SIP.Listen = []string{"udp:127.0.0.1:0", "tls:127.0.0.1:0"}
		cfg.SIP.TLSCertFile, cfg.SIP.TLSKeyFile = files.Cert, files.Key
	})
	var tlsAddr string
	for _, a := range h.d.SIPAddrs() {
		if rest, ok := strings.CutPrefix(a, "tls:"); ok {
			tlsAddr = rest
		}
	}
	if tlsAddr == "" {
		t.Fatalf("no tls listener in %v", h.d.SIPAddrs())
	}
	c := testenv.NewCallerTLS(t, files.ClientConfig())
	sess, err := c.Call(t, tlsAddr, "10000", "18912345678", sipmsg.NewHeader("X-IVR-Path", "2"))
	if err != nil {
		t.Fatalf("call over TLS: %v", err)
	}
	defer testenv.Hangup(t, sess)
	m := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(kafka.Message) bool { return true })
	if !strings.Contains(string(m.Value), `"ivr_path":"2"`) {
		t.Errorf("order %s", m.Value)
	}
}

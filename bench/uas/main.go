// Command uas is the baseline of make bench-sip: a bare sipgo user agent
// server that answers every INVITE with PCMU SDP, says 200 to INFO and BYE,
// and does nothing else — no IVR, no Redis, no Kafka. hotlined's figure in
// the same scenario, divided by this one's, is what the daemon costs.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:5090", "UDP address")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "uas:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ua, err := sipgo.NewUA()
	if err != nil {
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	client, err := sipgo.NewClient(ua)
	if err != nil {
		return err
	}
	host, portStr, _ := net.SplitHostPort(addr)
	var port int
	fmt.Sscan(portStr, &port)
	dialogs := sipgo.NewDialogServerCache(client, sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "uas", Host: host, Port: port}})
	sdp := []byte("v=0\r\no=uas 1 1 IN IP4 " + host + "\r\ns=-\r\nc=IN IP4 " + host + "\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
	srv.OnInvite(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		dlg, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			return
		}
		_ = dlg.RespondSDP(sdp)
	})
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) { _ = dialogs.ReadAck(req, tx) })
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) { _ = dialogs.ReadBye(req, tx) })
	srv.OnInfo(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); conn.Close() }()
	if err := srv.ServeUDP(conn); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

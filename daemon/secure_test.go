package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
)

// The daemon reaches Kafka over TLS with SCRAM-SHA-256 and Redis over TLS
// with an ACL user, and the passwords stay out of the log.
func TestTLSAndAuthToKafkaAndRedis(t *testing.T) {
	const kafkaPassword, redisPassword = "kafka-secret-4711", "redis-secret-0815"
	files := testenv.NewTLSFiles(t)
	secureRedis := testenv.StartRedisSecure(t, files, "hotlined", redisPassword)
	cluster := testenv.StartKafka(t, kfake.TLS(files.Server), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "hotlined", kafkaPassword),
		kfake.SeedTopics(3, "hotline.workorders.province.GD", "hotline.workorders.billing"))

	h := boot(t, func(cfg *configs.Config) {
		cfg.Redis.Addrs = []string{secureRedis.Addr}
		cfg.Redis.Username, cfg.Redis.Password = "hotlined", redisPassword
		cfg.Redis.TLS = configs.TLS{Enabled: true, CAFile: files.CA}
		cfg.Kafka.Brokers = cluster.ListenAddrs()
		cfg.Kafka.TLS = configs.TLS{Enabled: true, CAFile: files.CA}
		cfg.Kafka.SASL = configs.SASL{Mechanism: "SCRAM-SHA-256", Username: "hotlined", Password: kafkaPassword}
	})
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678", sipmsg.NewHeader("X-IVR-Path", "41"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	defer testenv.Hangup(t, sess)

	mech, err := scram.Mechanism(scram.SHA256, "hotlined", kafkaPassword)
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cluster.ListenAddrs(), Topic: "hotline.workorders.province.GD",
		GroupID: "secure-check", StartOffset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		Dialer: &kafka.Dialer{Timeout: 5 * time.Second, TLS: files.ClientConfig(), SASLMechanism: mech}})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read over TLS+SCRAM: %v", err)
	}
	if testenv.Headers(m)["ce_type"] != "hotline.workorder.created" {
		t.Errorf("got %v", testenv.Headers(m))
	}
	// The order sits in the TLS Redis, under the ACL user.
	if n, err := secureRedis.Client.DBSize(ctx).Result(); err != nil || n == 0 {
		t.Errorf("secure redis holds %d keys, %v", n, err)
	}
	for _, secret := range []string{kafkaPassword, redisPassword} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("a password is in the log")
		}
	}
}

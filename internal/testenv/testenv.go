// Package testenv starts the real servers tests run against: a redis-server
// process on a free port, and franz-go's kfake Kafka broker in-process.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Redis is a redis-server started for one test.
type Redis struct {
	Addr   string
	Client *redis.Client
	cmd    *exec.Cmd
}

// Kill stops the server at once, as a crash or a network cut would.
func (r *Redis) Kill() {
	_ = r.cmd.Process.Kill()
	_, _ = r.cmd.Process.Wait()
}

// StartRedis starts redis-server on a free loopback port, without
// persistence, and stops it when the test ends. A missing redis-server fails
// the test: `make test` installs it.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return startRedis(t, nil, "", "")
}

// StartRedisSecure starts redis-server speaking only TLS (with files), with
// the default user disabled and one ACL user, user/password.
func StartRedisSecure(t testing.TB, files *TLSFiles, user, password string) *Redis {
	t.Helper()
	return startRedis(t, files, user, password)
}

func startRedis(t testing.TB, files *TLSFiles, user, password string) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (make test installs it: apt-get install redis-server): %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}
		opts := &redis.Options{PoolSize: 64}
		if files != nil {
			args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port), "--tls-cert-file", files.Cert,
				"--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA, "--tls-auth-clients", "no")
			opts.TLSConfig = files.ClientConfig()
		}
		if user != "" {
			args = append(args, "--user", "default", "off", "--user", user, "on", ">"+password, "~*", "&*", "+@all")
			opts.Username, opts.Password = user, password
		}
		cmd := exec.Command(bin, args...)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		go func() { // keep the pipe drained
			s := bufio.NewScanner(out)
			for s.Scan() {
			}
		}()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		opts.Addr = addr
		client := redis.NewClient(opts)
		if lastErr = waitPing(client); lastErr == nil {
			t.Cleanup(func() {
				client.Close()
				_ = cmd.Process.Kill()
				_, _ = cmd.Process.Wait()
			})
			return &Redis{Addr: addr, Client: client, cmd: cmd}
		}
		client.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t.Fatalf("redis-server did not come up: %v", lastErr)
	return nil
}

func waitPing(c *redis.Client) error {
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// FreePort returns a port on 127.0.0.1 that was free for both TCP and UDP
// a moment ago (SIP listens on both; RTP ports are UDP).
func FreePort(t testing.TB) int {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// StartKafka starts an in-process kfake broker speaking the Kafka protocol on
// a free loopback port, closed when the test ends.
func StartKafka(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Flush empties the test's Redis between subtests.
func (r *Redis) Flush(t testing.TB) {
	t.Helper()
	if err := r.Client.FlushAll(context.Background()).Err(); err != nil {
		t.Fatalf("flushall: %v", err)
	}
}

// String is for failure messages.
func (r *Redis) String() string { return fmt.Sprintf("redis-server at %s", r.Addr) }

// RefuseProduce makes the broker answer every produce with
// NOT_ENOUGH_REPLICAS (retriable) while down holds, as a Kafka outage does;
// it returns the count of refused requests.
func RefuseProduce(c *kfake.Cluster, down *atomic.Bool) *atomic.Int64 {
	var refused atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		refused.Add(1)
		preq := req.(*kmsg.ProduceRequest)
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range preq.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, 19 // NOT_ENOUGH_REPLICAS
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return &refused
}

package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// server is one redis-server process (a cluster node, a master, a replica
// or a Sentinel) that the test owns.
type server struct {
	Addr string
	cmd  *exec.Cmd
}

// Kill stops the process at once, as a crash would.
func (s *server) Kill() {
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
}

// startServer runs redis-server in dir with args after the usual loopback,
// no-persistence ones, and waits until it answers PING. The process is
// killed when the test ends.
func startServer(t testing.TB, dir string, port int, args ...string) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (make test installs it: apt-get install redis-server): %v", err)
	}
	all := append([]string{}, args...)
	if len(all) == 0 || !strings.HasSuffix(all[0], ".conf") {
		all = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, all...)
	}
	cmd := exec.Command(bin, all...)
	cmd.Dir = dir
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server %v: %v", all, err)
	}
	go func() { // keep the pipe drained
		s := bufio.NewScanner(out)
		for s.Scan() {
		}
	}()
	s := &server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd}
	t.Cleanup(s.Kill)
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	if err := waitPing(c); err != nil {
		t.Fatalf("redis-server on %s did not come up: %v", s.Addr, err)
	}
	return s
}

// RedisCluster is a Redis Cluster of three masters without replicas,
// started for one test.
type RedisCluster struct {
	// Addrs are the nodes' host:port, the seeds a client is given.
	Addrs []string
	// Client is a cluster client for the test's own reads and writes.
	Client *redis.ClusterClient
	nodes  []*server
}

// StartRedisCluster starts three redis-server processes in cluster mode and
// joins them with `redis-cli --cluster create`, the way an operator builds
// one; it returns once every node reports cluster_state:ok and the client
// sees all 16384 slots.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not installed (make test installs it: apt-get install redis-tools): %v", err)
	}
	dir := t.TempDir()
	rc := &RedisCluster{}
	for i := 0; i < 3; i++ {
		port, bus := FreePort(t), FreePort(t)
		node := startServer(t, dir, port, "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port), "--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "2000")
		rc.nodes = append(rc.nodes, node)
		rc.Addrs = append(rc.Addrs, node.Addr)
	}
	args := append([]string{"--cluster", "create"}, rc.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range rc.Addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("cluster node %s not ok: %v %s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	rc.Client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs})
	t.Cleanup(func() { rc.Client.Close() })
	for {
		shards, err := rc.Client.ClusterShards(context.Background()).Result()
		covered := 0
		for _, sh := range shards {
			for _, s := range sh.Slots {
				covered += int(s.End-s.Start) + 1
			}
		}
		if err == nil && covered == 16384 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster slots cover %d of 16384: %v", covered, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return rc
}

// KillNode stops node i (0 to 2) at once, as a crashed master: with no
// replicas its slots go unserved and the cluster is down after the node
// timeout (2 s).
func (rc *RedisCluster) KillNode(i int) { rc.nodes[i].Kill() }

// FlushAll empties every master, as a cluster restarted without its data
// would be.
func (rc *RedisCluster) FlushAll(t testing.TB) {
	t.Helper()
	err := rc.Client.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		return c.FlushAll(ctx).Err()
	})
	if err != nil {
		t.Fatalf("cluster flushall: %v", err)
	}
}

// RedisSentinel is a master, one replica and one Sentinel watching them,
// started for one test.
type RedisSentinel struct {
	// Sentinels are the Sentinels' host:port, what a failover client is given.
	Sentinels []string
	// MasterName is the monitored master set's name.
	MasterName string
	// Master and Replica are the data servers' host:port.
	Master, Replica string
	// Client is a failover client for the test's own reads and writes.
	Client *redis.Client
	master *server
}

// StartRedisSentinel starts a master, a replica of it and a Sentinel
// monitoring the pair as "hotlined" (quorum 1, down after 1 s), and returns
// once the Sentinel names the master and knows the replica.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	dir := t.TempDir()
	mport, rport, sport := FreePort(t), FreePort(t), FreePort(t)
	master := startServer(t, dir, mport)
	replica := startServer(t, dir, rport, "--replicaof", "127.0.0.1", strconv.Itoa(mport))
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\nloglevel warning\n"+
		"sentinel monitor hotlined 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds hotlined 1000\n"+
		"sentinel failover-timeout hotlined 5000\n", sport, mport)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinel := startServer(t, dir, sport, conf, "--sentinel")
	rs := &RedisSentinel{Sentinels: []string{sentinel.Addr}, MasterName: "hotlined",
		Master: master.Addr, Replica: replica.Addr, master: master}
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr})
	defer sc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		replicas, err := sc.Replicas(context.Background(), "hotlined").Result()
		if err == nil && len(replicas) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel does not see the replica: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rs.Client = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "hotlined", SentinelAddrs: rs.Sentinels})
	t.Cleanup(func() { rs.Client.Close() })
	return rs
}

// KillMaster stops the master at once; the Sentinel then promotes the
// replica.
func (rs *RedisSentinel) KillMaster() { rs.master.Kill() }

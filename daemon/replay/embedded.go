package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/internal/affinity"
)

// serverStartTimeout bounds the wait for the replay's own redis-server to
// answer.
const serverStartTimeout = 10 * time.Second

// openEmbedded starts the Redis of p.Embedded (see Params) and returns a
// client of it and stop, which closes the client, stops the Redis,
// removes its directory and undoes the CPU pairing.
func openEmbedded(ctx context.Context, p Params) (redis.UniversalClient, func(), error) {
	var server string
	switch p.Embedded {
	case "", EmbeddedAuto:
		server, _ = exec.LookPath("redis-server")
	case EmbeddedServer:
		var err error
		if server, err = exec.LookPath("redis-server"); err != nil {
			return nil, nil, fmt.Errorf("embedded redis-server: %w (install it, or use -embedded miniredis)", err)
		}
	case EmbeddedMemory:
	default:
		return nil, nil, fmt.Errorf("embedded %q: want %s, %s or %s", p.Embedded, EmbeddedAuto, EmbeddedServer, EmbeddedMemory)
	}
	log := p.Logger.With().Str("component", "replay").Logger()
	if server == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		log.Info().Str("embedded", EmbeddedMemory).Msg("replaying into miniredis in this process (slow for volume; redis-server on PATH is used when there)")
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
	}

	undo := func() {}
	if !p.NoPair {
		cpu, u, err := affinity.Pair()
		switch {
		case err == nil:
			undo = u
			log.Debug().Int("cpu", cpu).Msg("the replay and its redis-server share one CPU")
		case !errors.Is(err, affinity.ErrUnsupported):
			log.Warn().Err(err).Msg("the replay and its redis-server could not be paired on one CPU")
		}
	}
	dir, err := os.MkdirTemp("", "hotlined-replay-")
	if err != nil {
		undo()
		return nil, nil, fmt.Errorf("embedded redis-server: %w", err)
	}
	sock := filepath.Join(dir, "redis.sock")
	var output limitedBuffer
	cmd := exec.Command(server, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = &output, &output
	dieWithParent(cmd)
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		// The kernel kills the server when the thread that started it
		// ends (dieWithParent), and the Go runtime ends a thread whose
		// goroutine returns locked to it: start the server from a thread
		// of its own that waits for it, so it lives until the server is
		// gone (or the process is).
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		_ = os.RemoveAll(dir)
		undo()
		return nil, nil, fmt.Errorf("start embedded redis-server: %w", err)
	}
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	stop := func() {
		_ = rdb.Close()
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(dir)
		undo()
	}
	deadline := time.Now().Add(serverStartTimeout)
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			break
		}
		select {
		case <-exited:
			stop()
			return nil, nil, fmt.Errorf("embedded redis-server %s exited: %s", server, bytes.TrimSpace(output.Bytes()))
		case <-ctx.Done():
			stop()
			return nil, nil, fmt.Errorf("embedded redis-server: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("embedded redis-server %s did not answer within %s: %v", server, serverStartTimeout, err)
		}
	}
	log.Info().Str("embedded", EmbeddedServer).Str("server", server).Msg("replaying into a redis-server of its own")
	return rdb, stop, nil
}

// limitedBuffer keeps the first 4 KiB written to it, for an error message.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 4096 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

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
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/internal/affinity"
)

// serverStartTimeout bounds the wait for the replay's own redis-server to
// answer.
const serverStartTimeout = 10 * time.Second

// maxSocketPath is the longest unix socket path redis-server takes
// (sun_path is 108 bytes with its NUL; redis refuses 108 and over).
const maxSocketPath = 107

// ErrServerExited is the cause of a replay stopped because its own
// redis-server exited while it ran (killed, out of memory): the error
// Run returns wraps it, with what the server said.
var ErrServerExited = errors.New("the replay's redis-server exited")

// openEmbedded starts the Redis of p.Embedded (see Params) and returns a
// client of it and stop, which closes the client, stops the Redis,
// removes its directory and undoes the CPU pairing. With EmbeddedAuto a
// redis-server that cannot start gives way to miniredis (with a
// warning). When the server exits before stop, lost is called with an
// error wrapping ErrServerExited (Run cancels the replay with it).
func openEmbedded(ctx context.Context, p Params, lost func(error)) (redis.UniversalClient, func(), error) {
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
	if server != "" {
		rdb, stop, err := startServer(ctx, server, !p.NoPair, log, lost)
		if err == nil || p.Embedded == EmbeddedServer || ctx.Err() != nil {
			return rdb, stop, err
		}
		log.Warn().Err(err).Msg("the replay's redis-server did not start: replaying into miniredis instead (slow for volume)")
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, nil, fmt.Errorf("start embedded redis: %w", err)
	}
	ev := log.Info()
	if p.Embedded != EmbeddedMemory && server == "" {
		ev = log.Warn() // auto without a redis-server: say why it is slow
	}
	ev.Str("embedded", EmbeddedMemory).Msg("replaying into miniredis in this process (slow for volume; redis-server on PATH is used when there)")
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
}

// startServer starts redis-server (the path of the binary) on a unix
// socket in a temporary directory, paired with this process on one CPU
// when pair, and returns a client of it and stop.
func startServer(ctx context.Context, server string, pair bool, log zerolog.Logger, lost func(error)) (redis.UniversalClient, func(), error) {
	dir, err := socketDir()
	if err != nil {
		return nil, nil, fmt.Errorf("embedded redis-server: %w", err)
	}
	undo := func() {}
	if pair {
		cpu, u, err := affinity.Pair()
		switch {
		case err == nil:
			undo = u
			log.Debug().Int("cpu", cpu).Msg("the replay and its redis-server share one CPU")
		case !errors.Is(err, affinity.ErrUnsupported):
			log.Warn().Err(err).Msg("the replay and its redis-server could not be paired on one CPU")
		}
	}
	sock := filepath.Join(dir, "redis.sock")
	var output limitedBuffer
	cmd := exec.Command(server, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = &output, &output
	ownServer(cmd)
	started, exited := make(chan error, 1), make(chan struct{})
	var waitErr error // how the server ended, once exited is closed
	go func() {
		// The kernel kills the server when the thread that started it
		// ends (ownServer), and the Go runtime ends a thread whose
		// goroutine returns locked to it: start the server from a thread
		// of its own that waits for it, so it lives until the server is
		// gone (or the process is).
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waitErr = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		_ = os.RemoveAll(dir)
		undo()
		return nil, nil, fmt.Errorf("start embedded redis-server: %w", err)
	}
	exitErr := func() error { // after exited is closed
		return fmt.Errorf("%w (%v): %s", ErrServerExited, waitErr, bytes.TrimSpace(output.Bytes()))
	}
	var stopping atomic.Bool
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	stop := func() {
		stopping.Store(true)
		_ = rdb.Close()
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(dir)
		undo()
	}
	// Wait for it to answer, on a client that dials once per try and logs
	// nothing (go-redis reports each failed dial).
	probe := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, MaxRetries: -1,
		DialTimeout: 100 * time.Millisecond, PoolSize: 1})
	defer probe.Close()
	deadline := time.Now().Add(serverStartTimeout)
	for {
		if _, err := os.Stat(sock); err == nil {
			if err := probe.Ping(ctx).Err(); err == nil {
				break
			}
		}
		select {
		case <-exited:
			stop()
			return nil, nil, exitErr()
		case <-ctx.Done():
			stop()
			return nil, nil, fmt.Errorf("embedded redis-server: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("embedded redis-server %s did not answer within %s", server, serverStartTimeout)
		}
	}
	go func() {
		<-exited
		if !stopping.Load() {
			lost(exitErr())
		}
	}()
	log.Info().Str("embedded", EmbeddedServer).Str("server", server).Msg("replaying into a redis-server of its own")
	return rdb, stop, nil
}

// socketDir makes the temporary directory of the server's socket: in
// TMPDIR, or in /tmp when the socket's path there would be too long.
func socketDir() (string, error) {
	const socket = "/redis.sock"
	dir, err := os.MkdirTemp("", "hotlined-replay-")
	if err == nil && len(dir)+len(socket) <= maxSocketPath {
		return dir, nil
	}
	if err == nil {
		_ = os.RemoveAll(dir)
	}
	dir, err = os.MkdirTemp("/tmp", "hotlined-replay-")
	if err != nil {
		return "", err
	}
	if len(dir)+len(socket) > maxSocketPath {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("no directory for a unix socket: paths over %d bytes", maxSocketPath)
	}
	return dir, nil
}

// limitedBuffer keeps the last 2 KiB written to it (a server's last words,
// after its banner), for an error message.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const limitedBufferSize = 2048

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - limitedBufferSize; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

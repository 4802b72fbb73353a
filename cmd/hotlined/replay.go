package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/daemon"
	"github.com/hotlined/hotlined/daemon/replay"
)

// runReplay is `hotlined replay [flags] TIMELINE.jsonl` (daemon/replay):
// the timeline through the config's rules on a simulated clock, the events
// to stdout. It returns the exit code: 0 (also for -h), 1 on a replay
// error (the line named) or an interruption (SIGINT, SIGTERM, SIGHUP: the
// replay's own Redis is stopped and removed), 2 on bad usage or config,
// 141 when stdout was closed (| head: nothing more to say).
func runReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "configs/hotlined.yaml", "path to the daemon's YAML config whose rules are replayed (its other files are found relative to it: copy the whole configs directory to try changes)")
	redisAddr := fs.String("redis", "", "host:port, or the path of a unix socket (any address without a port), of a Redis to replay into; empty: one of the replay's own (-embedded)")
	embedded := fs.String("embedded", replay.EmbeddedAuto, "the replay's own Redis without -redis: redis-server (from PATH, on a private unix socket), miniredis (in this process; slow for volume), or auto (redis-server when on PATH and it starts, else miniredis, with a warning)")
	pair := fs.Bool("pair", true, "run this process and its own redis-server on one CPU (faster: the replay waits on every reply)")
	force := fs.Bool("force", false, "with -redis: replay into a Redis that holds hotlined keys (they stay, and count)")
	format := fs.String("format", "json", "json (JSON Lines), table (the same for people) or summary (json's skipped lines and summary only)")
	logLevel := fs.String("log-level", "warn", "log level on stderr (trace, debug, info, warn, error); the events are on stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hotlined replay [-config PATH] [-redis ADDR [-force] | -embedded auto|redis-server|miniredis] [-format json|table|summary] TIMELINE.jsonl (- for stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "hotlined replay: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() == 0:
		fs.Usage()
		return 2
	case fs.NArg() > 1:
		return usage("one timeline, and the flags before it (got %q after %q)", fs.Args()[1:], fs.Arg(0))
	case *redisAddr != "" && set["embedded"]:
		return usage("-embedded is the replay's own Redis: not with -redis")
	case *redisAddr == "" && *force:
		return usage("-force is for a Redis named with -redis (the replay's own starts empty)")
	case *format != "json" && *format != "table" && *format != "summary":
		return usage("-format %q: want json, table or summary", *format)
	case *embedded != replay.EmbeddedAuto && *embedded != replay.EmbeddedServer && *embedded != replay.EmbeddedMemory:
		return usage("-embedded %q: want %s, %s or %s", *embedded, replay.EmbeddedAuto, replay.EmbeddedServer, replay.EmbeddedMemory)
	}
	level, err := zerolog.ParseLevel(*logLevel)
	if err != nil || *logLevel == "" {
		return usage("-log-level %q: want trace, debug, info, warn or error", *logLevel)
	}
	cfg, err := configs.Load(*configPath, nil)
	if err != nil {
		return usage("config: %v", err)
	}
	files, err := daemon.LoadFiles(cfg)
	if err != nil {
		return usage("config: %v", err)
	}
	in := stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return usage("%v", err)
		}
		defer f.Close()
		in = f
	}
	// SIGHUP too (the terminal closed), and SIGPIPE turned into write
	// errors: either way the replay stops through its context and removes
	// its own Redis, which a death by signal would leave behind.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	go func() { <-ctx.Done(); stop() }() // a second signal kills at once
	signal.Ignore(syscall.SIGPIPE)
	sink := &pipeWriter{w: stdout}
	out := bufio.NewWriterSize(sink, 64<<10)
	log := zerolog.New(stderr).Level(level).With().Timestamp().Logger()
	daemon.RouteGoRedisLog(log) // not go-redis's plain-text lines on stderr
	err = replay.Run(ctx, replay.Params{Config: cfg, Rules: files.Rules, Policies: files.Policies,
		RedisAddr: *redisAddr, Force: *force, Embedded: *embedded, NoPair: !*pair, Format: *format,
		Logger: log}, in, out)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	switch {
	case sink.closed: // stdout's reader left (| head): nothing more to say
		return 141
	case err != nil:
		fmt.Fprintf(stderr, "hotlined replay: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	return 0
}

// pipeWriter notes when its reader has left (EPIPE), so that only
// stdout's broken pipe, not a Redis connection's, ends the replay quietly.
type pipeWriter struct {
	w      io.Writer
	closed bool
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		p.closed = true
	}
	return n, err
}

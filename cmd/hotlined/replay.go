package main

import (
	"bufio"
	"context"
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
// to stdout. It returns the exit code: 0, 1 on a replay error (the line
// named), 2 on bad usage or config.
func runReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "configs/hotlined.yaml", "path to the YAML config whose rules are replayed")
	redisAddr := fs.String("redis", "", "host:port, or the path of a unix socket, of a Redis to replay into; empty: one of the replay's own (-embedded)")
	embedded := fs.String("embedded", replay.EmbeddedAuto, "the replay's own Redis without -redis: redis-server (from PATH, on a private unix socket), miniredis (in this process; slow for volume), or auto (redis-server when on PATH)")
	pair := fs.Bool("pair", true, "run this process and its own redis-server on one CPU (faster: the replay waits on every reply)")
	force := fs.Bool("force", false, "replay into a Redis that holds hotlined keys (they stay, and count)")
	format := fs.String("format", "json", "json (JSON Lines) or table")
	logLevel := fs.String("log-level", "error", "log level on stderr (trace, debug, info, warn, error); the events are on stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hotlined replay [-config PATH] [-redis ADDR [-force] | -embedded auto|redis-server|miniredis] [-format json|table] TIMELINE.jsonl (- for stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	level, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "hotlined replay: -log-level: %v\n", err)
		return 2
	}
	cfg, err := configs.Load(*configPath, nil)
	if err != nil {
		fmt.Fprintf(stderr, "hotlined replay: config: %v\n", err)
		return 2
	}
	files, err := daemon.LoadFiles(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "hotlined replay: config: %v\n", err)
		return 2
	}
	in := stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "hotlined replay: %v\n", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	out := bufio.NewWriterSize(stdout, 64<<10)
	log := zerolog.New(stderr).Level(level).With().Timestamp().Logger()
	daemon.RouteGoRedisLog(log) // not go-redis's plain-text lines on stderr
	err = replay.Run(ctx, replay.Params{Config: cfg, Rules: files.Rules, Policies: files.Policies,
		RedisAddr: *redisAddr, Force: *force, Embedded: *embedded, NoPair: !*pair, Format: *format,
		Logger: log}, in, out)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(stderr, "hotlined replay: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	return 0
}

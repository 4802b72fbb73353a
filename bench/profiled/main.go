// Command profiled is hotlined for make bench-sip: the same daemon
// (daemon.Run with the config given), plus Go's profiling endpoints
// (net/http/pprof) on a loopback address of their own, so the benchmark
// can show where a loaded daemon spends its time. The shipped binary
// (cmd/hotlined) serves no profiles.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/daemon"
)

func main() {
	configPath := flag.String("config", "configs/hotlined.yaml", "path to the YAML config")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "loopback host:port of /debug/pprof/")
	flag.Parse()
	if err := run(*configPath, *pprofAddr); err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
}

func run(configPath, pprofAddr string) error {
	cfg, err := configs.Load(configPath, nil)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	level, _ := zerolog.ParseLevel(cfg.Log.Level) // validated by configs
	zerolog.TimeFieldFormat = time.RFC3339Nano
	log := zerolog.New(os.Stderr).Level(level).With().Timestamp().Logger()

	ln, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		return fmt.Errorf("pprof listen %s: %w", pprofAddr, err)
	}
	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("pprof server stopped")
		}
	}()
	defer srv.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, cfg, log, nil); err != nil { // no SIGHUP reloads in the benchmark
		return fmt.Errorf("hotlined: %w", err)
	}
	return nil
}

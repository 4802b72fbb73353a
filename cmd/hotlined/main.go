// Command hotlined is the telecom hotline daemon: SIP calls in, classified
// work orders out to Kafka, deadline timers in Redis.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/daemon"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "replay" {
		os.Exit(runReplay(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run())
}

// run is main with an exit code, so every deferred stop runs before the
// process exits: 0 after a clean (or grace-bounded) shutdown, 1 on a
// start-up or runtime failure, 2 on a bad config.
func run() int {
	configPath := flag.String("config", "configs/hotlined.yaml", "path to the YAML config")
	checkOnly := flag.Bool("check-config", false, "validate the config and exit")
	flag.Parse()

	cfg, err := configs.Load(*configPath, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hotlined: config: %v\n", err)
		return 2
	}
	if *checkOnly {
		files, err := daemon.LoadFiles(cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hotlined: config: %v\n", err)
			return 2
		}
		if files.Calendar != nil { // a warning, not an error: exit 0
			for _, w := range files.Calendar.Current().Warnings(time.Now()) {
				fmt.Fprintf(os.Stderr, "hotlined: %s: warning: %s\n", files.Calendar.Path(), w)
			}
		}
		fmt.Printf("%s: ok\n", *configPath)
		return 0
	}
	log := newLogger(cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := daemon.Run(ctx, cfg, log, hup); err != nil {
		log.Error().Err(err).Msg("hotlined stopped with an error")
		return 1
	}
	log.Info().Msg("hotlined stopped")
	return 0
}

func newLogger(c configs.Log) zerolog.Logger {
	level, _ := zerolog.ParseLevel(c.Level) // validated by configs
	zerolog.TimeFieldFormat = time.RFC3339Nano
	var log zerolog.Logger
	if c.Format == "console" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly})
	} else {
		log = zerolog.New(os.Stderr)
	}
	return log.Level(level).With().Timestamp().Logger()
}

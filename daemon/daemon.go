// Package daemon wires hotlined together: Redis, Kafka, the outbox relay,
// the escalation scheduler, the SIP server and the HTTP API. Tests boot it
// whole, in-process, on port 0.
package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hotlined/hotlined/api"
	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/sip"
	"github.com/hotlined/hotlined/workorder"
)

// Daemon is a running hotlined.
type Daemon struct {
	cfg      *configs.Config
	log      zerolog.Logger
	registry *prometheus.Registry

	tracing   *sdktrace.TracerProvider
	rdb       redis.UniversalClient
	health    *redisHealth
	files     *Files
	scheduler *escalation.Scheduler
	brokers   []string
	sip       *sip.Server
	httpAddr  string
	steps     []step
	// draining is set when Shutdown begins: /readyz, OPTIONS and INVITE
	// answer 503 from then on.
	draining atomic.Bool
}

// Option adjusts a Daemon before it starts.
type Option func(*Daemon)

// WithTracerProvider records the daemon's spans with tp (tests); by default
// the daemon makes its own from otel in the config.
func WithTracerProvider(tp *sdktrace.TracerProvider) Option {
	return func(d *Daemon) { d.tracing = tp }
}

// startTracing makes the tracer provider: every call gets a trace id (in
// the logs and ce_traceparent); spans are exported over OTLP/HTTP only when
// otel.endpoint is set.
func (d *Daemon) startTracing(ctx context.Context) error {
	if d.tracing != nil {
		return nil
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(resource.NewSchemaless(
		attribute.String("service.name", d.cfg.OTel.ServiceName)))}
	if d.cfg.OTel.Endpoint != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(d.cfg.OTel.Endpoint))
		if err != nil {
			return fmt.Errorf("otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		d.log.Info().Str("endpoint", d.cfg.OTel.Endpoint).Msg("exporting traces over OTLP/HTTP")
	}
	d.tracing = sdktrace.NewTracerProvider(opts...)
	d.onShutdown("tracing", d.tracing.Shutdown)
	return nil
}

// Start brings every component up, in dependency order; on error, what was
// started is stopped again.
func Start(ctx context.Context, cfg *configs.Config, log zerolog.Logger, opts ...Option) (_ *Daemon, err error) {
	d := &Daemon{cfg: cfg, log: log, registry: prometheus.NewRegistry()}
	for _, o := range opts {
		o(d)
	}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			err = errors.Join(err, d.Shutdown(stopCtx))
		}
	}()
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := d.startTracing(ctx); err != nil {
		return nil, err
	}
	tracer := d.tracing.Tracer("github.com/hotlined/hotlined")
	if err := d.startRedis(ctx); err != nil {
		return nil, err
	}
	if err := d.startKafka(); err != nil {
		return nil, err
	}
	kafkaTLS, mechanism, err := kafkaSecurity(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	dialer := &kafka.Dialer{Timeout: 5 * time.Second, DualStack: true, TLS: kafkaTLS, SASLMechanism: mechanism}
	writer := &kafka.Writer{
		Addr:         kafka.TCP(d.brokers...),
		Transport:    &kafka.Transport{TLS: kafkaTLS, SASL: mechanism, DialTimeout: 5 * time.Second},
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: cfg.Kafka.BatchTimeout.D(),
		BatchSize:    1000,
		// One attempt per WriteMessages: the relay retries itself, and
		// kafka-go's own retry of a batch whose first request timed out
		// races with that request's encoding (seen under -race).
		MaxAttempts:            1,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        500 * time.Millisecond,
		Compression:            kafka.Lz4,
		AllowAutoTopicCreation: cfg.Kafka.AutoCreateTopics,
		// A write must end well inside the relay's lease (fencing): the
		// relay starts one only while the lease is safe for longer than
		// this plus the batch wait.
		WriteTimeout: cfg.Kafka.OutboxClaimIdle.D() / 2,
		ReadTimeout:  cfg.Kafka.OutboxClaimIdle.D() / 2,
	}
	// Close flushes what the writer holds; with Kafka hung that is bounded
	// by the shutdown step, and the events stay in the outbox.
	d.onShutdown("kafka writer", func(context.Context) error { return writer.Close() })
	// The HTTP server stops after the relay's flush, so /readyz answers
	// 503 throughout the shutdown instead of refusing connections.
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	d.onShutdown("http", srv.Shutdown)

	files, err := LoadFiles(cfg)
	if err != nil {
		return nil, err
	}
	d.files = files
	if files.Calendar != nil { // warn now and daily while this or next year is not published
		watch := escalation.NewCalendarWatcher(escalation.CalendarWatchParams{Calendar: files.Calendar, Logger: log})
		if err := d.run(ctx, "calendar watcher", watch); err != nil {
			return nil, err
		}
	}
	outbox := queue.NewOutbox(cfg.Redis.Prefix, cfg.Redis.Shards)
	d.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hotlined_outbox_depth",
		Help: "Events waiting in the Redis outbox for Kafka.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := outbox.Depth(ctx, d.rdb)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	relay, err := queue.NewRelay(queue.RelayParams{
		Redis: d.rdb, Outbox: outbox, Publisher: writer, Logger: log,
		Consumer: consumerName(), Metrics: queue.NewRelayMetrics(d.registry),
		ClaimIdle: cfg.Kafka.OutboxClaimIdle.D(), Tracer: tracer,
		WriteBound: writer.WriteTimeout + writer.BatchTimeout,
	})
	if err != nil {
		return nil, err
	}
	if err := d.run(ctx, "relay", relay); err != nil {
		return nil, err
	}

	timers := escalation.NewStore(d.rdb, cfg.Redis.Prefix, cfg.Redis.Shards, outbox,
		escalation.WithAlertEvents(cfg.Kafka.Source, cfg.Kafka.AlertsTopic))
	// Every time in an event's data is in the operator's zone, with its
	// offset (RFC 3339): alerts as well as work orders.
	now := func() time.Time { return time.Now().In(cfg.Location) }
	d.scheduler, err = escalation.NewScheduler(escalation.SchedulerParams{
		Store: timers, Logger: log, Interval: cfg.Escalation.PollInterval.D(), Now: now,
		Lease: cfg.Escalation.Lease.D(), Source: cfg.Kafka.Source, Policies: files.Policies,
		AlertsTopic: cfg.Kafka.AlertsTopic, Metrics: escalation.NewMetrics(d.registry),
	})
	if err != nil {
		return nil, err
	}
	if err := d.run(ctx, "escalation scheduler", d.scheduler); err != nil {
		return nil, err
	}
	d.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hotlined_alerts_open",
		Help: "Supervisor alerts open (not acknowledged, not resolved).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := timers.OpenAlerts(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	feed, err := escalation.NewFeed(escalation.FeedParams{Store: timers, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := d.run(ctx, "alert feed", feed); err != nil {
		return nil, err
	}
	// Open SSE streams end when the server shuts down, not at its deadline.
	srv.RegisterOnShutdown(func() { _ = feed.Shutdown(context.Background()) })

	backlog, err := escalation.NewBacklogMonitor(escalation.BacklogParams{
		Store: timers, Redis: d.rdb, Outbox: outbox, Threshold: cfg.Kafka.OutboxAlertThreshold,
		Interval: 5 * time.Second, Source: cfg.Kafka.Source, AlertsTopic: cfg.Kafka.AlertsTopic, Logger: log, Now: now,
	})
	if err != nil {
		return nil, err
	}
	if err := d.run(ctx, "backlog monitor", backlog); err != nil {
		return nil, err
	}

	orders := workorder.NewService(workorder.ServiceParams{
		Store:  workorder.NewStore(d.rdb, cfg.Redis.Prefix, cfg.Redis.Shards, outbox, timers),
		Router: queue.NewRouter(cfg.Kafka.Routes), Config: cfg, Rules: files.Rules, Policies: files.Policies,
		Logger: log, Registerer: d.registry, Tracer: tracer,
	})
	d.registry.MustRegister(workorder.NewIndicatorsCollector(orders))
	if cfg.Retention.AfterArchive.D() == 0 {
		log.Warn().Msg("retention.after_archive is not set: archived work orders are kept forever")
	}
	sweeper, err := workorder.NewIncidentSweeper(orders, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if err := d.run(ctx, "incident sweeper", sweeper); err != nil {
		return nil, err
	}
	// Orders whose call was lost with its daemon before the transfer.
	transfers, err := workorder.NewTransferSweeper(workorder.TransferSweeperParams{
		Service: orders, Interval: 15 * time.Second, Logger: log, Registerer: d.registry})
	if err != nil {
		return nil, err
	}
	if err := d.run(ctx, "transfer sweeper", transfers); err != nil {
		return nil, err
	}

	updates, err := queue.NewUpdatesConsumer(queue.UpdatesParams{
		Reader: kafka.NewReader(kafka.ReaderConfig{
			Brokers: d.brokers, GroupID: cfg.Kafka.ConsumerGroup, Topic: cfg.Kafka.UpdatesTopic,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond,
			StartOffset: kafka.FirstOffset, CommitInterval: 0, // commit each message once handled
			Dialer: dialer,
		}),
		DeadLetter: writer, DeadLetterTopic: cfg.Kafka.DeadLetterTopic, Applier: orders,
		Logger: log, Registerer: d.registry,
	})
	if err != nil {
		return nil, err
	}
	if err := updates.Start(ctx); err != nil {
		return nil, fmt.Errorf("start updates consumer: %w", err)
	}
	// Leaving the group on a hung broker must not eat the relay's flush.
	d.onShutdown("updates consumer", capped(2*time.Second, updates.Shutdown))

	d.sip, err = sip.New(sip.Params{Config: cfg, Orders: orders, Logger: log, Registerer: d.registry,
		Ready: d.ready, Tracer: tracer})
	if err != nil {
		return nil, err
	}
	if err := d.sip.Listen(ctx); err != nil {
		return nil, err
	}
	// Calls get two thirds of the shutdown time; the outbox flush and the
	// rest need what is left.
	d.onShutdown("sip calls", func(ctx context.Context) error {
		sipCtx := ctx
		if deadline, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			sipCtx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(deadline)*2/3))
			defer cancel()
		}
		return d.sip.Shutdown(sipCtx)
	})

	if cfg.HTTP.SessionKey == "" {
		log.Warn().Msg("no http.session_key_env: page logins are valid on this process only; give every daemon behind one load balancer the same key")
	}
	if cfg.HTTP.PublicURL == "" {
		log.Warn().Str("fallback", "http://"+cfg.HTTP.Listen).Msg("no http.public_url: screen-pop links name this daemon's listen address; set it to the load balancer's URL")
	}
	if len(cfg.API.Tokens) == 0 {
		log.Warn().Msg("no API tokens configured: every /v1 request will get 401; set api.tokens or HOTLINED_API_TOKENS")
	}
	srv.Handler = api.New(api.Params{
		Orders: orders, Changes: orders, Incidents: orders, Lister: orders, Indicators: orders, Alerts: api.AlertParams{Store: timers, Feed: feed, Now: now},
		Tokens: cfg.API.Tokens, Gatherer: d.registry, Logger: log, Location: cfg.Location, ProblemCodes: cfg.ProblemCodes,
		Ready:      map[string]api.Check{"redis": d.health.Check, "sip": d.sip.Check},
		Degraded:   map[string]api.Check{"kafka": kafkaCheck(dialer, d.brokers)},
		Draining:   d.draining.Load,
		SessionKey: []byte(cfg.HTTP.SessionKey),
	})
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", cfg.HTTP.Listen, err)
	}
	d.httpAddr = ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server stopped")
		}
	}()
	log.Info().Str("http", d.httpAddr).Strs("sip", d.sip.Addrs()).Strs("kafka", d.brokers).
		Msg("hotlined started")
	return d, nil
}

// ready reports whether new calls can be taken: not shutting down, and
// Redis up by the tolerant health check. SIP asks it for every INVITE and
// OPTIONS, so a proxy's OPTIONS probe agrees with /readyz.
func (d *Daemon) ready() bool { return !d.draining.Load() && d.health.Up() }

// Files are the data files the config points at.
type Files struct {
	Rules    *classifier.Rules
	Calendar *escalation.LiveCalendar // nil: no working-day calendar
	Policies *escalation.Policies     // nil: the plain escalation.deadlines
}

// LoadFiles reads and checks every file the config names (classifier
// rules, SLA policies, working-day calendar); -check-config runs it too, so
// a bad file fails before start-up.
func LoadFiles(cfg *configs.Config) (*Files, error) {
	f := &Files{Rules: classifier.DefaultRules()}
	if cfg.Classifier.RulesFile != "" {
		rules, err := classifier.LoadRules(cfg.Classifier.RulesFile)
		if err != nil {
			return nil, err
		}
		f.Rules = rules
	}
	if cfg.Escalation.CalendarFile != "" {
		cal, err := escalation.OpenCalendar(cfg.Escalation.CalendarFile)
		if err != nil {
			return nil, err
		}
		f.Calendar = cal
	}
	if cfg.Escalation.PoliciesFile != "" {
		policies, err := escalation.LoadPolicies(cfg.Escalation.PoliciesFile, f.Calendar)
		if err != nil {
			return nil, err
		}
		f.Policies = policies
	}
	return f, nil
}

// Reload re-reads the working-day calendar (SIGHUP) and moves the open
// timers to the new deadlines; a bad file keeps the old calendar.
func (d *Daemon) Reload(ctx context.Context) error {
	if d.files.Calendar == nil || d.scheduler == nil {
		return nil
	}
	stats, err := d.scheduler.Reload(ctx)
	if err != nil {
		return fmt.Errorf("reload calendar: %w", err)
	}
	d.log.Info().Interface("timers", stats).Msg("calendar reloaded; open timers recomputed")
	return nil
}

// Run starts the daemon, reloads the calendar on each value from reload
// (main sends SIGHUP there), and stops it when ctx ends, within
// shutdown_grace. A shutdown that ran out of grace (Kafka hung, calls still
// up) is not a failure: it is logged, what is not published stays in the
// outbox for the next daemon, and Run returns nil.
func Run(ctx context.Context, cfg *configs.Config, log zerolog.Logger, reload <-chan os.Signal) error {
	d, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-reload:
			if err := d.Reload(ctx); err != nil {
				log.Error().Err(err).Msg("SIGHUP: reload failed; the old calendar stays")
			}
		}
	}
	log.Info().Msg("shutting down: new calls get 503, calls in progress may finish, the outbox is flushed")
	grace := cfg.ShutdownGrace.D()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err = d.Shutdown(stopCtx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		log.Warn().Err(err).Dur("grace", grace).
			Msg("grace period over: stopped anyway; unpublished events stay in the outbox for the next daemon")
		return nil
	}
	return err
}

// SIPAddrs are the SIP listeners as transport:host:port.
func (d *Daemon) SIPAddrs() []string { return d.sip.Addrs() }

// HTTPAddr is the HTTP listener's host:port.
func (d *Daemon) HTTPAddr() string { return d.httpAddr }

// KafkaBrokers are the brokers in use (the embedded one's address too).
func (d *Daemon) KafkaBrokers() []string { return d.brokers }

// Registry is the daemon's metrics registry.
func (d *Daemon) Registry() *prometheus.Registry { return d.registry }

// startRedis connects to Redis as redis.addrs and redis.master_name say:
// one address is a single server, several a Redis Cluster, and with a
// master name they are Sentinels (DESIGN "Redis deployments"); none starts
// an embedded in-memory Redis.
func (d *Daemon) startRedis(ctx context.Context) error {
	addrs := d.cfg.Redis.Servers()
	if len(addrs) == 0 {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		d.onShutdown("embedded redis", func(context.Context) error { mr.Close(); return nil })
		addrs = []string{mr.Addr()}
		d.log.Warn().Str("addr", mr.Addr()).Msg("NO REDIS CONFIGURED: using an embedded in-memory Redis. " +
			"ALL STATE (work orders, timers, the outbox) IS LOST WHEN THIS PROCESS EXITS. Set HOTLINED_REDIS_ADDR for production.")
	}
	redisTLS, err := d.cfg.Redis.TLS.Config()
	if err != nil {
		return fmt.Errorf("redis tls: %w", err)
	}
	opts := &redis.UniversalOptions{
		Addrs: addrs, MasterName: d.cfg.Redis.MasterName, DB: d.cfg.Redis.DB, TLSConfig: redisTLS,
		Username: d.cfg.Redis.Username, Password: d.cfg.Redis.Password,
		// Each outbox shard holds a connection in a blocking read (per node
		// on a cluster).
		PoolSize: d.cfg.Redis.Shards + 32,
	}
	RouteGoRedisLog(d.log)
	d.rdb = newRedisClient(d.cfg.Redis.Mode(), opts)
	d.onShutdown("redis client", func(context.Context) error { return d.rdb.Close() })
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.rdb.Ping(pingCtx).Err(); err != nil {
		return fmt.Errorf("redis %s (%s): %w", strings.Join(addrs, ","), d.cfg.Redis.Mode(), err)
	}
	d.log.Info().Strs("addrs", addrs).Str("mode", d.cfg.Redis.Mode()).Msg("redis connected")
	// The health check pings on a connection of its own, so a pool busy
	// under load does not read as Redis down (see redisHealth).
	pingOpts := *opts
	pingOpts.PoolSize, pingOpts.MaxRetries = 1, -1
	pingOpts.ReadTimeout, pingOpts.WriteTimeout, pingOpts.DialTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	d.health = newRedisHealth(d.rdb, newRedisClient(d.cfg.Redis.Mode(), &pingOpts),
		d.log.With().Str("component", "redis_health").Logger())
	return d.run(ctx, "redis health", d.health)
}

// newRedisClient builds the client for a deployment mode ("cluster",
// "sentinel", else one server; DESIGN "Redis deployments").
func newRedisClient(mode string, opts *redis.UniversalOptions) redis.UniversalClient {
	switch mode {
	case "cluster":
		return redis.NewClusterClient(opts.Cluster())
	case "sentinel":
		return redis.NewFailoverClient(opts.Failover())
	default:
		return redis.NewClient(opts.Simple())
	}
}

func (d *Daemon) startKafka() error {
	d.brokers = d.cfg.Kafka.Brokers
	if len(d.brokers) > 0 {
		return nil
	}
	_, portStr, _ := net.SplitHostPort(d.cfg.Kafka.EmbeddedListen)
	port, _ := strconv.Atoi(portStr)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.AllowAutoTopicCreation(),
		kfake.SeedTopics(1, d.cfg.Kafka.AlertsTopic, d.cfg.Kafka.UpdatesTopic, d.cfg.Kafka.DeadLetterTopic))
	if err != nil {
		return fmt.Errorf("start embedded kafka on %s: %w", d.cfg.Kafka.EmbeddedListen, err)
	}
	d.onShutdown("embedded kafka", func(context.Context) error { cluster.Close(); return nil })
	d.brokers = cluster.ListenAddrs()
	d.log.Warn().Strs("brokers", d.brokers).Msg("NO KAFKA BROKERS CONFIGURED: using an embedded in-memory Kafka broker. " +
		"PUBLISHED EVENTS ARE LOST WHEN THIS PROCESS EXITS. Set HOTLINED_KAFKA_BROKERS for production.")
	return nil
}

// kafkaSecurity builds the TLS config and SASL mechanism of the Kafka
// connections from config.
func kafkaSecurity(c configs.Kafka) (*tls.Config, sasl.Mechanism, error) {
	tlsCfg, err := c.TLS.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("kafka tls: %w", err)
	}
	var mechanism sasl.Mechanism
	switch c.SASL.Mechanism {
	case "PLAIN":
		mechanism = plain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if c.SASL.Mechanism == "SCRAM-SHA-512" {
			algo = scram.SHA512
		}
		if mechanism, err = scram.Mechanism(algo, c.SASL.Username, c.SASL.Password); err != nil {
			return nil, nil, fmt.Errorf("kafka sasl: %w", err)
		}
	}
	return tlsCfg, mechanism, nil
}

// consumerName names this process in the outbox consumer group.
func consumerName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.Join([]string{host, strconv.Itoa(os.Getpid()), hex.EncodeToString(b)}, "-")
}

// Package configs loads and validates hotlined's YAML configuration.
//
// Loading is strict: Default() first, then the file decoded with unknown keys
// rejected, then environment overrides, then Validate(). Every error names the
// key path it is about, so an operator can find the line to fix.
package configs

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole daemon configuration.
type Config struct {
	SIP        SIP              `yaml:"sip"`
	HTTP       HTTP             `yaml:"http"`
	Log        Log              `yaml:"log"`
	Redis      Redis            `yaml:"redis"`
	Kafka      Kafka            `yaml:"kafka"`
	API        API              `yaml:"api"`
	TimeZone   string           `yaml:"time_zone"`
	Provinces  Provinces        `yaml:"provinces"`
	Hotlines   []Hotline        `yaml:"hotlines"`
	Menus      map[string]*Node `yaml:"menus"`
	Escalation Escalation       `yaml:"escalation"`
	Classifier Classifier       `yaml:"classifier"`
	Retention  Retention        `yaml:"retention"`
	OTel       OTel             `yaml:"otel"`
	// ShutdownGrace bounds SIGTERM: calls in progress, the outbox flush
	// and the rest must end within it (default 30s); what the relay did
	// not publish by then stays in the outbox for the next daemon.
	ShutdownGrace Duration       `yaml:"shutdown_grace"`
	Location      *time.Location `yaml:"-"`
	// ProblemCodes is the table of Classifier.ProblemCodesFile, loaded by
	// Load; nil when no file is configured (or after Parse alone).
	ProblemCodes *ProblemCodes       `yaml:"-"`
	hotlineIdx   map[string]*Hotline `yaml:"-"`
}

// SIP is the SIP edge.
type SIP struct {
	// Listen holds "transport:host:port" entries, transport udp or tcp.
	Listen []string `yaml:"listen"`
	// TrustedSources are CIDRs allowed to send requests; empty means all.
	TrustedSources []string `yaml:"trusted_sources"`
	// MaxMessageBytes caps a SIP message.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// UserAgent is the Server/User-Agent header value.
	UserAgent string `yaml:"user_agent"`
	// MaxCalls caps concurrent calls; a new INVITE over it gets 503.
	MaxCalls int `yaml:"max_calls"`
	// MaxPendingOrders caps the calls whose work order is being written
	// (waiting on Redis); at it a new INVITE gets 503 before it is
	// answered, so a slow or saturated Redis turns into refused calls the
	// carrier can route elsewhere, not answered calls hung up without an
	// order. Calls in progress go on.
	MaxPendingOrders int `yaml:"max_pending_orders"`
	// RatePerSource and BurstPerSource limit requests per source address
	// (a token bucket); over the limit a request gets 503 with Retry-After.
	RatePerSource  float64 `yaml:"rate_per_source"`
	BurstPerSource int     `yaml:"burst_per_source"`
	// AnswerDelay holds the 200 back after a 180 Ringing (0: answer at once).
	AnswerDelay Duration `yaml:"answer_delay"`
	// RTPPorts is the UDP port range for media, "min-max".
	RTPPorts string `yaml:"rtp_ports"`
	// MediaAddress is the address put in SDP and bound for RTP; empty means
	// the first SIP listener's host.
	MediaAddress string `yaml:"media_address"`
	// TLSCertFile and TLSKeyFile serve the tls: listeners.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Prompts is the folder of WAV prompts, Language its subfolder.
	Prompts  string `yaml:"prompts"`
	Language string `yaml:"language"`
	// TransferTimeout bounds the wait for the REFER's final NOTIFY, and in
	// bridge mode for the agent's answer (no answer by then: a failed
	// transfer).
	TransferTimeout Duration `yaml:"transfer_timeout"`
	// TransferMode is how a call reaches the agent: TransferBridge
	// (hotlined calls the agent itself and joins the two legs, relaying
	// the media) or TransferRefer (REFER to the caller's side); a leaf's
	// transfer_mode overrides it, HOTLINED_TRANSFER_MODE overrides both.
	TransferMode string `yaml:"transfer_mode"`
	// ACDURI names the contact centre, "sip:host[:port][;transport=tcp]"
	// with no user part: a leaf's queue Q is called at sip:Q@host:port.
	ACDURI string `yaml:"acd_uri"`
	// transferModeForced: HOTLINED_TRANSFER_MODE was set, leaves' modes
	// do not count.
	transferModeForced bool
	IVR                IVR `yaml:"ivr"`

	// Admission: what a source may hold, so a flood cannot starve callers.
	// AckTimeout frees the slot of an answered INVITE whose ACK has not
	// come (a half-open call).
	AckTimeout Duration `yaml:"ack_timeout"`
	// MaxHalfOpen caps calls not yet ACKed from all sources that are not
	// trusted proxies; MaxHalfOpenPerSource caps them per source address.
	MaxHalfOpen          int `yaml:"max_half_open"`
	MaxHalfOpenPerSource int `yaml:"max_half_open_per_source"`
	// TCPMaxConnsPerSource caps open TCP/TLS connections per source
	// address; TCPIdleTimeout closes a connection that sent nothing (CRLF
	// keep-alives count) for that long; TCPHeaderTimeout closes one whose
	// message head is not complete that long after its first byte.
	TCPMaxConnsPerSource int      `yaml:"tcp_max_conns_per_source"`
	TCPIdleTimeout       Duration `yaml:"tcp_idle_timeout"`
	TCPHeaderTimeout     Duration `yaml:"tcp_header_timeout"`
	// TrustedProxies are CIDRs of the SBCs/proxies in front of us: they
	// are trusted (as if in trusted_sources) and each has the Proxy budget
	// instead of the per-source one, apart from everybody else's.
	TrustedProxies []string `yaml:"trusted_proxies"`
	Proxy          Budget   `yaml:"proxy"`
}

// Budget is what one trusted proxy may use.
type Budget struct {
	RatePerSource  float64 `yaml:"rate_per_source"`  // requests per second (token bucket)
	BurstPerSource int     `yaml:"burst_per_source"` // bucket size
	MaxHalfOpen    int     `yaml:"max_half_open"`    // calls not yet ACKed
	TCPMaxConns    int     `yaml:"tcp_max_conns"`    // open TCP/TLS connections
}

// IVR timing of the live menu (zero: the ivr package defaults).
type IVR struct {
	FirstDigitTimeout Duration `yaml:"first_digit_timeout"`
	InterDigitTimeout Duration `yaml:"inter_digit_timeout"`
	MaxRetries        int      `yaml:"max_retries"`
	MaxDuration       Duration `yaml:"max_duration"`
}

// HTTP is the API listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// PublicURL is how agents' softphones reach the pages (the Call-Info
	// screen-pop link); empty means http:// plus the listen address.
	PublicURL string `yaml:"public_url"`
	// SessionKeyEnv names the environment variable holding the key that
	// signs the pages' session cookies (at least 32 bytes). Give every
	// daemon behind one load balancer the same key, so a login on one is
	// valid on the others; empty draws a key per process (a restart logs
	// everyone out).
	SessionKeyEnv string `yaml:"session_key_env"`
	// SessionKey is read from SessionKeyEnv at load time.
	SessionKey string `yaml:"-"`
}

// Log settings.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"` // json or console
}

// Redis connection. No address at all means an embedded in-memory Redis.
type Redis struct {
	// Addrs are host:port: one is a single server; several are the seed
	// nodes of a Redis Cluster; with MasterName set they are the Sentinels.
	Addrs []string `yaml:"addrs"`
	// MasterName is the Sentinel master set's name; empty means no Sentinel.
	MasterName string `yaml:"master_name"`
	// Addr is the older single-server spelling of Addrs (one of the two).
	Addr   string `yaml:"addr"`
	DB     int    `yaml:"db"`
	Shards int    `yaml:"shards"`
	Prefix string `yaml:"prefix"`
	// Username is the Redis ACL user; the password comes from the
	// environment variable named by PasswordEnv, never from the file.
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	TLS         TLS    `yaml:"tls"`
	// Password is read from PasswordEnv at load time.
	Password string `yaml:"-"`
}

// Servers are the Redis addresses in use (Addrs, or Addr alone); none
// means embedded.
func (r Redis) Servers() []string {
	if len(r.Addrs) > 0 {
		return r.Addrs
	}
	if r.Addr != "" {
		return []string{r.Addr}
	}
	return nil
}

// Mode names the Redis deployment: "embedded", "single", "cluster" (several
// addresses) or "sentinel" (MasterName set).
func (r Redis) Mode() string {
	switch n := len(r.Servers()); {
	case n == 0:
		return "embedded"
	case r.MasterName != "":
		return "sentinel"
	case n > 1:
		return "cluster"
	}
	return "single"
}

var redisNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// TLS settings of a client connection.
type TLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the server; empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are this client's certificate, for mutual TLS.
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// SASL settings of the Kafka connection.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty means none.
	Mechanism   string `yaml:"mechanism"`
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	// Password is read from PasswordEnv at load time.
	Password string `yaml:"-"`
}

// Config builds the tls.Config, reading the files.
func (t TLS) Config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", t.CAFile)
		}
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Kafka connection, topics and routing. Empty Brokers means an embedded broker.
type Kafka struct {
	Brokers          []string `yaml:"brokers"`
	EmbeddedListen   string   `yaml:"embedded_listen"`
	Source           string   `yaml:"source"`
	BatchTimeout     Duration `yaml:"batch_timeout"`
	AutoCreateTopics bool     `yaml:"auto_create_topics"`
	AlertsTopic      string   `yaml:"alerts_topic"`
	UpdatesTopic     string   `yaml:"updates_topic"`
	DeadLetterTopic  string   `yaml:"deadletter_topic"`
	ConsumerGroup    string   `yaml:"consumer_group"`
	// OutboxClaimIdle is the TTL of a relay's lease on an outbox shard,
	// renewed every third of it: how long a dead daemon's shards, and the
	// entries it read but never acknowledged, wait before another daemon
	// publishes them (default 2s).
	OutboxClaimIdle Duration `yaml:"outbox_claim_idle"`
	TLS             TLS      `yaml:"tls"`
	SASL            SASL     `yaml:"sasl"`
	// OutboxAlertThreshold: more events than this waiting for Kafka raise a
	// supervisor alert.
	OutboxAlertThreshold int64   `yaml:"outbox_alert_threshold"`
	Routes               []Route `yaml:"routes"`
}

// Route sends an event matching every non-empty list of Match to Topics.
// A topic may contain {province}.
type Route struct {
	Match  RouteMatch `yaml:"match"`
	Topics []string   `yaml:"topics"`
	// Fields, when set, is the allow-list of the work order's top-level
	// keys these topics receive (id always): a consumer gets only what it
	// needs (DOMAIN.md "Data rules"). Empty: the whole order.
	Fields []string `yaml:"fields"`
}

// RouteMatch lists accepted values per work-order attribute; an empty list accepts any.
type RouteMatch struct {
	Tier        []string `yaml:"tier"`
	Class       []string `yaml:"class"`
	Category    []string `yaml:"category"`
	Subcategory []string `yaml:"subcategory"`
	// Flags match an order with any of them (batch: the batch handler).
	Flags []string `yaml:"flags"`
}

// API settings.
type API struct {
	Tokens []Token `yaml:"tokens"`
}

// Token is a bearer token, stored as the hex SHA-256 of its secret.
type Token struct {
	Role   string `yaml:"role"`
	SHA256 string `yaml:"sha256"`
}

// Provinces maps number prefixes to province codes for hotlines whose
// province comes from the caller.
type Provinces struct {
	Unknown  string            `yaml:"unknown"`
	Prefixes map[string]string `yaml:"prefixes"`
	// Files are prefix tables (a YAML mapping under prefixes:, the same
	// form) loaded at start: the national fixed-line area codes shipped in
	// provinces/area_codes.yaml, the operator's mobile segments. Relative
	// to this config file; Prefixes above win over them.
	Files []string `yaml:"files"`
}

// Hotline is one called number.
type Hotline struct {
	Number string `yaml:"number"`
	Tier   string `yaml:"tier"`
	// Province is a province code, or "from_caller".
	Province string `yaml:"province"`
	Menu     string `yaml:"menu"`
}

// ProvinceFromCaller is the Hotline.Province value that derives the province
// from the X-Province header or the caller's number prefix.
const ProvinceFromCaller = "from_caller"

// Node is a menu node: a submenu (Options) or a leaf (Category).
type Node struct {
	Prompt  string           `yaml:"prompt"`
	Options map[string]*Node `yaml:"options"`
	Leaf    `yaml:",inline"`
}

// Leaf is where the caller's choice ends.
type Leaf struct {
	Category    string `yaml:"category"`
	Subcategory string `yaml:"subcategory"`
	// Queue is the contact-centre queue that takes the call (the user
	// part of the target at sip.acd_uri); Transfer, a whole sip: URI,
	// beats it for a target outside the contact centre.
	Queue    string `yaml:"queue"`
	Transfer string `yaml:"transfer"`
	// TransferMode overrides sip.transfer_mode for this leaf ("" keeps it).
	TransferMode         string `yaml:"transfer_mode"`
	CollectServiceNumber bool   `yaml:"collect_service_number"`
	// ProblemCode is the leaf's default problem code (group.code in the
	// problem-code table); agents refine it on the order.
	ProblemCode string `yaml:"problem_code"`
	// EscalationTendency: the caller says they will go to the regulator,
	// 12300, the consumer association or a court (越级倾向): the order is
	// flagged escalation_risk, high priority, reported upward; its class
	// does not change.
	EscalationTendency bool `yaml:"escalation_tendency"`
	// PublicOpinionRisk: the caller says the media is or will be involved
	// (舆情风险): a major complaint, exposure threatened.
	PublicOpinionRisk bool `yaml:"public_opinion_risk"`
	ResolveInIVR      bool `yaml:"resolve_in_ivr"`
}

// Escalation holds deadline durations per category and stage.
type Escalation struct {
	// PoliciesFile holds the SLA policies (stages, warnings, ladders) and
	// CalendarFile the working-day calendar; relative paths are relative to
	// this config file.
	PoliciesFile string                         `yaml:"policies_file"`
	CalendarFile string                         `yaml:"calendar_file"`
	Deadlines    map[string]map[string]Duration `yaml:"deadlines"`
	PollInterval Duration                       `yaml:"poll_interval"`
	Lease        Duration                       `yaml:"lease"`
	// AutoArchiveAfter archives an order left resolved this long without a
	// reopen (the follow-up period, DOMAIN.md), so a complaint's repeat
	// window opens; 0 never archives automatically.
	AutoArchiveAfter Duration `yaml:"auto_archive_after"`
}

// OTel is OpenTelemetry tracing: one trace per call, from the INVITE
// through the classification to the Kafka publish.
type OTel struct {
	// Endpoint is the OTLP/HTTP collector URL (http://collector:4318); empty
	// exports nothing (trace ids are still made, logged and put in
	// ce_traceparent).
	Endpoint    string `yaml:"endpoint"`
	ServiceName string `yaml:"service_name"`
}

// Retention is how long orders are kept (DOMAIN.md "Data rules").
type Retention struct {
	// AfterArchive purges an archived order, its indexes and its
	// deadline timers this long after it was archived; 0 keeps orders
	// forever (the daemon warns). No default: the operator decides.
	AfterArchive Duration `yaml:"after_archive"`
}

// Classifier holds the classification rules' parameters.
type Classifier struct {
	// RulesFile holds the classification rules, thresholds, windows and
	// keywords; relative paths are relative to this config file.
	RulesFile string `yaml:"rules_file"`
	// ProblemCodesFile holds the unified complaint code table
	// (configs/problem_codes.yaml); relative to this config file. With it,
	// every menu leaf must name a problem_code of the table.
	ProblemCodesFile string `yaml:"problem_codes_file"`
}

// Duration is a time.Duration written as "2h", "90s".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like 2h or 500ms", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 2h or 500ms", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Roles are the API roles.
var Roles = []string{"agent", "supervisor", "system"}

// Default returns the built-in defaults, the base the file is laid over.
func Default() *Config {
	return &Config{
		ShutdownGrace: Duration(30 * time.Second),
		SIP: SIP{
			Listen:           []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"},
			MaxMessageBytes:  16384,
			UserAgent:        "hotlined",
			MaxCalls:         2000,
			MaxPendingOrders: 256,
			RatePerSource:    200,
			BurstPerSource:   400,
			RTPPorts:         "20000-39999",
			Prompts:          "prompts",
			Language:         "zh",
			TransferTimeout:  Duration(30 * time.Second),
			TransferMode:     TransferBridge,

			AckTimeout:           Duration(5 * time.Second),
			MaxHalfOpen:          500,
			MaxHalfOpenPerSource: 10,
			TCPMaxConnsPerSource: 32,
			TCPIdleTimeout:       Duration(3 * time.Minute),
			TCPHeaderTimeout:     Duration(10 * time.Second),
			Proxy:                Budget{RatePerSource: 2000, BurstPerSource: 4000, MaxHalfOpen: 1000, TCPMaxConns: 1024},
		},
		HTTP:     HTTP{Listen: "127.0.0.1:8080"},
		Log:      Log{Level: "info", Format: "json"},
		Redis:    Redis{Shards: 8, Prefix: "hotlined"},
		TimeZone: "Asia/Shanghai",
		Kafka: Kafka{
			EmbeddedListen:       "127.0.0.1:9092",
			Source:               "/hotlined",
			BatchTimeout:         Duration(5 * time.Millisecond),
			AutoCreateTopics:     true,
			AlertsTopic:          "hotline.alerts",
			UpdatesTopic:         "hotline.workorders.updates",
			DeadLetterTopic:      "hotline.deadletter",
			ConsumerGroup:        "hotlined",
			OutboxClaimIdle:      Duration(2 * time.Second),
			OutboxAlertThreshold: 1000,
		},
		Provinces: Provinces{Unknown: "XX"},
		OTel:      OTel{ServiceName: "hotlined"},
		Escalation: Escalation{
			PollInterval: Duration(5 * time.Second),
			Lease:        Duration(30 * time.Second),
		},
	}
}

// Error is a validation error tied to a key path, and to a line when
// known: "FILE: key.path: msg (line N)". Every strict YAML loader of
// hotlined returns it (config, classifier rules, escalation policies and
// calendars); a file with several problems gives them all, joined with
// errors.Join.
type Error struct {
	File string
	Path string
	Msg  string
	// Line is the line of Path in File, 0 when unknown (or already in Msg,
	// as KeyPathMessage writes it).
	Line int
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// InFile names path in every *Error of err (errors.Join'ed or not) and
// returns err; any other error is wrapped with the path.
func InFile(err error, path string) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			InFile(e, path)
		}
		return err
	}
	var ce *Error
	if errors.As(err, &ce) {
		ce.File = path
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// Load reads path, applies environment overrides from lookupEnv
// (os.LookupEnv when nil) and validates the result.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&cfg.Classifier.RulesFile, &cfg.Classifier.ProblemCodesFile, &cfg.Escalation.PoliciesFile, &cfg.Escalation.CalendarFile,
		&cfg.SIP.Prompts, &cfg.SIP.TLSCertFile, &cfg.SIP.TLSKeyFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i, f := range cfg.Provinces.Files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
			cfg.Provinces.Files[i] = f
		}
		if err := cfg.loadPrefixes(f); err != nil {
			return nil, fmt.Errorf("%s: provinces.files[%d]: %w", path, i, err)
		}
	}
	if f := cfg.Classifier.ProblemCodesFile; f != "" {
		if cfg.ProblemCodes, err = LoadProblemCodes(f); err != nil {
			return nil, err
		}
		if err := cfg.checkProblemCodes(); err != nil {
			return nil, InFile(err, path)
		}
	}
	return cfg, nil
}

// loadPrefixes adds the prefix table in file f under the prefixes the
// config holds already (they win).
func (c *Config) loadPrefixes(f string) error {
	data, err := os.ReadFile(f)
	if err != nil {
		return fmt.Errorf("read province prefixes: %w", err)
	}
	if len(data) > MaxFileBytes {
		return &Error{File: f, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return &Error{File: f, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var table struct {
		Prefixes map[string]string `yaml:"prefixes"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&table); err != nil && !errors.Is(err, io.EOF) {
		return &Error{File: f, Msg: KeyPathMessage(err, &root)}
	}
	var errs []error
	if c.Provinces.Prefixes == nil {
		c.Provinces.Prefixes = map[string]string{}
	}
	for _, k := range sortedKeys(table.Prefixes) {
		v := table.Prefixes[k]
		switch {
		case !digitsRe.MatchString(k):
			errs = append(errs, &Error{File: f, Path: "prefixes." + k, Msg: "key must be digits"})
		case !ValidProvince(v):
			errs = append(errs, &Error{File: f, Path: "prefixes." + k, Msg: fmt.Sprintf("must be 2 or 3 upper-case letters, got %q", v)})
		default:
			if _, ok := c.Provinces.Prefixes[k]; !ok {
				c.Provinces.Prefixes[k] = v
			}
		}
	}
	return errors.Join(errs...)
}

// checkProblemCodes checks that every menu leaf names a code of the table.
func (c *Config) checkProblemCodes() error {
	var errs []error
	var walk func(path string, n *Node)
	walk = func(path string, n *Node) {
		if n == nil {
			return
		}
		if n.Category != "" {
			switch _, ok := c.ProblemCodes.Lookup(n.ProblemCode); {
			case n.ProblemCode == "":
				errs = append(errs, &Error{Path: path + ".problem_code", Msg: "required: every leaf names its default problem code"})
			case !ok:
				errs = append(errs, &Error{Path: path + ".problem_code",
					Msg: fmt.Sprintf("%q is not in the problem-code table %s", n.ProblemCode, c.Classifier.ProblemCodesFile)})
			}
			return
		}
		for _, k := range sortedKeys(n.Options) {
			walk(path+".options."+k, n.Options[k])
		}
	}
	for _, name := range sortedKeys(c.Menus) {
		walk("menus."+name, c.Menus[name])
	}
	return errors.Join(errs...)
}

// MaxFileBytes caps the config file size.
const MaxFileBytes = 4 << 20

// Parse decodes data over Default(), applies environment overrides and validates.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	cfg := Default()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, withKeyPaths(err, &root)
	}
	if err := cfg.applyEnv(lookupEnv); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlLineRe = regexp.MustCompile(`^line (\d+): (.*)$`)

// withKeyPaths turns a yaml.v3 decoding error into an Error naming key paths.
func withKeyPaths(err error, root *yaml.Node) error {
	return &Error{Msg: KeyPathMessage(err, root)}
}

// ourTypes are the package qualifiers dropped from yaml.v3's messages
// ("field x not found in type configs.SIP" reads "... in type SIP").
var ourTypes = regexp.MustCompile(`\b(configs|classifier|escalation)\.`)

// KeyPathMessage rewrites yaml.v3's "line N: msg" errors as "key.path: msg
// (line N)", finding the key by its line in the parsed node tree. The
// config and the classifier rules report this way; the escalation loaders
// build one Error per message from the same parts (KeyLines,
// SplitYAMLError).
func KeyPathMessage(err error, root *yaml.Node) string {
	paths := NewKeyLines(root).ByLine
	var lines []string
	for _, pr := range SplitYAMLError(err) {
		if pr.Line == 0 {
			lines = append(lines, pr.Msg)
			continue
		}
		text := ourTypes.ReplaceAllString(pr.Msg, "")
		if p, ok := paths[pr.Line]; ok {
			lines = append(lines, fmt.Sprintf("%s: %s (line %d)", p, text, pr.Line))
		} else {
			lines = append(lines, fmt.Sprintf("line %d: %s", pr.Line, text))
		}
	}
	return strings.Join(lines, "; ")
}

// YAMLProblem is one message of a yaml.v3 error.
type YAMLProblem struct {
	Line int // 0 when the message names no line
	Msg  string
}

// SplitYAMLError splits a yaml.v3 error into its messages ("line 7: field
// x not found in type T" gives Line 7 and the rest), without the "yaml: "
// prefixes.
func SplitYAMLError(err error) []YAMLProblem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = strings.Split(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n"), "\n")
	}
	out := make([]YAMLProblem, 0, len(msgs))
	for _, l := range msgs {
		l = strings.TrimPrefix(strings.TrimSpace(l), "yaml: ")
		if m := yamlLineRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, YAMLProblem{Line: n, Msg: m[2]})
			continue
		}
		out = append(out, YAMLProblem{Msg: l})
	}
	return out
}

// KeyLines maps the key paths of a parsed YAML file ("policies[2].ladder",
// "years.2027.holidays[3]") to their lines and back, to name the key of a
// yaml.v3 error and the line of a validation error. A line holding several
// keys (a flow mapping) maps to the first; aliases are not followed.
type KeyLines struct {
	ByLine map[int]string
	ByPath map[string]int
}

// NewKeyLines walks the node tree of root.
func NewKeyLines(root *yaml.Node) KeyLines {
	l := KeyLines{ByLine: map[int]string{}, ByPath: map[string]int{}}
	note := func(line int, path string) {
		if _, ok := l.ByLine[line]; !ok {
			l.ByLine[line] = path
		}
		if _, ok := l.ByPath[path]; !ok {
			l.ByPath[path] = line
		}
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				kp := k.Value
				if path != "" {
					kp = path + "." + k.Value
				}
				note(k.Line, kp)
				walk(v, kp)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				ip := fmt.Sprintf("%s[%d]", path, i)
				note(c.Line, ip)
				walk(c, ip)
			}
		}
	}
	walk(root, "")
	return l
}

// Line is the line of path or, for a key left out of the file, of the
// nearest enclosing key that is in it; 0 when none is.
func (l KeyLines) Line(path string) int {
	for path != "" {
		if n, ok := l.ByPath[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) error {
	get := func(k string) (string, bool) {
		v, ok := lookupEnv(k)
		return strings.TrimSpace(v), ok
	}
	if v, ok := get("HOTLINED_SIP_LISTEN"); ok {
		c.SIP.Listen = splitList(v)
	}
	if v, ok := get("HOTLINED_HTTP_LISTEN"); ok {
		c.HTTP.Listen = v
	}
	if v, ok := get("HOTLINED_PUBLIC_URL"); ok {
		c.HTTP.PublicURL = v
	}
	// Set but empty means embedded, even when the file names a server.
	if v, ok := get("HOTLINED_REDIS_ADDR"); ok {
		c.Redis.Addr, c.Redis.Addrs = "", splitList(v)
	}
	if v, ok := get("HOTLINED_REDIS_MASTER"); ok {
		c.Redis.MasterName = v
	}
	if v, ok := get("HOTLINED_KAFKA_BROKERS"); ok {
		c.Kafka.Brokers = splitList(v)
	}
	// Moves the embedded broker off 127.0.0.1:9092 (used only without brokers).
	if v, ok := get("HOTLINED_KAFKA_EMBEDDED_LISTEN"); ok && v != "" {
		c.Kafka.EmbeddedListen = v
	}
	if v, ok := get("HOTLINED_LOG_LEVEL"); ok && v != "" {
		c.Log.Level = v
	}
	// The contact centre and the transfer mode of every leaf (DESIGN
	// "Transfer").
	if v, ok := get("HOTLINED_ACD_URI"); ok && v != "" {
		c.SIP.ACDURI = v
	}
	if v, ok := get("HOTLINED_TRANSFER_MODE"); ok && v != "" {
		c.SIP.TransferMode, c.SIP.transferModeForced = v, true
	}
	for _, sec := range []struct {
		path string
		env  string
		dst  *string
	}{
		{"redis.password_env", c.Redis.PasswordEnv, &c.Redis.Password},
		{"http.session_key_env", c.HTTP.SessionKeyEnv, &c.HTTP.SessionKey},
		{"kafka.sasl.password_env", c.Kafka.SASL.PasswordEnv, &c.Kafka.SASL.Password},
	} {
		if sec.env == "" {
			continue
		}
		v, ok := lookupEnv(sec.env)
		if !ok || v == "" {
			return &Error{Path: sec.path, Msg: fmt.Sprintf("environment variable %s is not set", sec.env)}
		}
		*sec.dst = v
	}
	if v, ok := get("HOTLINED_API_TOKENS"); ok {
		c.API.Tokens = nil
		for i, pair := range splitList(v) {
			role, secret, found := strings.Cut(pair, ":")
			if !found || secret == "" {
				return &Error{Path: fmt.Sprintf("HOTLINED_API_TOKENS[%d]", i), Msg: "want role:token"}
			}
			c.API.Tokens = append(c.API.Tokens, Token{Role: role, SHA256: HashToken(secret)})
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// HashToken returns the hex SHA-256 of a bearer token, the form kept in the file.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

var (
	numberRe  = regexp.MustCompile(`^[0-9]{3,20}$`)
	digitsRe  = regexp.MustCompile(`^[0-9]+$`)
	fieldRe   = regexp.MustCompile(`^[a-z][a-z_]{0,40}$`)
	nameRe    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	hexRe     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks every value and fills derived fields.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, &Error{Path: path, Msg: fmt.Sprintf(format, a...)})
	}

	if len(c.SIP.Listen) == 0 {
		bad("sip.listen", "at least one listener is required")
	}
	for i, l := range c.SIP.Listen {
		if _, _, err := ParseListen(l); err != nil {
			bad(fmt.Sprintf("sip.listen[%d]", i), "%v", err)
		}
	}
	for i, s := range c.SIP.TrustedSources {
		if _, err := netip.ParsePrefix(s); err != nil {
			bad(fmt.Sprintf("sip.trusted_sources[%d]", i), "%q is not a CIDR like 10.0.0.0/8", s)
		}
	}
	if c.SIP.MaxCalls < 1 {
		bad("sip.max_calls", "must be >= 1")
	}
	if c.SIP.MaxPendingOrders < 1 {
		bad("sip.max_pending_orders", "must be >= 1")
	}
	for i, s := range c.SIP.TrustedProxies {
		if _, err := netip.ParsePrefix(s); err != nil {
			bad(fmt.Sprintf("sip.trusted_proxies[%d]", i), "%q is not a CIDR like 10.0.0.0/8", s)
		}
	}
	if d := c.SIP.AckTimeout.D(); d < 500*time.Millisecond || d > 32*time.Second {
		bad("sip.ack_timeout", "must be between 500ms and 32s (64*T1)")
	}
	if c.SIP.MaxHalfOpen < 1 || c.SIP.MaxHalfOpenPerSource < 1 {
		bad("sip.max_half_open", "max_half_open and max_half_open_per_source must be >= 1")
	}
	if c.SIP.TCPMaxConnsPerSource < 1 {
		bad("sip.tcp_max_conns_per_source", "must be >= 1")
	}
	if c.SIP.TCPIdleTimeout.D() < time.Second || c.SIP.TCPHeaderTimeout.D() < 100*time.Millisecond {
		bad("sip.tcp_idle_timeout", "tcp_idle_timeout must be >= 1s and tcp_header_timeout >= 100ms")
	}
	if p := c.SIP.Proxy; p.RatePerSource <= 0 || p.BurstPerSource < 1 || p.MaxHalfOpen < 1 || p.TCPMaxConns < 1 {
		bad("sip.proxy", "rate_per_source must be > 0, burst_per_source, max_half_open and tcp_max_conns >= 1")
	}
	if c.SIP.RatePerSource <= 0 || c.SIP.BurstPerSource < 1 {
		bad("sip.rate_per_source", "rate must be > 0 and burst_per_source >= 1")
	}
	if c.SIP.AnswerDelay.D() < 0 || c.SIP.AnswerDelay.D() > 30*time.Second {
		bad("sip.answer_delay", "must be between 0 and 30s")
	}
	if _, _, err := c.SIP.RTPPortRange(); err != nil {
		bad("sip.rtp_ports", "%v", err)
	}
	if c.SIP.MediaAddress != "" {
		if _, err := netip.ParseAddr(c.SIP.MediaAddress); err != nil {
			bad("sip.media_address", "%q is not an IP address", c.SIP.MediaAddress)
		}
	}
	for _, l := range c.SIP.Listen {
		if strings.HasPrefix(l, "tls:") && (c.SIP.TLSCertFile == "" || c.SIP.TLSKeyFile == "") {
			bad("sip.tls_cert_file", "a tls: listener needs tls_cert_file and tls_key_file")
			break
		}
	}
	switch c.SIP.Language {
	case "zh", "en":
	default:
		bad("sip.language", "must be zh or en; got %q", c.SIP.Language)
	}
	if c.SIP.TransferTimeout.D() < time.Second {
		bad("sip.transfer_timeout", "must be >= 1s")
	}
	if !slices.Contains(TransferModes, c.SIP.TransferMode) {
		bad("sip.transfer_mode", "must be bridge or refer; got %q", c.SIP.TransferMode)
	}
	if c.SIP.ACDURI != "" {
		if err := checkACDURI(c.SIP.ACDURI); err != nil {
			bad("sip.acd_uri", "%v", err)
		}
	}
	if c.SIP.IVR.FirstDigitTimeout.D() < 0 || c.SIP.IVR.InterDigitTimeout.D() < 0 || c.SIP.IVR.MaxDuration.D() < 0 || c.SIP.IVR.MaxRetries < 0 {
		bad("sip.ivr", "timeouts and retries must not be negative")
	}
	if c.HTTP.PublicURL != "" && !strings.HasPrefix(c.HTTP.PublicURL, "http://") && !strings.HasPrefix(c.HTTP.PublicURL, "https://") {
		bad("http.public_url", "must start with http:// or https://; got %q", c.HTTP.PublicURL)
	}
	if u, err := url.Parse(c.HTTP.PublicURL); c.HTTP.PublicURL != "" && (err != nil || strings.Trim(u.Path, "/") != "" || u.Host == "") {
		// The pages link root-relative (/ui/...): a path prefix would break them.
		bad("http.public_url", "must be scheme://host[:port] with no path; got %q", c.HTTP.PublicURL)
	}
	if c.SIP.MaxMessageBytes < 1024 || c.SIP.MaxMessageBytes > 65535 {
		bad("sip.max_message_bytes", "must be between 1024 and 65535, got %d", c.SIP.MaxMessageBytes)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q is not host:port", c.HTTP.Listen)
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be one of trace, debug, info, warn, error; got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		bad("log.format", "must be json or console; got %q", c.Log.Format)
	}
	if c.Redis.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Redis.Addr); err != nil {
			bad("redis.addr", "%q is not host:port", c.Redis.Addr)
		}
		if len(c.Redis.Addrs) > 0 {
			bad("redis.addr", "set redis.addrs or redis.addr, not both")
		}
	}
	for i, a := range c.Redis.Addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			bad(fmt.Sprintf("redis.addrs[%d]", i), "%q is not host:port", a)
		}
	}
	if c.Redis.MasterName != "" && len(c.Redis.Servers()) == 0 {
		bad("redis.master_name", "needs the Sentinels' addresses in redis.addrs")
	}
	if c.Redis.MasterName != "" && !redisNameRe.MatchString(c.Redis.MasterName) {
		bad("redis.master_name", "%q is not a Sentinel master name (letters, digits, . _ -)", c.Redis.MasterName)
	}
	if len(c.Redis.Servers()) > 1 && c.Redis.MasterName == "" && c.Redis.DB != 0 {
		bad("redis.db", "must be 0 on a Redis Cluster (several redis.addrs)")
	}
	if c.ShutdownGrace.D() < time.Second {
		bad("shutdown_grace", "must be >= 1s")
	}
	if c.Redis.Shards < 1 || c.Redis.Shards > 1024 {
		bad("redis.shards", "must be between 1 and 1024, got %d", c.Redis.Shards)
	}
	if c.Redis.DB < 0 {
		bad("redis.db", "must be >= 0")
	}
	if !nameRe.MatchString(c.Redis.Prefix) {
		bad("redis.prefix", "must be lower-case letters, digits and _, got %q", c.Redis.Prefix)
	}
	for i, b := range c.Kafka.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad(fmt.Sprintf("kafka.brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if _, _, err := net.SplitHostPort(c.Kafka.EmbeddedListen); err != nil {
		bad("kafka.embedded_listen", "%q is not host:port", c.Kafka.EmbeddedListen)
	}
	if c.Kafka.Source == "" {
		bad("kafka.source", "must not be empty (it is the CloudEvents source)")
	}
	if c.Kafka.BatchTimeout.D() <= 0 || c.Kafka.BatchTimeout.D() > time.Second {
		bad("kafka.batch_timeout", "must be > 0 and <= 1s, got %s", c.Kafka.BatchTimeout.D())
	}
	if !validTopic(c.Kafka.AlertsTopic) {
		bad("kafka.alerts_topic", "%q is not a valid topic name", c.Kafka.AlertsTopic)
	}
	for path, t := range map[string]string{"kafka.updates_topic": c.Kafka.UpdatesTopic, "kafka.deadletter_topic": c.Kafka.DeadLetterTopic} {
		if !validTopic(t) {
			bad(path, "%q is not a valid topic name", t)
		}
	}
	if c.Kafka.ConsumerGroup == "" {
		bad("kafka.consumer_group", "must not be empty")
	}
	switch c.Kafka.SASL.Mechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.Kafka.SASL.Username == "" {
			bad("kafka.sasl.username", "required with a SASL mechanism")
		}
		if c.Kafka.SASL.PasswordEnv == "" {
			bad("kafka.sasl.password_env", "required with a SASL mechanism: the environment variable holding the password")
		}
	default:
		bad("kafka.sasl.mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; got %q", c.Kafka.SASL.Mechanism)
	}
	if c.HTTP.SessionKeyEnv != "" && !envNameRe.MatchString(c.HTTP.SessionKeyEnv) {
		bad("http.session_key_env", "%q is not an environment variable name", c.HTTP.SessionKeyEnv)
	}
	if c.HTTP.SessionKeyEnv != "" && len(c.HTTP.SessionKey) < 32 {
		bad("http.session_key_env", "the key in %s must be at least 32 bytes, got %d", c.HTTP.SessionKeyEnv, len(c.HTTP.SessionKey))
	}
	if c.Redis.PasswordEnv != "" && !envNameRe.MatchString(c.Redis.PasswordEnv) {
		bad("redis.password_env", "%q is not an environment variable name", c.Redis.PasswordEnv)
	}
	for path, t := range map[string]TLS{"kafka.tls": c.Kafka.TLS, "redis.tls": c.Redis.TLS} {
		if !t.Enabled {
			continue
		}
		if _, err := t.Config(); err != nil {
			bad(path, "%v", err)
		}
	}
	if c.Kafka.OutboxAlertThreshold < 1 {
		bad("kafka.outbox_alert_threshold", "must be >= 1")
	}
	if c.Kafka.OutboxClaimIdle.D() < time.Second {
		bad("kafka.outbox_claim_idle", "must be >= 1s")
	}
	if len(c.Kafka.Routes) == 0 {
		bad("kafka.routes", "at least one route is required, or no work order would be published")
	}
	for i, r := range c.Kafka.Routes {
		p := fmt.Sprintf("kafka.routes[%d]", i)
		checkIn(bad, p+".match.tier", r.Match.Tier, Tiers)
		checkIn(bad, p+".match.class", r.Match.Class, Classes)
		checkIn(bad, p+".match.category", r.Match.Category, Categories)
		checkIn(bad, p+".match.flags", r.Match.Flags, Flags)
		if len(r.Topics) == 0 {
			bad(p+".topics", "at least one topic is required")
		}
		for j, f := range r.Fields {
			if !fieldRe.MatchString(f) || slices.Contains(r.Fields[:j], f) {
				bad(fmt.Sprintf("%s.fields[%d]", p, j), "must be a work order key like service_number, each once; got %q", f)
			}
		}
		for j, t := range r.Topics {
			if !validTopic(strings.ReplaceAll(t, "{province}", "XX")) {
				bad(fmt.Sprintf("%s.topics[%d]", p, j), "%q is not a valid topic name", t)
			}
		}
	}
	seenToken := map[string]bool{}
	for i, t := range c.API.Tokens {
		p := fmt.Sprintf("api.tokens[%d]", i)
		if seenToken[t.SHA256] {
			bad(p+".sha256", "the same token is configured twice")
		}
		seenToken[t.SHA256] = true
		if !contains(Roles, t.Role) {
			bad(p+".role", "must be one of %s; got %q", strings.Join(Roles, ", "), t.Role)
		}
		if !hexRe.MatchString(t.SHA256) {
			bad(p+".sha256", "must be 64 lower-case hex digits (sha256 of the token)")
		}
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil || c.TimeZone == "" {
		bad("time_zone", "%q is not a known time zone", c.TimeZone)
	} else {
		c.Location = loc
	}
	if !ValidProvince(c.Provinces.Unknown) {
		bad("provinces.unknown", "must be 2 or 3 upper-case letters, got %q", c.Provinces.Unknown)
	}
	for _, k := range sortedKeys(c.Provinces.Prefixes) {
		if !digitsRe.MatchString(k) {
			bad("provinces.prefixes."+k, "key must be digits")
		}
		if !ValidProvince(c.Provinces.Prefixes[k]) {
			bad("provinces.prefixes."+k, "must be 2 or 3 upper-case letters, got %q", c.Provinces.Prefixes[k])
		}
	}
	if len(c.Menus) == 0 {
		bad("menus", "at least one menu is required")
	}
	for _, name := range sortedKeys(c.Menus) {
		validateNode(bad, "menus."+name, c.Menus[name], 0)
	}
	validateQueues(c, bad)
	if len(c.Hotlines) == 0 {
		bad("hotlines", "at least one hotline is required")
	}
	c.hotlineIdx = map[string]*Hotline{}
	for i := range c.Hotlines {
		h := &c.Hotlines[i]
		p := fmt.Sprintf("hotlines[%d]", i)
		if !numberRe.MatchString(h.Number) {
			bad(p+".number", "must be 3 to 20 digits, got %q", h.Number)
		} else if _, dup := c.hotlineIdx[h.Number]; dup {
			bad(p+".number", "%s is configured twice", h.Number)
		}
		c.hotlineIdx[h.Number] = h
		if !contains(Tiers, h.Tier) {
			bad(p+".tier", "must be one of %s; got %q", strings.Join(Tiers, ", "), h.Tier)
		}
		if h.Province != ProvinceFromCaller && !ValidProvince(h.Province) {
			bad(p+".province", "must be a province code like GD or %q; got %q", ProvinceFromCaller, h.Province)
		}
		if h.Menu == "" {
			h.Menu = "default"
		}
		if _, ok := c.Menus[h.Menu]; !ok {
			bad(p+".menu", "no menu named %q under menus", h.Menu)
		}
	}
	for _, cat := range sortedKeys(c.Escalation.Deadlines) {
		p := "escalation.deadlines." + cat
		if !contains(Categories, cat) {
			bad(p, "unknown category; want one of %s", strings.Join(Categories, ", "))
		}
		for _, stage := range sortedKeys(c.Escalation.Deadlines[cat]) {
			if !nameRe.MatchString(stage) {
				bad(p+"."+stage, "stage names are lower-case letters, digits and _")
			}
			if c.Escalation.Deadlines[cat][stage].D() <= 0 {
				bad(p+"."+stage, "must be > 0")
			}
		}
	}
	if c.OTel.Endpoint != "" && !strings.HasPrefix(c.OTel.Endpoint, "http://") && !strings.HasPrefix(c.OTel.Endpoint, "https://") {
		bad("otel.endpoint", "must be an http:// or https:// OTLP collector URL; got %q", c.OTel.Endpoint)
	}
	if c.OTel.ServiceName == "" {
		bad("otel.service_name", "must not be empty")
	}
	if c.Escalation.PollInterval.D() <= 0 {
		bad("escalation.poll_interval", "must be > 0")
	}
	if c.Escalation.Lease.D() < time.Second {
		bad("escalation.lease", "must be >= 1s")
	}
	if d := c.Retention.AfterArchive.D(); d != 0 && (d < 24*time.Hour || d > 10*366*24*time.Hour) {
		bad("retention.after_archive", "must be 0 (keep forever) or between 24h and 10 years, got %s", d)
	}
	if d := c.Escalation.AutoArchiveAfter.D(); d < 0 || d > 366*24*time.Hour {
		bad("escalation.auto_archive_after", "must be between 0 (never) and 8784h, got %s", d)
	}
	return errors.Join(errs...)
}

func validateNode(bad func(string, string, ...any), path string, n *Node, depth int) {
	if n == nil {
		bad(path, "empty menu node")
		return
	}
	if depth > 8 {
		bad(path, "menus nest at most 8 levels")
		return
	}
	isMenu, isLeaf := len(n.Options) > 0, n.Category != ""
	switch {
	case isMenu && isLeaf:
		bad(path, "a node has either options (a submenu) or a category (a leaf), not both")
		return
	case !isMenu && !isLeaf:
		bad(path, "a node needs options (a submenu) or a category (a leaf)")
		return
	case isLeaf:
		if !contains(Categories, n.Category) {
			bad(path+".category", "must be one of %s; got %q", strings.Join(Categories, ", "), n.Category)
		}
		if n.Subcategory == "" || !nameRe.MatchString(n.Subcategory) {
			bad(path+".subcategory", "must be a lower-case name like billing; got %q", n.Subcategory)
		}
		if n.Transfer != "" && !strings.HasPrefix(n.Transfer, "sip:") && !strings.HasPrefix(n.Transfer, "sips:") {
			bad(path+".transfer", "must be a sip: or sips: URI; got %q", n.Transfer)
		}
		if n.ResolveInIVR && (n.Transfer != "" || n.Queue != "") {
			bad(path+".resolve_in_ivr", "a leaf resolved in the IVR has no transfer")
		}
		if n.Queue != "" && !queueRe.MatchString(n.Queue) {
			bad(path+".queue", "must be a SIP user name like complaint (letters, digits, - _ . +); got %q", n.Queue)
		}
		if n.TransferMode != "" && !slices.Contains(TransferModes, n.TransferMode) {
			bad(path+".transfer_mode", "must be bridge or refer; got %q", n.TransferMode)
		}
		if n.ProblemCode != "" && !ValidProblemCode(n.ProblemCode) {
			bad(path+".problem_code", "must be group.code like billing.overcharge; got %q", n.ProblemCode)
		}
		if n.EscalationTendency && n.PublicOpinionRisk {
			bad(path+".public_opinion_risk", "a leaf is either escalation_tendency (regulator, court) or public_opinion_risk (media), not both")
		}
		return
	}
	for _, k := range sortedKeys(n.Options) {
		if len(k) != 1 || !strings.Contains("0123456789", k) {
			bad(path+".options."+k, "option keys are single digits 0-9 (* and # are reserved)")
			continue
		}
		validateNode(bad, path+".options."+k, n.Options[k], depth+1)
	}
}

func checkIn(bad func(string, string, ...any), path string, got, allowed []string) {
	for i, v := range got {
		if !contains(allowed, v) {
			bad(fmt.Sprintf("%s[%d]", path, i), "must be one of %s; got %q", strings.Join(allowed, ", "), v)
		}
	}
}

var topicRe = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func validTopic(t string) bool { return topicRe.MatchString(t) && t != "." && t != ".." }

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Hotline returns the hotline entry for a called number.
func (c *Config) Hotline(number string) (*Hotline, bool) {
	h, ok := c.hotlineIdx[number]
	return h, ok
}

// ProvinceOf finds the province for a caller number by longest prefix.
func (c *Config) ProvinceOf(number string) string {
	best, code := 0, c.Provinces.Unknown
	for p, prov := range c.Provinces.Prefixes {
		if len(p) > best && strings.HasPrefix(number, p) {
			best, code = len(p), prov
		}
	}
	return code
}

// RTPPortRange parses RTPPorts.
func (s SIP) RTPPortRange() (lo, hi int, err error) {
	a, b, ok := strings.Cut(s.RTPPorts, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1024 || hi > 65535 || lo > hi || (hi-lo) < 1 {
		return 0, 0, fmt.Errorf("%q: want min-max within 1024-65535, e.g. 20000-39999", s.RTPPorts)
	}
	return lo, hi, nil
}

// ParseListen splits "udp:127.0.0.1:5060" into transport and address.
func ParseListen(s string) (transport, addr string, err error) {
	transport, addr, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("%q: want transport:host:port, e.g. udp:127.0.0.1:5060", s)
	}
	switch transport {
	case "udp", "tcp", "tls":
	default:
		return "", "", fmt.Errorf("%q: transport must be udp, tcp or tls", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("%q: %q is not host:port", s, addr)
	}
	return transport, addr, nil
}

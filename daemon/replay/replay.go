// Package replay runs a timeline of contacts through the daemon's real
// rules on a simulated clock (hotlined replay): the work-order service
// (classifier, store, SLA planner, group complaints), the escalation
// scheduler's claim and fire scripts and the outbox, on an embedded Redis
// unless one is named. Nothing goes to Kafka: the events the outbox holds
// are written out instead, in the order they were written.
//
// It lives beside the daemon's wiring because it is a second wiring of
// the same components, with a clock it moves itself instead of the SIP
// edge, the HTTP API, the relay and the background loops.
//
// Time reaches the rules only through the injected clock and reaches Redis
// only as script arguments; the clock jumps from one line to the next,
// stopping at every timer's due time (escalation.Scheduler.NextKnown) to
// run one Scheduler.Tick, and at every resolved order's archive time to
// run the sweeper's Service.ArchiveDue.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/phone"
	"github.com/hotlined/hotlined/ivr"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// Params configure a replay.
type Params struct {
	// Config is the loaded config (configs.Load); its Redis address is
	// never used. The replay keeps everything in one shard (see Run).
	Config *configs.Config
	// Rules, Policies: the data files of the config (daemon.LoadFiles).
	Rules    *classifier.Rules
	Policies *escalation.Policies
	// RedisAddr names a Redis (host:port, or the path of a unix socket:
	// any address without a colon) to replay into; empty starts one of
	// the replay's own (Embedded). A Redis holding keys under the
	// config's prefix is refused unless Force.
	RedisAddr string
	Force     bool
	// Embedded is the Redis started when RedisAddr is empty, gone when the
	// replay ends: EmbeddedServer, a redis-server from PATH on a unix
	// socket in a temporary directory; EmbeddedMemory, miniredis in this
	// process (exact, but slow for volume: it sorts a whole sorted set on
	// every range read); EmbeddedAuto or "", the server when PATH has one,
	// else miniredis.
	Embedded string
	// NoPair leaves the CPUs alone. By default, while the replay runs on
	// a redis-server of its own, this process and the server share one
	// CPU (internal/affinity.Pair: GOMAXPROCS 1, the whole process): the
	// replay waits on every reply, and a round trip within one CPU is
	// about three times cheaper than across two on a virtual machine.
	// Nothing is paired with RedisAddr, miniredis or fewer than two CPUs.
	NoPair bool
	// Format is "json" (JSON Lines, the default), "table" (the same for
	// people) or "summary" (json's skipped lines and summary only).
	Format string
	Logger zerolog.Logger
}

// The Redis a replay starts for itself (Params.Embedded).
const (
	EmbeddedAuto   = "auto"
	EmbeddedServer = "redis-server"
	EmbeddedMemory = "miniredis"
)

// ErrRedisInUse is returned for a Redis that holds hotlined keys.
var ErrRedisInUse = errors.New("redis holds hotlined keys")

// Actors of the timeline's actions when a line names none.
const (
	agentActor      = "agent:replay"
	supervisorActor = "supervisor:replay"
)

// Run replays the timeline read from in and writes the events, the final
// state of each labelled order and a summary to out (Params.Format).
//
// Every key sits in one shard (redis.shards is taken as 1): the outbox is
// then one stream whose order is the order of the writes, so the output is
// in simulated-time order and the same timeline gives the same bytes; order
// ids are consecutive per day and province. Errors name the timeline line
// (*LineError); lines that no longer apply (an ack with no open alert, an
// incident that was not raised) are reported in the output and skipped.
func Run(ctx context.Context, p Params, in io.Reader, out io.Writer) (err error) {
	if p.Config == nil {
		return errors.New("replay: a config is required")
	}
	cfg := *p.Config
	cfg.Redis.Shards = 1
	w, err := newWriter(p.Format, out, cfg.Location)
	if err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rdb, stop, err := openRedis(ctx, &cfg, p, cancel)
	if err != nil {
		return err
	}
	defer stop()
	line := 0 // the timeline's line being replayed
	defer func() {
		switch cause := context.Cause(ctx); {
		case err == nil:
		case errors.Is(cause, ErrServerExited) && !errors.Is(err, ErrServerExited):
			// The replay's own server gone: say so, whatever the line met.
			err = fmt.Errorf("%w (%w)", err, cause)
		case parent.Err() != nil && line == 0:
			err = fmt.Errorf("interrupted before the first line: %w", parent.Err())
		case parent.Err() != nil:
			// Interrupted: whatever the line met on the way out (a
			// cancelled call, timers that could not fire) is not the
			// news.
			err = &LineError{Line: line, Err: fmt.Errorf("interrupted: %w", parent.Err())}
		}
	}()

	// The rules' components log as in the daemon (a group complaint
	// raised is a warning there); here their news is the output: they
	// speak from info down, or for errors.
	rulesLog := p.Logger
	if p.Logger.GetLevel() >= zerolog.WarnLevel {
		rulesLog = p.Logger.Level(max(p.Logger.GetLevel(), zerolog.ErrorLevel))
	}
	r := &run{cfg: &cfg, rdb: rdb, log: p.Logger.With().Str("component", "replay").Logger(),
		labels: map[string]string{}, labelOf: map[string]label{}, out: w,
		alertStages: alertStages(&cfg, p.Policies)}
	// The contacts' call ids (the call key remembers what became of a
	// call) are this run's own when an earlier replay left its calls in
	// this Redis (-force): replay-line-N on the first, replay-K-line-N on
	// the K-th, so line N never takes the order of an earlier run's line N.
	runs, err := rdb.Incr(ctx, cfg.Redis.Prefix+":replay:runs").Result()
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	r.callPrefix = "replay-line-"
	if runs > 1 {
		r.callPrefix = fmt.Sprintf("replay-%d-line-", runs)
	}
	clock := func() time.Time { return r.now.In(cfg.Location) } // event times in the operator's zone, as the daemon's
	r.outbox = queue.NewOutbox(cfg.Redis.Prefix, 1)
	r.timers = escalation.NewStore(rdb, cfg.Redis.Prefix, 1, r.outbox,
		escalation.WithAlertEvents(cfg.Kafka.Source, cfg.Kafka.AlertsTopic))
	r.sched, err = escalation.NewScheduler(escalation.SchedulerParams{
		Store: r.timers, Logger: rulesLog, Interval: cfg.Escalation.PollInterval.D(), Lease: cfg.Escalation.Lease.D(),
		Source: cfg.Kafka.Source, AlertsTopic: cfg.Kafka.AlertsTopic, Policies: p.Policies, Now: clock,
	})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	var seq int
	r.svc = workorder.NewService(workorder.ServiceParams{
		Store:  workorder.NewStore(rdb, cfg.Redis.Prefix, 1, r.outbox, r.timers),
		Router: queue.NewRouter(cfg.Kafka.Routes), Config: &cfg, Rules: p.Rules, Policies: p.Policies,
		Now: clock, Logger: rulesLog, Registerer: prometheus.NewRegistry(),
		EventID: func() string { seq++; return fmt.Sprintf("replay-%08d", seq) },
	})
	r.ivrOptions = ivr.Options{FirstDigitTimeout: cfg.SIP.IVR.FirstDigitTimeout.D(), InterDigitTimeout: cfg.SIP.IVR.InterDigitTimeout.D(),
		MaxRetries: cfg.SIP.IVR.MaxRetries, MaxDuration: cfg.SIP.IVR.MaxDuration.D()}

	tl := newReader(in)
	defer tl.close()
	for {
		s, err := tl.next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		line = s.Line
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if err := r.advance(ctx, s.At); err != nil {
			return &LineError{Line: s.Line, Err: err}
		}
		if !s.Until {
			if err := r.apply(ctx, s); err != nil {
				return &LineError{Line: s.Line, Err: err}
			}
		}
		if r.steps++; r.steps%drainEvery == 0 {
			if err := r.drain(ctx); err != nil {
				return err
			}
		}
	}
	if err := r.drain(ctx); err != nil {
		return err
	}
	return r.finish(ctx)
}

// drainEvery is how many lines run between two reads of the outbox: the
// stream keeps the order of the writes, so reading it less often changes
// nothing in the output.
const drainEvery = 256

// run is one replay in progress.
type run struct {
	cfg        *configs.Config
	rdb        redis.UniversalClient
	log        zerolog.Logger
	now        time.Time
	svc        *workorder.Service
	timers     *escalation.Store
	sched      *escalation.Scheduler
	outbox     *queue.Outbox
	ivrOptions ivr.Options
	// alertStages are the stages an ack may name (alertStages).
	alertStages []string
	out         writer
	steps       int
	callPrefix  string // of the call ids of contacts without one (Run)

	// labels maps a label to its order id, in the order labels came.
	labels     map[string]string
	labelOrder []string
	// labelOf is an order's first label and since when it has it.
	labelOf map[string]label
	// archiveAt are the times at which resolved orders come due to be
	// archived (escalation.auto_archive_after after their resolution).
	archiveAt []time.Time

	sum summary
}

type label struct {
	name  string
	since time.Time
}

// openRedis connects to p.RedisAddr, refusing one with hotlined keys
// unless p.Force, or starts the replay's own Redis (openEmbedded, which
// calls lost if its server exits before stop); stop closes what it
// opened.
func openRedis(ctx context.Context, cfg *configs.Config, p Params, lost func(error)) (redis.UniversalClient, func(), error) {
	if p.RedisAddr == "" {
		return openEmbedded(ctx, p, lost)
	}
	tlsCfg, err := cfg.Redis.TLS.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("redis tls: %w", err)
	}
	network := "tcp"
	if !strings.Contains(p.RedisAddr, ":") { // a path, relative ones too: host:port has its colon
		network = "unix"
	}
	rdb := redis.NewClient(&redis.Options{Network: network, Addr: p.RedisAddr, DB: cfg.Redis.DB, TLSConfig: tlsCfg,
		Username: cfg.Redis.Username, Password: cfg.Redis.Password})
	stop := func() { _ = rdb.Close() }
	if p.Force {
		return rdb, stop, nil
	}
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, cfg.Redis.Prefix+":*", 1000).Result()
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("redis %s: %w", p.RedisAddr, err)
		}
		if len(keys) > 0 {
			stop()
			return nil, nil, fmt.Errorf("%w: %s has %s (and maybe more) under %s:*; refusing to replay into it (-force replays on top of them)",
				ErrRedisInUse, p.RedisAddr, keys[0], cfg.Redis.Prefix)
		}
		if cursor = next; cursor == 0 {
			return rdb, stop, nil
		}
	}
}

// maxTicksAtOnce bounds the scheduler rounds at one instant: a timer that
// keeps coming due without moving is a bug, not a reason to spin.
const maxTicksAtOnce = 10_000

// advance runs the clock to target: at each timer's due time (and each
// archive time) on the way, in time order, the scheduler claims and fires
// what is due (and the sweeper archives what is due), as the daemon's
// loops would.
func (r *run) advance(ctx context.Context, target time.Time) error {
	if r.now.IsZero() {
		r.now = target
	}
	// The earliest timer is known without asking the store: the scheduler
	// learns it from each round and from every timer this process writes
	// (Scheduler.NextKnown; nothing else writes timers here), a round
	// trip less for every line. Before the first round it knows nothing
	// and says 1970 (every shard's earliest starts at 0): a round at once.
	due, ok := r.sched.NextKnown()
	ticks := 0
	for {
		at, has := due, ok
		if len(r.archiveAt) > 0 && (!has || r.archiveAt[0].Before(at)) {
			at, has = r.archiveAt[0], true
		}
		if !has || at.After(target) {
			break
		}
		if at.After(r.now) {
			r.now, ticks = at, 0
		}
		if err := ctx.Err(); err != nil {
			return err // the scheduler does not say its calls failed: stop here
		}
		if ticks++; ticks > maxTicksAtOnce {
			return fmt.Errorf("timers due at %s do not fire", r.now.In(r.cfg.Location).Format(time.RFC3339Nano))
		}
		swept := false
		for len(r.archiveAt) > 0 && !r.archiveAt[0].After(r.now) {
			r.archiveAt = r.archiveAt[1:]
			swept = true
			for {
				n, err := r.svc.ArchiveDue(ctx)
				if err != nil {
					return fmt.Errorf("archive: %w", err)
				}
				if n < 200 { // ArchiveDue takes at most 200 a shard
					break
				}
			}
		}
		if swept { // archiving re-plans the orders' timers: the scheduler heard of them
			due, ok = r.sched.NextKnown()
		}
		if ok && !due.After(r.now) {
			r.sched.Tick(ctx)
			due, ok = r.sched.NextKnown()
		}
	}
	if target.After(r.now) {
		r.now = target
	}
	return nil
}

// resolved notes an order's archive time when it is resolved.
func (r *run) resolved(o *workorder.Order) {
	after := r.cfg.Escalation.AutoArchiveAfter.D()
	if o == nil || o.Status != configs.StatusResolved || after <= 0 {
		return
	}
	at := o.UpdatedAt.Add(after)
	i, found := slices.BinarySearchFunc(r.archiveAt, at, func(a, b time.Time) int { return a.Compare(b) })
	if !found {
		r.archiveAt = slices.Insert(r.archiveAt, i, at)
	}
}

// order is the order id of a label.
func (r *run) order(name string) (string, error) {
	if name == "" {
		return "", errors.New("order: a label is required")
	}
	id, ok := r.labels[name]
	if !ok {
		return "", fmt.Errorf("order %q: no contact before has this label", name)
	}
	return id, nil
}

func actor(by, dflt string) string {
	if strings.TrimSpace(by) == "" {
		return dflt
	}
	return by
}

// apply runs one line's action at r.now.
func (r *run) apply(ctx context.Context, s step) error {
	switch {
	case s.Contact != nil:
		return r.contact(ctx, s)
	case s.Status != nil:
		id, err := r.order(s.Status.Order)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		o, err := r.svc.ChangeStatus(ctx, workorder.StatusChange{WorkOrderID: id, Status: s.Status.To,
			Actor: actor(s.Status.By, agentActor), Note: s.Status.Note})
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		r.resolved(o)
	case s.Problem != nil:
		id, err := r.order(s.Problem.Order)
		if err != nil {
			return fmt.Errorf("problem: %w", err)
		}
		if _, err := r.svc.SetProblemCode(ctx, id, s.Problem.Code, actor(s.Problem.By, agentActor)); err != nil {
			return fmt.Errorf("problem: %w", err)
		}
	case s.Province != nil:
		id, err := r.order(s.Province.Order)
		if err != nil {
			return fmt.Errorf("province: %w", err)
		}
		if _, err := r.svc.SetProvince(ctx, id, s.Province.Province, actor(s.Province.By, agentActor)); err != nil {
			return fmt.Errorf("province: %w", err)
		}
	case s.Note != nil:
		id, err := r.order(s.Note.Order)
		if err != nil {
			return fmt.Errorf("note: %w", err)
		}
		if _, err := r.svc.AddNote(ctx, id, s.Note.Kind, s.Note.Text, actor(s.Note.By, agentActor)); err != nil {
			return fmt.Errorf("note: %w", err)
		}
	case s.Class != nil:
		id, err := r.order(s.Class.Order)
		if err != nil {
			return fmt.Errorf("class: %w", err)
		}
		by := actor(s.Class.By, supervisorActor)
		// As the API decides: a supervisor's word may lower the severity.
		if _, err := r.svc.Reclassify(ctx, id, s.Class.Class, by, s.Class.Reason, strings.HasPrefix(by, "supervisor:")); err != nil {
			return fmt.Errorf("class: %w", err)
		}
	case s.Followup != nil:
		id, err := r.order(s.Followup.Order)
		if err != nil {
			return fmt.Errorf("followup: %w", err)
		}
		if _, err := r.svc.RecordFollowup(ctx, id, s.Followup.Result, s.Followup.Reason, actor(s.Followup.By, agentActor)); err != nil {
			return fmt.Errorf("followup: %w", err)
		}
	case s.Incident != nil:
		return r.incident(ctx, s)
	case s.Ack != nil:
		return r.ack(ctx, s)
	}
	return nil
}

// contact takes a call or another channel's contact through
// workorder.Service.Submit, as the SIP edge or the API would.
func (r *run) contact(ctx context.Context, s step) error {
	c := s.Contact
	if s.Label != "" {
		if _, dup := r.labels[s.Label]; dup {
			return fmt.Errorf("label %q: used before", s.Label)
		}
	}
	// Numbers in any form to national form, as the SIP edge and the API do.
	for _, n := range []*string{&c.ServiceNumber, &c.Caller} {
		if v := phone.National(*n); v != "" {
			*n = v
		}
	}
	var in workorder.Intake
	var err error
	if c.Hotline != "" {
		in, err = r.call(c, s.Line)
	} else {
		in, err = r.intake(c)
	}
	if err != nil {
		return fmt.Errorf("contact: %w", err)
	}
	res, err := r.svc.Submit(ctx, in)
	if err != nil {
		return fmt.Errorf("contact: %w", err)
	}
	r.sum.contacts++
	if res.Outcome == workorder.OutcomeUrged {
		r.sum.urged++
	}
	r.resolved(res.Order)
	if s.Label != "" {
		r.labels[s.Label] = res.Order.ID
		r.labelOrder = append(r.labelOrder, s.Label)
		if _, ok := r.labelOf[res.Order.ID]; !ok {
			r.labelOf[res.Order.ID] = label{name: s.Label, since: r.now}
		}
	}
	return nil
}

// call is the intake of a call whose upstream IVR sent the keys: the
// hotline's entry, the menu walked by the path (ivr.Session.FeedPath, as
// X-IVR-Path), the service number asked by the leaf (as X-Service-Number;
// none means the caller's) and the province (the hotline's, else
// X-Province, else the service's rule: the service number's home
// province, else the caller's).
func (r *run) call(c *contactStep, line int) (workorder.Intake, error) {
	hl, ok := r.cfg.Hotline(c.Hotline)
	if !ok {
		return workorder.Intake{}, fmt.Errorf("hotline %q is not in the config", c.Hotline)
	}
	if c.Channel != "" || c.Tier != "" || c.Category != "" || c.Subcategory != "" || c.ProblemCode != "" ||
		c.EscalationTendency || c.PublicOpinionRisk || c.ReceivedAt != "" || c.Appeal != nil {
		return workorder.Intake{}, errors.New("a call takes hotline, ivr_path, call_id, caller, service_number, province and description; the other fields are for other channels")
	}
	if c.IVRPath == "" {
		return workorder.Intake{}, errors.New("ivr_path: required with hotline")
	}
	if c.ServiceNumber != "" && !ivr.ValidServiceNumber(c.ServiceNumber) {
		return workorder.Intake{}, fmt.Errorf("service_number %q: want a mobile or fixed-line number", c.ServiceNumber)
	}
	if c.Province != "" && !configs.ValidProvince(c.Province) {
		return workorder.Intake{}, fmt.Errorf("province %q: want a province code like GD", c.Province)
	}
	province := c.Province
	if hl.Province != configs.ProvinceFromCaller {
		province = hl.Province
	}
	sess, err := ivr.NewSessionWithOptions(r.cfg.Menus[hl.Menu], c.Caller, r.ivrOptions, r.now)
	if err != nil {
		return workorder.Intake{}, fmt.Errorf("ivr: %w", err)
	}
	if _, err := sess.FeedPath(c.IVRPath); err != nil {
		return workorder.Intake{}, fmt.Errorf("ivr_path %q: %w", c.IVRPath, err)
	}
	if sess.Collecting() {
		if res := sess.SetServiceNumber(c.ServiceNumber); res == ivr.InvalidNumber {
			return workorder.Intake{}, fmt.Errorf("ivr_path %q: the leaf asks for the service number and the caller's %q is none", c.IVRPath, c.Caller)
		}
	}
	leaf := sess.Leaf()
	if leaf == nil {
		return workorder.Intake{}, fmt.Errorf("ivr_path %q does not reach a leaf of menu %s", c.IVRPath, hl.Menu)
	}
	callID := c.CallID
	if callID == "" {
		callID = r.callPrefix + strconv.Itoa(line)
	}
	l := *leaf
	l.Transfer, _ = r.cfg.Transfer(&l) // the order records where the call would go, as the SIP edge does
	return workorder.Intake{CallID: callID, Hotline: hl.Number, Tier: hl.Tier, Province: province, Caller: c.Caller,
		ServiceNumber: sess.ServiceNumber(), IVRPath: sess.Path(), Leaf: l, Description: c.Description}, nil
}

// channels an order may come from through the API (calls come by SIP);
// regulator_transfer is an appeal a regulator's centre transferred.
var channels = []string{"web", "app", "letter", "wechat", "email", channelRegulatorTransfer}

const channelRegulatorTransfer = "regulator_transfer"

// intake is the intake of an order from another channel, checked as POST
// /v1/workorders checks it (received_at: not after the line's time).
func (r *run) intake(c *contactStep) (workorder.Intake, error) {
	var received time.Time
	if c.ReceivedAt != "" {
		t, err := time.Parse(time.RFC3339, c.ReceivedAt)
		if err != nil || t.After(r.now) {
			return workorder.Intake{}, fmt.Errorf("received_at %q: want RFC 3339, not after the line's at", c.ReceivedAt)
		}
		received = t
	}
	var appeal *workorder.Appeal
	if a := c.Appeal; a != nil {
		appeal = &workorder.Appeal{Authority: strings.TrimSpace(a.Authority), CaseNumber: strings.TrimSpace(a.CaseNumber)}
		var errA, errD error
		appeal.ReceivedAt, errA = time.Parse(time.RFC3339, a.ReceivedAt)
		appeal.Deadline, errD = time.Parse(time.RFC3339, a.Deadline)
		switch {
		case appeal.Authority == "" || appeal.CaseNumber == "":
			return workorder.Intake{}, errors.New("appeal: authority and case_number are required")
		case errA != nil:
			return workorder.Intake{}, fmt.Errorf("appeal.received_at: want RFC 3339: %w", errA)
		case errD != nil || !appeal.Deadline.After(appeal.ReceivedAt):
			return workorder.Intake{}, errors.New("appeal.deadline: want RFC 3339, after appeal.received_at")
		}
		if received.IsZero() {
			received = appeal.ReceivedAt
		}
	}
	switch {
	case c.IVRPath != "" || c.CallID != "":
		return workorder.Intake{}, errors.New("ivr_path and call_id need a hotline")
	case !slices.Contains(channels, c.Channel):
		return workorder.Intake{}, fmt.Errorf("channel %q: want hotline (a call) or one of %s", c.Channel, strings.Join(channels, ", "))
	case c.Channel == channelRegulatorTransfer && (c.Tier != configs.TierAppeal || appeal == nil):
		return workorder.Intake{}, errors.New("appeal: a regulator_transfer is an appeal-tier contact with the appeal fields")
	case c.Channel != channelRegulatorTransfer && appeal != nil:
		return workorder.Intake{}, errors.New("appeal: only with channel regulator_transfer")
	case !slices.Contains(configs.Tiers, c.Tier):
		return workorder.Intake{}, fmt.Errorf("tier %q: want one of %s", c.Tier, strings.Join(configs.Tiers, ", "))
	case c.Tier == configs.TierProvince && !configs.ValidProvince(c.Province), c.Province != "" && !configs.ValidProvince(c.Province):
		return workorder.Intake{}, fmt.Errorf("province %q: want a province code like GD (optional on the group and appeal tiers)", c.Province)
	case !slices.Contains(configs.Categories, c.Category):
		return workorder.Intake{}, fmt.Errorf("category %q: want one of %s", c.Category, strings.Join(configs.Categories, ", "))
	case c.Subcategory == "":
		return workorder.Intake{}, errors.New("subcategory: required")
	case c.ServiceNumber != "" && !ivr.ValidServiceNumber(c.ServiceNumber):
		return workorder.Intake{}, fmt.Errorf("service_number %q: want a mobile or fixed-line number", c.ServiceNumber)
	}
	return workorder.Intake{Channel: c.Channel, Tier: c.Tier, Province: c.Province, Caller: c.Caller,
		ServiceNumber: c.ServiceNumber, Description: c.Description, ProblemCode: c.ProblemCode,
		ReceivedAt: received, Appeal: appeal,
		Leaf: configs.Leaf{Category: c.Category, Subcategory: c.Subcategory, EscalationTendency: c.EscalationTendency,
			PublicOpinionRisk: c.PublicOpinionRisk}}, nil
}

// incident confirms or rejects the suspected incidents of a member (or the
// one named).
func (r *run) incident(ctx context.Context, s step) error {
	c := s.Incident
	if c.Action != "confirm" && c.Action != "reject" {
		return fmt.Errorf("incident: action %q: want confirm or reject", c.Action)
	}
	id, err := r.order(c.Member)
	if err != nil {
		return fmt.Errorf("incident: member: %w", err)
	}
	o, err := r.svc.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("incident: %w", err)
	}
	var ids []string
	for _, inc := range o.Incidents {
		if (c.Incident == "" || c.Incident == inc) && o.IncidentStates[inc] == classifier.IncidentSuspected {
			ids = append(ids, inc)
		}
	}
	if len(ids) == 0 {
		what := "in no suspected incident"
		if c.Incident != "" {
			what = "not in suspected incident " + c.Incident
		}
		return r.skip(ctx, s, fmt.Sprintf("incident: %s (%s) is %s", c.Member, id, what))
	}
	by := actor(c.By, supervisorActor)
	for _, inc := range ids {
		if c.Action == "confirm" {
			_, err = r.svc.ConfirmGroupComplaint(ctx, inc, by)
		} else {
			_, err = r.svc.RejectGroupComplaint(ctx, inc, by, c.Note)
		}
		if err != nil {
			return fmt.Errorf("incident %s: %w", inc, err)
		}
	}
	return nil
}

// ack acknowledges the open alerts of an order's stage.
func (r *run) ack(ctx context.Context, s step) error {
	c := s.Ack
	id, err := r.order(c.Order)
	if err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	if c.Stage == "" {
		return errors.New("ack: stage: required")
	}
	if !slices.Contains(r.alertStages, c.Stage) {
		return fmt.Errorf("ack: stage %q: no policy or rule raises alerts at it (stages: %s)", c.Stage, strings.Join(r.alertStages, ", "))
	}
	// The open alerts are known from the events: read the outbox first.
	if err := r.drain(ctx); err != nil {
		return err
	}
	n := 0
	for _, alert := range r.sum.openAlerts(id, c.Stage) {
		_, err := r.timers.Ack(ctx, alert, actor(c.By, supervisorActor), c.Note, r.now)
		if errors.Is(err, escalation.ErrAlertResolved) || errors.Is(err, escalation.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ack %s: %w", alert, err)
		}
		n++
	}
	if n == 0 {
		return r.skip(ctx, s, fmt.Sprintf("ack: %s (%s) has no open alert at stage %s", c.Order, id, c.Stage))
	}
	return nil
}

// alertStages are the stages alerts are raised at under these rules: the
// policies', the config's deadlines' (the form before policies) and the
// work-order service's own, sorted.
func alertStages(cfg *configs.Config, policies *escalation.Policies) []string {
	stages := slices.Clone(workorder.AlertStages)
	if policies != nil {
		for _, pol := range policies.List() {
			for _, st := range pol.Stages {
				stages = append(stages, st.Name)
			}
		}
	}
	for _, byStage := range cfg.Escalation.Deadlines { // the form before policies
		for stage := range byStage {
			stages = append(stages, stage)
		}
	}
	slices.Sort(stages)
	return slices.Compact(stages)
}

// skip reports a line that does not apply to the state the rules made.
func (r *run) skip(ctx context.Context, s step, why string) error {
	r.sum.skipped++
	// The outbox is read first so that the report sits in time order.
	if err := r.drain(ctx); err != nil {
		return err
	}
	return r.out.skipped(r.now, s.Line, why)
}

// finish writes each label's order as it ended and the summary.
func (r *run) finish(ctx context.Context) error {
	const chunk = 500 // orders read in one round trip
	for names := range slices.Chunk(r.labelOrder, chunk) {
		ids := make([]string, len(names))
		for i, name := range names {
			ids[i] = r.labels[name]
		}
		orders, err := r.svc.GetMany(ctx, ids)
		if err != nil {
			return fmt.Errorf("final state: %w", err)
		}
		for i, o := range orders {
			if o == nil {
				return fmt.Errorf("final state of %s: %s: %w", names[i], ids[i], workorder.ErrNotFound)
			}
			if err := r.out.final(names[i], o); err != nil {
				return err
			}
		}
	}
	return r.out.summary(r.sum.report())
}

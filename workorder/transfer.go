package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
)

// The transfer of a call to an agent, as the order records it (DESIGN
// "Transfer"): a transfer that failed, was refused or not answered flags
// the order transfer_failed, raises a supervisor alert and asks for the
// customer to be called back (hotline.workorder.callback_requested). A
// transfer under way is marked pending in its shard, so orders whose call
// was lost with its daemon are found by the TransferSweeper and treated
// the same way.

// StageTransferFailed is the stage of the alert a failed transfer raises
// at once: a supervisor has the customer called back.
const StageTransferFailed = "transfer_failed"

// AlertStages are the stages of the alerts the work-order service raises
// itself, besides those of the SLA policies (escalation.Policy.Stages).
var AlertStages = []string{StageReportEscalationRisk, StageSetProvince, StageTransferFailed, StageGroupSuspected}

// Why a transfer failed: the reason of TransferFailed, in the history and
// the call-back event. The SIP edge may give others (e.g. "refused_603").
const (
	TransferBusy     = "busy"      // 486 or 600 from the agent side
	TransferNoAnswer = "no_answer" // nobody answered within sip.transfer_timeout
	TransferRefused  = "refused"   // any other final refusal (REFER or INVITE)
	TransferError    = "error"     // unreachable target, no response, bad URI
	// TransferCallLost: the call ended before the transfer finished and no
	// daemon recorded how (the daemon holding it crashed).
	TransferCallLost = "call_lost"
	// TransferCallerHungUp: the caller left before an agent answered; not
	// a failure (TransferAbandoned), only a metric's reason.
	TransferCallerHungUp = "caller_hung_up"
)

// actorTransfer is the history actor of transfer entries (the pages show
// it as the system).
const actorTransfer = "system"

// CallbackRequest is the data of hotline.workorder.callback_requested: the
// customer of the order is to be called back on Number (the caller, else
// the service number) because the transfer to an agent failed.
type CallbackRequest struct {
	WorkOrderID   string    `json:"work_order_id"`
	Number        string    `json:"number"`
	Reason        string    `json:"reason"`
	RequestedAt   time.Time `json:"requested_at"`
	Hotline       string    `json:"hotline,omitempty"`
	Class         string    `json:"class"`
	Priority      int       `json:"priority"`
	ServiceNumber string    `json:"service_number,omitempty"`
}

// TransferFailed records on order id that call callID (its SIP Call-ID)
// could not reach an agent, for reason (TransferBusy, TransferNoAnswer,
// ...): in one transaction the transfer_failed flag (set already when an
// earlier call of the order failed too), a history entry naming the call,
// the hotline.workorder.updated event, a
// hotline.workorder.callback_requested event on the order's topics with
// the number to call back (none when the customer left no number), and
// the alert timer of StageTransferFailed (due at once, severity warning;
// the order's nth failed call raises its nth alert, Timer.Run). The
// call's pending mark goes. Errors: ErrUnchanged when the call's outcome
// is recorded already (a second report of the same failure, or of a call
// transferred: nothing is written; with no callID, when the order is
// flagged already), ErrNotFound.
func (s *Service) TransferFailed(ctx context.Context, id, callID, reason string) (*Order, error) {
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		flagged := !o.SetFlag(configs.FlagTransferFailed)
		if callID == "" && flagged || callID != "" && transferOutcome(o, callID) {
			return Mutation{}, fmt.Errorf("%w: the transfer's outcome is recorded", ErrUnchanged)
		}
		o.UpdatedAt = now
		o.History = append(o.History, Change{At: now, Actor: actorTransfer, Action: "flag", To: configs.FlagTransferFailed,
			CallID: callID}.with(transferFailedNote(reason)))
		evs, err := s.events(queue.TypeWorkOrderUpdated, o, now)
		if err != nil {
			return Mutation{}, err
		}
		m := Mutation{Events: evs}
		if cb, ok, err := s.callbackEvent(o, reason, now, topicsOf(evs)); err != nil {
			return Mutation{}, err
		} else if ok {
			m.Events = append(m.Events, cb)
		}
		t := s.timer(o, StageTransferFailed, now)
		t.Severity = escalation.SeverityWarning
		if run := failedTransfers(o); run > 1 {
			t.ID, t.Run = fmt.Sprintf("%s/%d", t.ID, run), run
		}
		m.AddTimers = []escalation.Timer{t}
		return m, nil
	})
	if err != nil {
		return o, err
	}
	s.log.Warn().Str("work_order", o.ID).Str("call_id", callID).Str("reason", reason).
		Str("number", Mask(callbackNumber(o))).Msg("transfer failed: call-back requested")
	if err := s.store.clearTransferPending(ctx, id, callID); err != nil {
		s.log.Warn().Err(err).Str("work_order", id).Msg("pending transfer mark left to the sweeper")
	}
	return o, nil
}

// Transferred records on order id that call callID reached an agent (the
// target is the order's transfer already; target and mode go to the
// log), (bridge: the agent answered; refer: the final NOTIFY said 2xx): a
// history entry (action transfer, naming the call), no event; the call's
// pending mark goes. Errors: ErrUnchanged when the call's outcome is
// recorded already (a write retried after its reply was lost),
// ErrNotFound.
func (s *Service) Transferred(ctx context.Context, id, callID, target, mode string) (*Order, error) {
	return s.transferEnded(ctx, id, callID, "transfer", func(log *zerolog.Event) {
		log.Str("to", target).Str("mode", mode).Msg("transfer recorded")
	})
}

// transferEnded writes the history entry action of call callID on order
// id unless the call's outcome is recorded, then logs with done and
// clears the call's pending mark.
func (s *Service) transferEnded(ctx context.Context, id, callID, action string, done func(*zerolog.Event)) (*Order, error) {
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		if callID != "" && transferOutcome(o, callID) {
			return Mutation{}, fmt.Errorf("%w: the transfer's outcome is recorded", ErrUnchanged)
		}
		o.UpdatedAt = now
		o.History = append(o.History, Change{At: now, Actor: actorTransfer, Action: action, CallID: callID})
		return Mutation{}, nil
	})
	if err != nil {
		return o, err
	}
	done(s.log.Info().Str("work_order", id).Str("call_id", callID))
	if err := s.store.clearTransferPending(ctx, id, callID); err != nil {
		s.log.Warn().Err(err).Str("work_order", id).Msg("pending transfer mark left to the sweeper")
	}
	return o, nil
}

// TransferAbandoned records on order id that the caller of call callID
// hung up while the transfer was under way (before an agent answered): a
// history entry (action transfer_abandoned, naming the call; target and
// mode go to the log), no flag, no event, no call-back (the customer
// chose to leave); the call's pending mark goes. Errors: ErrUnchanged
// when the call's outcome is recorded already, ErrNotFound.
func (s *Service) TransferAbandoned(ctx context.Context, id, callID, target, mode string) (*Order, error) {
	return s.transferEnded(ctx, id, callID, "transfer_abandoned", func(log *zerolog.Event) {
		log.Str("to", target).Str("mode", mode).Msg("transfer abandoned by the caller")
	})
}

// TransferPending marks the transfer of call callID (its SIP Call-ID) on
// order id as under way until deadline: past it, with no outcome of the
// call recorded (Transferred, TransferFailed, TransferAbandoned), the
// TransferSweeper takes the call as lost. The SIP edge calls it before it
// starts a transfer. Errors: Redis.
func (s *Service) TransferPending(ctx context.Context, id, callID string, deadline time.Time) error {
	shard := s.store.Shard(id)
	if err := s.store.rdb.ZAdd(ctx, s.store.transfersKey(shard),
		redis.Z{Score: float64(deadline.UnixMilli()), Member: pendingMember(id, callID)}).Err(); err != nil {
		return fmt.Errorf("mark transfer pending %s: %w", id, err)
	}
	return nil
}

// pendingMember is the member of a pending transfer in its shard's sorted
// set: the order id, a space and the call's id (ids hold no spaces, RFC
// 3261 section 25.1 "word"); the order id alone when the call is unknown
// (and in marks written before calls were told apart).
func pendingMember(id, callID string) string {
	if callID == "" {
		return id
	}
	return id + " " + callID
}

// parsePending splits a pending member into its order and call ids.
func parsePending(member string) (id, callID string) {
	id, callID, _ = strings.Cut(member, " ")
	return id, callID
}

// SweepTransfers treats every order whose transfer is past its pending
// deadline as a lost call (TransferCallLost): at most limit per shard a
// sweep. An order that recorded an outcome meanwhile loses its mark only.
// It returns how many orders it flagged.
func (s *Service) SweepTransfers(ctx context.Context, limit int) (int, error) {
	now := s.now()
	n := 0
	var errs []error
	for shard := 0; shard < s.store.shards; shard++ {
		key := s.store.transfersKey(shard)
		ids, err := s.store.rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("read pending transfers: %w", err))
			continue
		}
		for _, member := range ids {
			id, callID := parsePending(member)
			o, err := s.store.Get(ctx, id)
			switch {
			case errors.Is(err, ErrNotFound):
				errs = append(errs, s.store.clearTransferPending(ctx, id, callID))
				continue
			case err != nil:
				errs = append(errs, err)
				continue
			}
			if transferOutcome(o, callID) {
				errs = append(errs, s.store.clearTransferPending(ctx, id, callID))
				continue
			}
			_, err = s.TransferFailed(ctx, id, callID, TransferCallLost)
			switch {
			case err == nil:
				n++
			case errors.Is(err, ErrUnchanged):
				errs = append(errs, s.store.clearTransferPending(ctx, id, callID))
			default:
				errs = append(errs, err)
			}
		}
	}
	return n, errors.Join(errs...)
}

// transferOutcome reports whether o records how the transfer of call
// callID ended; with no callID (a mark written before calls were told
// apart), whether it records any transfer's outcome.
func transferOutcome(o *Order, callID string) bool {
	if callID == "" && o.HasFlag(configs.FlagTransferFailed) {
		return true
	}
	for _, c := range o.History {
		outcome := c.Action == "transfer" || c.Action == "transfer_abandoned" || transferFailure(c)
		if outcome && (callID == "" || c.CallID == callID) {
			return true
		}
	}
	return false
}

// transferFailure reports whether c records a failed transfer.
func transferFailure(c Change) bool { return c.Action == "flag" && c.To == configs.FlagTransferFailed }

// failedTransfers counts the failed transfers o records.
func failedTransfers(o *Order) int {
	n := 0
	for _, c := range o.History {
		if transferFailure(c) {
			n++
		}
	}
	return n
}

// callbackNumber is the number to call o's customer back on: the caller,
// else the service number; "" when the customer left none.
func callbackNumber(o *Order) string {
	if o.Caller != "" {
		return o.Caller
	}
	return o.ServiceNumber
}

// callbackEvent is the hotline.workorder.callback_requested event of o on
// topics; false when there is no number to call back.
func (s *Service) callbackEvent(o *Order, reason string, now time.Time, topics []string) (queue.Event, bool, error) {
	number := callbackNumber(o)
	if number == "" {
		return queue.Event{}, false, nil
	}
	data, err := json.Marshal(CallbackRequest{WorkOrderID: o.ID, Number: number, Reason: reason, RequestedAt: now,
		Hotline: o.Hotline, Class: o.Class, Priority: o.Priority, ServiceNumber: o.ServiceNumber})
	if err != nil {
		return queue.Event{}, false, fmt.Errorf("encode call-back request: %w", err)
	}
	return queue.Event{ID: uuid.NewString(), Type: queue.TypeWorkOrderCallbackRequested, Source: s.source, Subject: o.ID,
		Time: now, Key: o.Key(), Topics: topics, Data: data}, true, nil
}

// transfersKey is the sorted set of a shard's transfers under way: order
// id scored by the deadline (unix ms) past which the call counts as lost.
func (s *Store) transfersKey(shard int) string {
	return fmt.Sprintf("%s:{%d}:transfers:pending", s.prefix, shard)
}

func (s *Store) clearTransferPending(ctx context.Context, id, callID string) error {
	if err := s.rdb.ZRem(ctx, s.transfersKey(s.Shard(id)), pendingMember(id, callID)).Err(); err != nil {
		return fmt.Errorf("clear pending transfer %s: %w", id, err)
	}
	return nil
}

// TransferSweeperParams configures a TransferSweeper.
type TransferSweeperParams struct {
	Service *Service
	// Interval between sweeps; Limit orders per shard a sweep (default 100).
	Interval time.Duration
	Limit    int
	Logger   zerolog.Logger
	// Registerer takes hotlined_transfer_calls_lost_total; nil registers
	// nothing.
	Registerer prometheus.Registerer
}

// TransferSweeper runs Service.SweepTransfers every Interval until
// Shutdown: the orders of calls lost with their daemon before the
// transfer get transfer_failed and a call-back request.
type TransferSweeper struct {
	tickLoop
	p    TransferSweeperParams
	log  zerolog.Logger
	lost prometheus.Counter
}

// NewTransferSweeper returns a sweeper; errors when the service is nil,
// the interval not positive or the metric cannot be registered.
func NewTransferSweeper(p TransferSweeperParams) (*TransferSweeper, error) {
	if p.Service == nil || p.Interval <= 0 {
		return nil, errors.New("new transfer sweeper: a service and an interval > 0 are required")
	}
	if p.Limit <= 0 {
		p.Limit = 100
	}
	w := &TransferSweeper{p: p, log: p.Logger.With().Str("loop", "transfer_sweeper").Logger(),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotlined_transfer_calls_lost_total",
			Help: "Orders whose call was lost before its transfer finished (daemon crash), found by the sweeper and flagged transfer_failed.",
		})}
	w.tickLoop = newTickLoop("transfer sweeper", p.Interval, w.sweep)
	if p.Registerer != nil {
		if err := p.Registerer.Register(w.lost); err != nil {
			return nil, fmt.Errorf("register transfer sweeper metric: %w", err)
		}
	}
	return w, nil
}

// sweep is one round of the loop.
func (w *TransferSweeper) sweep(ctx context.Context) {
	n, err := w.p.Service.SweepTransfers(ctx, w.p.Limit)
	w.lost.Add(float64(n))
	if err != nil && ctx.Err() == nil {
		w.log.Warn().Err(err).Msg("sweep pending transfers")
	}
}

package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotlined/hotlined/internal/tickloop"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// The live alert feed (GET /v1/stream/alerts).
//
// Every change to an alert is appended, in the script that makes it, to
// its shard's feed stream (XADD MAXLEN ~ 10,000). One Feed per process
// reads the streams every Interval and hands each entry to its
// subscribers. A subscriber's position is a cursor: the last entry id it
// got of every shard. Each event it receives carries the cursor after it as
// its SSE id, so a client that reconnects with Last-Event-ID gets exactly
// the entries after it, read back from Redis by whichever daemon it
// reaches. Entries of one shard arrive in stream order; shards interleave.
//
// A subscriber that falls Buffer events behind (a client that stopped
// reading) is dropped: the feed never waits for one. Its client reconnects
// with its Last-Event-ID and catches up from Redis.

// FeedEvent is one event of the feed.
type FeedEvent struct {
	// ID is the subscriber's cursor after this event: the SSE id.
	ID string
	// Type is hotline.alert.raised, .acked or .resolved, or FeedReset.
	Type string
	// Data is the alert's JSON (for FeedReset, the reason).
	Data []byte
}

// FeedReset is the type of the event sent instead of a catch-up that is
// impossible: the Last-Event-ID is unknown, or what followed it was trimmed
// from the bounded stream. The client should reload GET /v1/alerts.
const FeedReset = "reset"

// Errors that end a subscription.
var (
	ErrSlowSubscriber = errors.New("alert feed: subscriber too slow, dropped")
	ErrFeedStopped    = errors.New("alert feed: stopped")
)

// FeedParams configures a Feed.
type FeedParams struct {
	Store  *Store
	Logger zerolog.Logger
	// Interval between reads of the streams (default 100ms): the feed's
	// latency.
	Interval time.Duration
	// Buffer is how many events a subscriber may fall behind before it is
	// dropped (default 1,024).
	Buffer int
	// MaxCatchUp bounds the events replayed to a reconnecting client
	// (default 10,000); past it the client gets a reset.
	MaxCatchUp int
}

// Feed fans the alert feed streams out to SSE subscribers.
type Feed struct {
	p     FeedParams
	mu    sync.Mutex
	pos   []streamID // what the feed has read of each shard's stream
	subs  map[*Subscription]struct{}
	state int           // 0 new, 1 running, 2 stopped
	loop  tickloop.Loop // follows the streams every Interval
}

// NewFeed checks params and fills defaults.
func NewFeed(p FeedParams) (*Feed, error) {
	if p.Store == nil {
		return nil, errors.New("new feed: Store is required")
	}
	if p.Interval <= 0 {
		p.Interval = 100 * time.Millisecond
	}
	if p.Buffer <= 0 {
		p.Buffer = 1024
	}
	if p.MaxCatchUp <= 0 {
		p.MaxCatchUp = 10_000
	}
	p.Logger = p.Logger.With().Str("component", "alert_feed").Logger()
	f := &Feed{p: p, subs: map[*Subscription]struct{}{}}
	f.loop = tickloop.New("alert feed", p.Interval, func(ctx context.Context) {
		if err := f.poll(ctx); err != nil && ctx.Err() == nil {
			f.p.Logger.Warn().Err(err).Msg("read alert feed streams; retrying")
		}
	})
	return f, nil
}

// Start reads where each stream ends, then follows them until Shutdown.
func (f *Feed) Start(ctx context.Context) error {
	pos, err := f.tails(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.pos, f.state = pos, 1
	f.mu.Unlock()
	return f.loop.Start(ctx)
}

// Shutdown stops reading and ends every subscription (their handlers
// return, so the HTTP server can shut down).
func (f *Feed) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.state = 2
	for sub := range f.subs {
		f.dropLocked(sub, ErrFeedStopped)
	}
	f.mu.Unlock()
	return f.loop.Shutdown(ctx)
}

// Subscribers is the number of live subscriptions.
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Subscribe starts a subscription. lastEventID is the client's
// Last-Event-ID: "" starts at the current end of the feed; an id the feed
// gave replays every event after it first.
func (f *Feed) Subscribe(ctx context.Context, lastEventID string) (*Subscription, error) {
	sub := &Subscription{feed: f, ch: make(chan feedEntry, f.p.Buffer)}
	f.mu.Lock()
	if f.state != 1 {
		f.mu.Unlock()
		return nil, ErrFeedStopped
	}
	head := append([]streamID(nil), f.pos...)
	f.subs[sub] = struct{}{} // from here on, every entry after head reaches sub.ch
	f.mu.Unlock()

	sub.cursor = head
	if lastEventID == "" {
		return sub, nil
	}
	from, ok := parseCursor(lastEventID, len(head))
	if !ok {
		sub.reset("Last-Event-ID is not an id of this feed")
		return sub, nil
	}
	backlog, reason, err := f.catchUp(ctx, from, head)
	if err != nil {
		sub.Close()
		return nil, err
	}
	if reason != "" {
		sub.reset(reason)
		return sub, nil
	}
	sub.cursor, sub.pending = from, backlog
	return sub, nil
}

// Subscription is one client's view of the feed. Next is for one
// goroutine; Close for any.
type Subscription struct {
	feed    *Feed
	ch      chan feedEntry
	cursor  []streamID
	pending []feedEntry // catch-up, before the live entries
	reason  error       // why ch was closed; written before the close
	closed  bool        // under feed.mu
}

// Next returns the next event, waiting for it until ctx ends. A dropped
// or stopped subscription returns ErrSlowSubscriber or ErrFeedStopped.
func (s *Subscription) Next(ctx context.Context) (FeedEvent, error) {
	for {
		var e feedEntry
		if len(s.pending) > 0 {
			e, s.pending = s.pending[0], s.pending[1:]
		} else {
			select {
			case <-ctx.Done():
				return FeedEvent{}, ctx.Err()
			case got, ok := <-s.ch:
				if !ok {
					return FeedEvent{}, s.reason
				}
				e = got
			}
		}
		if e.typ == FeedReset {
			return FeedEvent{ID: encodeCursor(s.cursor), Type: FeedReset, Data: e.data}, nil
		}
		if !s.cursor[e.shard].less(e.id) {
			continue // delivered already (catch-up overlapping the live entries)
		}
		s.cursor[e.shard] = e.id
		return FeedEvent{ID: encodeCursor(s.cursor), Type: e.typ, Data: e.data}, nil
	}
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	s.feed.dropLocked(s, ErrFeedStopped)
}

func (s *Subscription) reset(reason string) {
	data, _ := json.Marshal(map[string]string{"reason": reason})
	s.pending = []feedEntry{{typ: FeedReset, data: data}}
}

func (f *Feed) dropLocked(sub *Subscription, reason error) {
	if sub.closed {
		return
	}
	sub.closed, sub.reason = true, reason
	delete(f.subs, sub)
	close(sub.ch)
}

// feedEntry is one entry of a shard's feed stream.
type feedEntry struct {
	shard int
	id    streamID
	typ   string
	data  []byte
}

// tails reads the last entry id of every stream.
func (f *Feed) tails(ctx context.Context) ([]streamID, error) {
	st := f.p.Store
	cmds := make([]*redis.XMessageSliceCmd, st.Shards())
	_, err := st.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for shard := range cmds {
			cmds[shard] = pipe.XRevRangeN(ctx, st.FeedKey(shard), "+", "-", 1)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alert feed: read stream ends: %w", err)
	}
	pos := make([]streamID, len(cmds))
	for shard, c := range cmds {
		if msgs := c.Val(); len(msgs) > 0 {
			pos[shard], _ = parseStreamID(msgs[0].ID)
		}
	}
	return pos, nil
}

// poll reads what was added to the streams since the last poll and hands
// it to the subscribers, in id order across shards.
func (f *Feed) poll(ctx context.Context) error {
	st := f.p.Store
	f.mu.Lock()
	from := append([]streamID(nil), f.pos...)
	f.mu.Unlock()
	cmds := make([]*redis.XMessageSliceCmd, len(from))
	_, err := st.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for shard := range cmds {
			cmds[shard] = pipe.XRangeN(ctx, st.FeedKey(shard), "("+from[shard].String(), "+", 1000)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var entries []feedEntry
	for shard, c := range cmds {
		for _, m := range c.Val() {
			e, ok := entryOf(shard, m)
			if ok {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) == 0 {
		return nil
	}
	sortEntries(entries)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != 1 {
		return nil
	}
	for _, e := range entries {
		if !f.pos[e.shard].less(e.id) {
			continue
		}
		f.pos[e.shard] = e.id
		for sub := range f.subs {
			select {
			case sub.ch <- e:
			default:
				f.dropLocked(sub, ErrSlowSubscriber)
				f.p.Logger.Warn().Int("buffer", f.p.Buffer).Msg("alert feed subscriber fell behind and was dropped; it can reconnect with Last-Event-ID")
			}
		}
	}
	return nil
}

// catchUp reads the entries after from up to head. It returns a reason
// instead when they cannot all be had: trimmed from a stream, or too many.
func (f *Feed) catchUp(ctx context.Context, from, head []streamID) ([]feedEntry, string, error) {
	st := f.p.Store
	var entries []feedEntry
	for shard := range from {
		if !from[shard].less(head[shard]) {
			continue
		}
		info, err := st.rdb.XInfoStream(ctx, st.FeedKey(shard)).Result()
		if err != nil && strings.Contains(err.Error(), "no such key") {
			return nil, "the feed was emptied", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("alert feed: catch up: %w", err)
		}
		// Trimming removes the oldest entries: if any went and the cursor is
		// before the first one left, some it had not seen may have gone
		// (a reset when it had in fact seen them all is harmless).
		// max-deleted-entry-id covers entries removed by XDEL.
		first, _ := parseStreamID(info.FirstEntry.ID)
		deleted, _ := parseStreamID(info.MaxDeletedEntryID)
		if (info.EntriesAdded > info.Length && from[shard].less(first)) || from[shard].less(deleted) {
			return nil, "events after Last-Event-ID were trimmed from the feed", nil
		}
		msgs, err := st.rdb.XRangeN(ctx, st.FeedKey(shard), "("+from[shard].String(), head[shard].String(),
			int64(f.p.MaxCatchUp-len(entries)+1)).Result()
		if err != nil {
			return nil, "", fmt.Errorf("alert feed: catch up: %w", err)
		}
		for _, m := range msgs {
			if e, ok := entryOf(shard, m); ok {
				entries = append(entries, e)
			}
		}
		if len(entries) > f.p.MaxCatchUp {
			return nil, fmt.Sprintf("more than %d events since Last-Event-ID", f.p.MaxCatchUp), nil
		}
	}
	sortEntries(entries)
	return entries, "", nil
}

func entryOf(shard int, m redis.XMessage) (feedEntry, bool) {
	id, ok := parseStreamID(m.ID)
	typ, _ := m.Values["type"].(string)
	data, _ := m.Values["data"].(string)
	return feedEntry{shard: shard, id: id, typ: typ, data: []byte(data)}, ok && typ != "" && data != ""
}

func sortEntries(entries []feedEntry) {
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.id != b.id {
			return a.id.less(b.id)
		}
		return a.shard < b.shard
	})
}

// streamID is a Redis stream entry id, ms-seq.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return streamID{ms, seq}, err1 == nil && err2 == nil
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

// encodeCursor writes a cursor as the stream ids of the shards in order,
// comma-separated: "1773040000123-0,0-0,...".
func encodeCursor(c []streamID) string {
	var b strings.Builder
	for i, id := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id.String())
	}
	return b.String()
}

func parseCursor(s string, shards int) ([]streamID, bool) {
	parts := strings.Split(s, ",")
	if len(parts) != shards || len(s) > shards*42 {
		return nil, false
	}
	out := make([]streamID, shards)
	for i, p := range parts {
		id, ok := parseStreamID(p)
		if !ok {
			return nil, false
		}
		out[i] = id
	}
	return out, true
}

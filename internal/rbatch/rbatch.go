// Package rbatch runs a group of Redis writes as one server-side script
// behind guards: a compare-and-set over several keys in one round trip.
//
// It replaces the optimistic WATCH/MULTI/EXEC transaction (four or five
// round trips: WATCH, the reads, MULTI…EXEC, UNWATCH) on the contact path.
// The caller reads what it decides on (one round trip, or nothing), decides
// in Go, then sends one Batch: guards that say what it read ("this key is
// absent", "this key's digest is still D") and the writes, recorded from
// the same go-redis Pipeliner calls a MULTI would have queued. The batch
// script checks every guard and, only when all hold, runs every write; a
// guard that fails writes nothing and Run returns a *Conflict, so the
// caller reads again and decides again.
//
// Writes that are themselves scripts (EVAL of a script made by NewScript)
// run inside the batch script as Lua functions: the batch script is built
// from every script registered with NewScript, so register them at package
// initialisation (package-level vars), before the first Run.
//
// Redis Cluster: every key a batch touches must share one hash slot (one
// hash tag); Record and the guards refuse a key of another tag, and a
// command whose keys Record cannot name, so a batch never splits, and
// every key is declared in KEYS.
//
// A batch that ran also marks a key of its own (its nonce, in the batch's
// slot, for NonceTTL) with its outcome: go-redis sends a script call again
// when the connection dropped before the reply, and that second run finds
// the mark first and answers the same outcome without running anything
// again (not a Conflict with its own writes).
package rbatch

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// registry is every script made by NewScript, by source.
var registry = struct {
	sync.Mutex
	index   map[string]int // source -> position in sources
	sources []string
	script  *redis.Script // the batch script over sources; rebuilt when one is added
}{index: map[string]int{}}

// NewScript returns redis.NewScript(src) and registers src so that an EVAL
// of it recorded in a Batch runs inside the batch script. The source must
// follow Redis's script rules (no globals) and read its input only from
// KEYS and ARGV; it runs there as a function of those two tables.
func NewScript(src string) *redis.Script {
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.index[src]; !ok {
		registry.index[src] = len(registry.sources)
		registry.sources = append(registry.sources, src)
		registry.script = nil
	}
	return redis.NewScript(src)
}

// position is where src stands among the registered scripts.
func position(src string) (int, bool) {
	registry.Lock()
	defer registry.Unlock()
	pos, ok := registry.index[src]
	return pos, ok
}

// DigestLua defines the Lua function digest(key) that guards compare: ""
// when key does not exist; for a string the SHA-1 (hex) of its value (what
// StringDigest computes); for a hash, set or sorted set the SHA-1 of its
// members (and values or scores), each with its length before it, in a
// canonical order (byte order for hashes and sets, score order for sorted
// sets); any other type is an error reply (a guard on it could not see a
// change; Run returns the error). A script that reads
// what a caller will guard on includes it and returns digest(key) with the
// data, so the caller needs no second read to build its guard.
const DigestLua = `
local function digest(key)
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then return '' end
  if t == 'string' then return redis.sha1hex(redis.call('GET', key)) end
  local parts = {}
  if t == 'hash' then
    local all = redis.call('HGETALL', key)
    for i = 1, #all, 2 do parts[#parts + 1] = #all[i] .. ':' .. all[i] .. #all[i + 1] .. ':' .. all[i + 1] end
    table.sort(parts)
  elseif t == 'zset' then
    local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    for i = 1, #all do parts[i] = #all[i] .. ':' .. all[i] end
  elseif t == 'set' then
    for _, m in ipairs(redis.call('SMEMBERS', key)) do parts[#parts + 1] = #m .. ':' .. m end
    table.sort(parts)
  else
    return redis.error_reply('rbatch: no digest of a ' .. t .. ' (' .. key .. ')')
  end
  return t .. ':' .. redis.sha1hex(table.concat(parts))
end
`

// StringDigest is digest(key) of a string key holding value: the SHA-1 of
// value in lower-case hex.
func StringDigest(value []byte) string {
	h := sha1.Sum(value)
	return hex.EncodeToString(h[:])
}

// batchBody is the script every Batch runs: the guards, then the writes.
//
// KEYS: every key the batch touches (one hash slot), the nonce last.
// ARGV[1] the nonce key, ARGV[2] the number of guards, ARGV[3] how long
// the nonce is kept (ms); per guard: kind
// ("a": key absent, "d": its digest equals), key, expected digest; then
// per write: kind ("c": a command, else the position of a registered
// script), item count, items (a command's name and arguments; a script's
// key count, keys, arguments).
// A nonce already marked means this very batch ran before (a client's
// retry): nothing runs again and its outcome is answered again ({"ok", 1},
// or its first failure as an error reply). Otherwise it returns {"ok", 0};
// {"conflict", n} for the first guard n (from 1) that failed (nothing
// written); the error reply of a digest that cannot be taken. Every write
// runs even when an earlier one fails, as in a MULTI; the first failure
// is marked on the nonce and returned as an error reply.
const batchBody = `
local done = redis.call('GET', ARGV[1])
if done then
  if done == 'ok' then return {'ok', 1} end
  return redis.error_reply(done)
end
local i = 4
for g = 1, tonumber(ARGV[2]) do
  local kind, key, want = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local holds
  if kind == 'a' then
    holds = redis.call('EXISTS', key) == 0
  else
    local d = digest(key)
    if type(d) == 'table' then return d end
    holds = d == want
  end
  if not holds then return {'conflict', g} end
end
local failed = nil
while i <= #ARGV do
  local kind, n = ARGV[i], tonumber(ARGV[i + 1])
  local items = {}
  for k = 1, n do items[k] = ARGV[i + 1 + k] end
  i = i + 2 + n
  local r
  if kind == 'c' then
    r = redis.pcall(unpack(items))
  else
    local nk = tonumber(items[1])
    local keys, args = {}, {}
    for k = 1, nk do keys[k] = items[1 + k] end
    for k = nk + 2, n do args[#args + 1] = items[k] end
    local ok, res = pcall(scripts[tonumber(kind)], keys, args)
    if ok then
      r = res
    elseif type(res) == 'table' and res['err'] then
      r = res
    else
      r = {err = tostring(res)}
    end
  end
  if failed == nil and type(r) == 'table' and r['err'] then failed = r end
end
if failed then
  redis.call('SET', ARGV[1], tostring(failed['err']), 'PX', ARGV[3])
  return failed
end
redis.call('SET', ARGV[1], 'ok', 'PX', ARGV[3])
return {'ok', 0}
`

// script returns the batch script over the registered scripts.
func script() *redis.Script {
	registry.Lock()
	defer registry.Unlock()
	if registry.script == nil {
		var b strings.Builder
		b.WriteString(DigestLua)
		b.WriteString("local scripts = {}\n")
		for i, src := range registry.sources {
			fmt.Fprintf(&b, "scripts[%d] = function(KEYS, ARGV)\n%s\nend\n", i, src)
		}
		b.WriteString(batchBody)
		registry.script = redis.NewScript(b.String())
	}
	return registry.script
}

// Batch is a set of guards and the writes they protect, all in one hash
// slot. The zero Batch is empty; a Batch is not safe for concurrent use.
type Batch struct {
	tag    string
	keys   []string
	seen   map[string]bool
	guards []any
	ng     int
	ops    []any
	err    error
	nonce  string // the key marking the batch done, made by the first Run
}

// Absent guards that key does not exist when the batch runs.
func (b *Batch) Absent(key string) {
	b.guard("a", key, "")
}

// Digest guards that digest(key) (DigestLua; "" when absent) is still
// digest when the batch runs.
func (b *Batch) Digest(key, digest string) {
	b.guard("d", key, digest)
}

func (b *Batch) guard(kind, key, want string) {
	b.key(key)
	b.guards = append(b.guards, kind, key, want)
	b.ng++
}

// key declares a key of the batch; one of another hash tag is an error of
// the batch (returned by Record and Run).
func (b *Batch) key(k string) {
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if b.seen[k] {
		return
	}
	tag := hashTag(k)
	if len(b.keys) == 0 {
		b.tag = tag
	} else if tag != b.tag && b.err == nil {
		b.err = fmt.Errorf("rbatch: key %q is outside the batch's hash slot {%s}", k, b.tag)
	}
	b.seen[k] = true
	b.keys = append(b.keys, k)
}

// hashTag is what Redis Cluster hashes of key: the first non-empty {…}
// part, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// keyAt says where the keys of the commands a batch may hold stand: 1,
// the first argument only; -1, every argument; 0, none. A command not
// named here is refused by Record: its keys could not be checked against
// the batch's slot.
var keyAt = map[string]int{
	"set": 1, "get": 1, "incr": 1, "incrby": 1, "pexpire": 1, "expire": 1, "persist": 1,
	"hset": 1, "hdel": 1, "hincrby": 1, "sadd": 1, "srem": 1,
	"zadd": 1, "zrem": 1, "zremrangebyscore": 1, "xadd": 1, "xtrim": 1,
	"rpush": 1, "lpush": 1, "ltrim": 1,
	"del": -1, "unlink": -1, "exists": -1,
	"publish": 0,
}

// maxItems is the most items a write may have: Lua's unpack of a longer
// command fails inside the script ("too many results to unpack").
const maxItems = 7900

// Record adds to the batch the commands fn queues on a pipeline, in order,
// without sending them: plain commands, and EVALs of scripts made by
// NewScript (Script.Eval). An EVALSHA, a script not registered, or a key
// outside the batch's slot is an error; so is an error fn returns.
func (b *Batch) Record(ctx context.Context, fn func(pipe redis.Pipeliner) error) error {
	var cmds []redis.Cmder
	rec := recorder()
	ctx = context.WithValue(ctx, recordKey{}, &cmds)
	if _, err := rec.Pipelined(ctx, fn); err != nil {
		return err
	}
	for _, cmd := range cmds {
		args := cmd.Args()
		name := strings.ToLower(cmd.Name())
		if len(args) > maxItems {
			return fmt.Errorf("rbatch: %s with %d arguments: at most %d in a batch", name, len(args), maxItems)
		}
		switch name {
		case "eval":
			src, _ := args[1].(string)
			pos, ok := position(src)
			if !ok {
				return fmt.Errorf("rbatch: an EVAL of a script not made by rbatch.NewScript")
			}
			nk, err := strconv.Atoi(fmt.Sprint(args[2]))
			if err != nil || 3+nk > len(args) {
				return fmt.Errorf("rbatch: EVAL with a bad key count %v", args[2])
			}
			for _, k := range args[3 : 3+nk] {
				b.key(fmt.Sprint(k))
			}
			b.ops = append(b.ops, strconv.Itoa(pos), len(args)-2)
			b.ops = append(b.ops, args[2:]...)
		default:
			at, ok := keyAt[name]
			switch {
			case !ok:
				return fmt.Errorf("rbatch: %s cannot be recorded in a batch (its keys are not known to rbatch)", name)
			case at == -1:
				for _, k := range args[1:] {
					b.key(fmt.Sprint(k))
				}
			case at == 1 && len(args) > 1:
				b.key(fmt.Sprint(args[1]))
			}
			b.ops = append(b.ops, "c", len(args))
			b.ops = append(b.ops, args...)
		}
	}
	return b.err
}

// NonceTTL is how long a batch's nonce keeps its outcome: longer than
// go-redis takes to give up on one call (3 retries of at most its 3 s read
// timeout, with backoff), short enough that a busy daemon's nonces stay
// few (at 6,000 batches/s, 90,000 keys of about 60 bytes).
const NonceTTL = 15 * time.Second

// Conflict is the error of a batch whose guard failed: nothing was
// written. Guard is the guard's position, from 1.
type Conflict struct{ Guard int }

func (c *Conflict) Error() string {
	return fmt.Sprintf("rbatch: guard %d no longer holds: nothing written", c.Guard)
}

// IsConflict reports whether err is (or wraps) a *Conflict.
func IsConflict(err error) bool {
	var c *Conflict
	return errors.As(err, &c)
}

// Run sends the batch as one script call (EVALSHA, EVAL when the server
// has not seen it): every guard is checked, then, when all hold, every
// write runs, atomically. A failed guard returns a *Conflict and writes
// nothing. Every write runs even when one before it failed (a Redis error
// reply, an error of a registered script), as in a MULTI; the first
// failure comes back. A batch runs once: a call sent again within NonceTTL
// (a retry of the client after a dropped connection, or Run called again)
// finds its nonce and answers the first run's outcome without writing
// again. Do not change a Batch after its Run.
func (b *Batch) Run(ctx context.Context, c redis.Scripter) error {
	if b.err != nil {
		return b.err
	}
	if len(b.ops) == 0 && b.ng == 0 {
		return nil
	}
	if b.nonce == "" {
		var r [12]byte
		_, _ = rand.Read(r[:]) // never fails (crypto/rand)
		b.nonce = b.nonceKey(hex.EncodeToString(r[:]))
		if b.nonce == "" {
			return fmt.Errorf("rbatch: no key of the hash slot of %q can mark the batch", b.keys[0])
		}
	}
	s := script()
	args := make([]any, 0, 2+len(b.guards)+len(b.ops))
	args = append(args, b.nonce, b.ng, NonceTTL.Milliseconds())
	args = append(args, b.guards...)
	args = append(args, b.ops...)
	res, err := s.Run(ctx, c, append(slices.Clip(b.keys), b.nonce), args...).Slice()
	if err != nil {
		return err
	}
	if len(res) == 2 && res[0] == "conflict" {
		n, _ := res[1].(int64)
		return &Conflict{Guard: int(n)}
	}
	return nil
}

// nonceKey is the key that marks this batch done: beside the batch's
// first key, in its hash tag ("" when no such key can be made).
func (b *Batch) nonceKey(nonce string) string {
	first := b.keys[0]
	if i := strings.IndexByte(first, '{'); i >= 0 {
		if j := strings.IndexByte(first[i+1:], '}'); j > 0 {
			return first[:i+1+j+1] + ":rbatch:" + nonce
		}
	}
	if k := "{" + b.tag + "}:rbatch:" + nonce; hashTag(k) == b.tag {
		return k
	}
	return ""
}

// recordKey carries, in a context, where the recorder puts what it saw.
type recordKey struct{}

var (
	recOnce sync.Once
	rec     *redis.Client
)

// recorder is a client that never connects: its pipeline hook hands the
// queued commands to the slice in the context and sends nothing.
func recorder() *redis.Client {
	recOnce.Do(func() {
		rec = redis.NewClient(&redis.Options{Addr: "rbatch.invalid:0"})
		rec.AddHook(recordHook{})
	})
	return rec
}

type recordHook struct{}

func (recordHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, errors.New("rbatch: the recorder does not connect")
	}
}

func (recordHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return errors.New("rbatch: the recorder only records pipelines")
	}
}

func (recordHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		out, ok := ctx.Value(recordKey{}).(*[]redis.Cmder)
		if !ok {
			return errors.New("rbatch: recorder used outside Record")
		}
		*out = append(*out, cmds...)
		return nil
	}
}

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
// hash tag); Record and the guards refuse a key of another tag, so a batch
// never splits, and every key is declared in KEYS.
package rbatch

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

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

// DigestLua defines the Lua function digest(key) that guards compare: ""
// when key does not exist; for a string the SHA-1 (hex) of its value (what
// StringDigest computes); for a hash, set or sorted set the SHA-1 of its
// members (and values or scores) in a canonical order. A script that reads
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
    for i = 1, #all, 2 do parts[#parts + 1] = all[i] .. '\0' .. all[i + 1] end
    table.sort(parts)
  elseif t == 'zset' then
    parts = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  elseif t == 'set' then
    parts = redis.call('SMEMBERS', key)
    table.sort(parts)
  else
    parts = {t, tostring(redis.call('PTTL', key))}
  end
  return t .. ':' .. redis.sha1hex(table.concat(parts, '\1'))
end
`

// StringDigest is digest(key) of a string key holding value: the SHA-1 of
// value in lower-case hex.
func StringDigest(value []byte) string {
	h := sha1.Sum(value)
	return hex.EncodeToString(h[:])
}

// batchScript is the script every Batch runs: the guards, then the writes.
//
// KEYS: every key the batch touches (one hash slot), for Redis Cluster.
// ARGV[1] the number of guards; per guard: kind ("a": key absent, "d": its
// digest equals), key, expected digest; then per write: kind ("c": a
// command, else the position of a registered script), item count, items
// (a command's name and arguments; a script's key count, keys, arguments).
// Returns {"ok", 0}, or {"conflict", n} for the first guard n (from 1)
// that failed (nothing written), or a registered script's error reply.
const batchBody = `
local i = 2
for g = 1, tonumber(ARGV[1]) do
  local kind, key, want = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if kind == 'a' then
    if redis.call('EXISTS', key) == 1 then return {'conflict', g} end
  elseif digest(key) ~= want then
    return {'conflict', g}
  end
end
while i <= #ARGV do
  local kind, n = ARGV[i], tonumber(ARGV[i + 1])
  local items = {}
  for k = 1, n do items[k] = ARGV[i + 1 + k] end
  i = i + 2 + n
  if kind == 'c' then
    redis.call(unpack(items))
  else
    local nk = tonumber(items[1])
    local keys, args = {}, {}
    for k = 1, nk do keys[k] = items[1 + k] end
    for k = nk + 2, n do args[#args + 1] = items[k] end
    local r = scripts[tonumber(kind)](keys, args)
    if type(r) == 'table' and r['err'] then return r end
  end
end
return {'ok', 0}
`

// script returns the batch script over the registered scripts.
func script() (*redis.Script, map[string]int) {
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
	return registry.script, registry.index
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

// Guards is the number of guards, in the order they were added (a
// Conflict names one by its position, from 1).
func (b *Batch) Guards() int { return b.ng }

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool { return len(b.ops) == 0 }

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

// keyless are the commands whose arguments hold no key.
var keyless = map[string]bool{"publish": true}

// allKeys are the commands whose every argument is a key.
var allKeys = map[string]bool{"del": true, "unlink": true, "exists": true}

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
	_, index := script()
	for _, cmd := range cmds {
		args := cmd.Args()
		name := strings.ToLower(cmd.Name())
		switch name {
		case "eval":
			src, _ := args[1].(string)
			pos, ok := index[src]
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
		case "evalsha", "evalsha_ro", "eval_ro", "multi", "exec", "watch":
			return fmt.Errorf("rbatch: %s cannot be recorded in a batch", name)
		default:
			switch {
			case keyless[name]:
			case allKeys[name]:
				for _, k := range args[1:] {
					b.key(fmt.Sprint(k))
				}
			case len(args) > 1:
				b.key(fmt.Sprint(args[1]))
			}
			b.ops = append(b.ops, "c", len(args))
			b.ops = append(b.ops, args...)
		}
	}
	return b.err
}

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
// nothing; an error of Redis or of a registered script comes back as it
// is (the writes before it stay written, as in a MULTI).
func (b *Batch) Run(ctx context.Context, c redis.Scripter) error {
	if b.err != nil {
		return b.err
	}
	if len(b.ops) == 0 && b.ng == 0 {
		return nil
	}
	s, _ := script()
	args := make([]any, 0, 1+len(b.guards)+len(b.ops))
	args = append(args, b.ng)
	args = append(args, b.guards...)
	args = append(args, b.ops...)
	res, err := s.Run(ctx, c, b.keys, args...).Slice()
	if err != nil {
		return err
	}
	if len(res) == 2 && res[0] == "conflict" {
		n, _ := res[1].(int64)
		return &Conflict{Guard: int(n)}
	}
	return nil
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

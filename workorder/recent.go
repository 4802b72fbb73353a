package workorder

import (
	"container/list"
	"sync"
)

// recentOrders remembers, least recently used out first, the orders this
// process last wrote or read, as stored (the JSON bytes), up to a byte
// budget. An update starts from the remembered copy instead of reading
// the order: one round trip instead of two. The copy is only a guess: the
// update's write is guarded by the digest of what it started from, so a
// copy gone stale (another daemon's write, a purge) makes the write fail
// whole, the copy is forgotten, and the update reads and tries again.
type recentOrders struct {
	mu     sync.Mutex
	budget int // bytes
	used   int
	byID   map[string]*list.Element
	lru    list.List // of *recentOrder, most recent first
}

type recentOrder struct {
	id   string
	data []byte
}

// recentBudget is the memory the remembered orders may take: about
// 10,000 orders of a few KB (urges no longer grow one without bound).
const recentBudget = 32 << 20

func newRecentOrders(budget int) *recentOrders {
	return &recentOrders{budget: budget, byID: map[string]*list.Element{}}
}

// get returns the remembered copy of id (not to be modified), if any.
func (r *recentOrders) get(id string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[id]
	if !ok {
		return nil, false
	}
	r.lru.MoveToFront(e)
	return e.Value.(*recentOrder).data, true
}

// put remembers data as the stored copy of id; data must not change
// afterwards. An order larger than a sixteenth of the budget is not kept.
func (r *recentOrders) put(id string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropLocked(id)
	if len(data) > r.budget/16 {
		return
	}
	r.byID[id] = r.lru.PushFront(&recentOrder{id: id, data: data})
	r.used += len(data)
	for r.used > r.budget {
		r.dropLocked(r.lru.Back().Value.(*recentOrder).id)
	}
}

// drop forgets id.
func (r *recentOrders) drop(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropLocked(id)
}

func (r *recentOrders) dropLocked(id string) {
	if e, ok := r.byID[id]; ok {
		r.used -= len(e.Value.(*recentOrder).data)
		r.lru.Remove(e)
		delete(r.byID, id)
	}
}

package workorder

import (
	"bytes"
	"fmt"
	"testing"
)

// The remembered orders stay within their byte budget, least recently used
// out first; an order too large for it is not kept; drop forgets.
func TestRecentOrders(t *testing.T) {
	r := newRecentOrders(1000)
	for i := range 10 {
		r.put(fmt.Sprintf("o%d", i), bytes.Repeat([]byte{'x'}, 50)) // 500 bytes in all
	}
	r.get("o0") // o0 is now the most recent
	for i := 10; i < 20; i++ {
		r.put(fmt.Sprintf("o%d", i), bytes.Repeat([]byte{'y'}, 60)) // pushes 600 more
	}
	if r.used > 1000 {
		t.Errorf("%d bytes kept, budget 1000", r.used)
	}
	if _, ok := r.get("o0"); !ok {
		t.Error("the most recently used early order was evicted")
	}
	if _, ok := r.get("o1"); ok {
		t.Error("the least recently used order is still kept")
	}
	if d, ok := r.get("o19"); !ok || len(d) != 60 {
		t.Error("the newest order is not kept")
	}
	r.put("big", bytes.Repeat([]byte{'z'}, 1000/16+1))
	if _, ok := r.get("big"); ok {
		t.Error("an order over a sixteenth of the budget is kept")
	}
	r.put("o19", []byte("new"))
	if d, _ := r.get("o19"); string(d) != "new" {
		t.Errorf("o19 = %q after a new put", d)
	}
	r.drop("o19")
	if _, ok := r.get("o19"); ok {
		t.Error("a dropped order is still kept")
	}
	sum := 0
	for _, e := range r.byID {
		sum += len(e.Value.(*recentOrder).data)
	}
	if sum != r.used || len(r.byID) != r.lru.Len() {
		t.Errorf("accounting: used %d, sum %d, %d ids, %d in the list", r.used, sum, len(r.byID), r.lru.Len())
	}
}

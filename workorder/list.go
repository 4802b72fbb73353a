package workorder

import (
	"context"
	"errors"
)

// Filter narrows a listing; empty fields match anything.
type Filter struct {
	Status, Class, Province string
}

// List returns orders that pass f, newest first: a customer's (number set)
// or, without a number, those in f.Status across all shards.
func (s *Service) List(ctx context.Context, number string, f Filter) ([]*Order, error) {
	keep := func(o *Order) bool {
		return (f.Status == "" || o.Status == f.Status) && (f.Class == "" || o.Class == f.Class) &&
			(f.Province == "" || o.Province == f.Province)
	}
	if number == "" {
		if f.Status == "" {
			return nil, ErrListNeedsKey
		}
		return s.store.ListByStatus(ctx, f.Status, MaxList, keep)
	}
	all, err := s.store.ListByCustomer(ctx, number, MaxList)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, o := range all {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// ErrListNeedsKey: a listing needs a service number or a status.
var ErrListNeedsKey = errors.New("a service number or a status is required")

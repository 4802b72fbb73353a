package workorder

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hotlined/hotlined/queue"
)

func (s *Service) event(typ string, o *Order, now time.Time) (queue.Event, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return queue.Event{}, fmt.Errorf("encode work order: %w", err)
	}
	topics := s.router.Topics(queue.Attrs{Tier: o.Tier, Class: o.Class, Category: o.Category,
		Subcategory: o.Subcategory, Province: o.Province})
	if len(topics) == 0 {
		return queue.Event{}, fmt.Errorf("work order %s: no kafka route matches tier %s class %s", o.ID, o.Tier, o.Class)
	}
	return queue.Event{
		ID: s.eventID(), Type: typ, Source: s.source, Subject: o.ID, Time: now,
		Key: o.Key(), Topics: topics, Data: data,
	}, nil
}

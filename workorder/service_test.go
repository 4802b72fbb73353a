package workorder_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

func TestTransitionTable(t *testing.T) {
	legal := map[[2]string]bool{
		{"new", "accepted"}: true, {"new", "in_progress"}: true, {"new", "resolved"}: true,
		{"accepted", "in_progress"}: true, {"accepted", "pending_customer"}: true, {"accepted", "resolved"}: true,
		{"in_progress", "pending_customer"}: true, {"in_progress", "resolved"}: true,
		{"pending_customer", "in_progress"}: true, {"pending_customer", "resolved"}: true,
		{"resolved", "archived"}: true, {"resolved", "reopened"}: true,
		{"reopened", "accepted"}: true, {"reopened", "in_progress"}: true, {"reopened", "pending_customer"}: true,
		{"reopened", "resolved"}: true,
	}
	for _, from := range configs.Statuses {
		for _, to := range configs.Statuses {
			if got := workorder.CanTransition(from, to); got != legal[[2]string{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v", from, to, got)
			}
		}
	}
}

func TestChangeStatusMovesTimersAndOpensRepeatWindow(t *testing.T) {
	r := testenv.StartRedis(t)
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	outbox := queue.NewOutbox("t", 4)
	timers := escalation.NewStore(r.Client, "t", 4, outbox)
	store := workorder.NewStore(r.Client, "t", 4, outbox, timers)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, cfg.Location)
	svc := workorder.NewService(workorder.ServiceParams{Store: store, Router: queue.NewRouter(cfg.Kafka.Routes),
		Config: cfg, Now: func() time.Time { return now }, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
	ctx := context.Background()

	o, err := svc.Create(ctx, workorder.Intake{Hotline: "10000", Tier: "province", Province: "GD",
		Caller: "18912345678", ServiceNumber: "18912345678", IVRPath: "41",
		Leaf: configs.Leaf{Category: "complaint", Subcategory: "billing", CollectServiceNumber: true}})
	if err != nil {
		t.Fatal(err)
	}
	ids := func() []string {
		var out []string
		for stage := range o.Deadlines {
			out = append(out, escalation.TimerID(o.ID, stage))
		}
		return out
	}()
	pending := func() map[string]time.Time {
		p, err := timers.Pending(ctx, store.Shard(o.ID), ids...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if n := len(pending()); n != 5 {
		t.Fatalf("timers after create: %d, want 5", n)
	}

	change := func(status, id string) (*workorder.Order, error) {
		return svc.ChangeStatus(ctx, workorder.StatusChange{WorkOrderID: o.ID, Status: status, Actor: "agent-7", ChangeID: id})
	}
	if _, err := change("accepted", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, held := pending()[escalation.TimerID(o.ID, "register")]; held || len(pending()) != 4 {
		t.Errorf("after accepted: %v, want register cancelled only", pending())
	}
	if _, err := change("in_progress", "c1"); !errors.Is(err, workorder.ErrDuplicate) {
		t.Errorf("same change id again = %v, want ErrDuplicate", err)
	}
	if _, err := change("archived", "c2"); !errors.Is(err, workorder.ErrIllegalTransition) {
		t.Errorf("accepted -> archived = %v, want ErrIllegalTransition", err)
	}
	if _, err := change("closed", "c3"); !errors.Is(err, workorder.ErrUnknownStatus) {
		t.Errorf("unknown status = %v", err)
	}
	if _, err := change("resolved", "c4"); err != nil {
		t.Fatal(err)
	}
	if n := len(pending()); n != 0 {
		t.Errorf("timers after resolved: %d, want 0", n)
	}
	now = now.Add(time.Hour)
	got, err := change("reopened", "c5")
	if err != nil {
		t.Fatal(err)
	}
	if due := pending()[escalation.TimerID(o.ID, "resolve")]; !due.Equal(now.Add(72 * time.Hour)) {
		t.Errorf("resolve timer after reopen due %v, want %v", due, now.Add(72*time.Hour))
	}
	if len(got.History) != 3 || got.History[2].From != "resolved" || got.History[2].Actor != "agent-7" {
		t.Errorf("history %+v", got.History)
	}
	if _, err := change("resolved", "c6"); err != nil {
		t.Fatal(err)
	}
	history := func() []classifier.PastComplaint {
		h, err := store.ComplaintHistory(ctx, "18912345678")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := history(); len(h) != 1 || h[0].ID != o.ID || h[0].Status != "resolved" || !h[0].ClosedAt.Equal(now) {
		t.Errorf("index before archive: %+v", h)
	}
	indexKey := fmt.Sprintf("t:{%d}:svc:18912345678:complaints", store.Shard(o.ID))
	if ttl := r.Client.TTL(ctx, indexKey).Val(); ttl < 30*24*time.Hour || ttl > 32*24*time.Hour {
		t.Errorf("index of a resolved complaint: TTL %v, want 30 days and a slack", ttl)
	}
	now = now.Add(time.Minute)
	if _, err := change("archived", "c7"); !errors.Is(err, workorder.ErrFollowupRequired) {
		t.Fatalf("archived without a follow-up: %v", err)
	}
	if _, err := svc.RecordFollowup(ctx, o.ID, "satisfied", "", "agent-7"); err != nil {
		t.Fatal(err)
	}
	if h := history(); len(h) != 1 || h[0].Status != "archived" || !h[0].ClosedAt.Equal(now) {
		t.Errorf("index after archive: %+v", h)
	}
	if ttl := r.Client.TTL(ctx, indexKey).Val(); ttl < 30*24*time.Hour || ttl > 32*24*time.Hour {
		t.Errorf("repeat window TTL %v, want 30 days and a slack", ttl)
	}
	// created + 5 applied status changes, each one event in the outbox.
	if n, _ := outbox.Depth(ctx, r.Client); n != 6 {
		t.Errorf("outbox depth %d, want 6", n)
	}
	if _, err := svc.ChangeStatus(ctx, workorder.StatusChange{WorkOrderID: "WO-20261123-GD-999999", Status: "accepted"}); !errors.Is(err, workorder.ErrNotFound) {
		t.Errorf("unknown order = %v", err)
	}
}

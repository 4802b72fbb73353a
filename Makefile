# make test: what CI runs. It installs what is missing (scripts/deps.sh),
# checks formatting, vets, runs every Go test with the race detector, then
# the end-to-end run of the real binary against redis-server, SIPp and kcat.

GO ?= go
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: test deps lint unit e2e test-cluster build run clean bench-queue bench-sip

test: deps lint unit e2e test-cluster

deps:
	scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags cluster ./cmd/hotlined
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags cluster ./cmd/hotlined

unit:
	$(GO) test -race -count=1 ./...

e2e: build
	scripts/e2e.sh

# Two daemons behind Kamailio on a Redis Cluster, one SIGKILLed mid-load
# (scripts/cluster.sh).
test-cluster:
	scripts/cluster.sh

build:
	$(GO) build -o bin/hotlined ./cmd/hotlined

# Builds, then runs the binary itself (exec: no go-run parent left holding a
# child), so stopping the PID you started stops the daemon and frees its ports.
run: build
	exec bin/hotlined $(ARGS)

clean:
	rm -rf bin

# BENCHFLAGS adds go test flags to the bench targets of one package, e.g.
# make bench-queue BENCHFLAGS='-cpuprofile=/tmp/queue.cpu' (then go tool pprof).
BENCHFLAGS ?=

# Outbox commit-to-Kafka-ack throughput and latency (BENCHMARKS.md).
bench-queue: deps
	$(GO) test -run='^$$' -bench='BenchmarkOutbox|BenchmarkDirectPublish' -benchtime=5s $(BENCHFLAGS) ./queue

# SIP: highest call rate without failures, hotlined vs a bare sipgo UAS
# (both laddered until they fail), on the INFO-with-prompts and the
# X-IVR-Path paths, 10% of calls from 10 hot numbers; Redis commands per
# order, a profile at the failing rate, memory per call (BENCHMARKS.md).
bench-sip: deps
	scripts/bench-sip.sh

# Contacts classified per second through workorder.Service, every Redis round
# trip included, at 1, 8 and 64 callers, and the pure rules (BENCHMARKS.md).
.PHONY: bench-classifier
bench-classifier: deps
	$(GO) test -run='^$$' -bench='BenchmarkClassify|BenchmarkRulesClassify' -benchtime=5s ./workorder ./classifier

# Timers: Redis memory per live timer and firing lag at 10,000 due/s over
# 1,000,000 live timers: wake-ups, against the 100 ms poll and a scan
# baseline in the same run (BENCHMARKS.md).
.PHONY: bench-escalation
bench-escalation: deps
	$(GO) test -run='^$$' -bench='BenchmarkTimerFiring' -benchtime=1x -timeout=20m $(BENCHFLAGS) ./escalation

# hotlined replay: a synthetic month of 100,000 contacts into redis-server,
# and 10,000 on the embedded Redis (BENCHMARKS.md).
.PHONY: bench-replay
bench-replay: deps
	$(GO) test -run='^$$' -bench='BenchmarkReplayMonth' -benchtime=1x -timeout=60m ./daemon/replay

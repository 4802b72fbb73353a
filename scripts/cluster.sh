#!/usr/bin/env bash
# The multi-daemon test, as an operator deploys hotlined: Debian's Kamailio
# (dispatcher with OPTIONS probing, record-route) in front of two hotlined
# binaries on a 3-master Redis Cluster and one Kafka-protocol broker; one
# daemon is SIGKILLed mid-load. See cmd/hotlined/kamailio_test.go.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kamailio >/dev/null || { echo "cluster: kamailio is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
exec go test -tags cluster -count=1 -run 'TestTwoDaemonsBehindKamailio' -v ./cmd/hotlined/

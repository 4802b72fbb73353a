#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: redis-server and
# redis-tools, SIPp (sip-tester), Kamailio (scripts/cluster.sh), kcat,
# chromium and a CJK font (the browser tests in daemon/ui_test.go check the
# Chinese pages' glyphs), baresip (the softphones of
# daemon/transfer_test.go; baresip-core is the headless part of Debian's
# baresip) and staticcheck. Does nothing when all are there.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools) # redis-cli --cluster create (testenv)
command -v sipp >/dev/null || missing+=(sip-tester)
command -v kamailio >/dev/null || missing+=(kamailio) # scripts/cluster.sh
command -v kcat >/dev/null || missing+=(kcat)
command -v baresip >/dev/null || missing+=(baresip-core)
command -v jq >/dev/null || missing+=(jq)
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/staticcheck" ]; then
  echo "installing staticcheck"
  GOFLAGS= go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
